"""A sampler whose sample order and per-sample augmentation seeds depend only on (seed, epoch, position).

This makes training reproducible regardless of DataLoader worker count and resumable mid-epoch:
restoring (epoch, samples already seen) and calling `ResumableSampler.set_start` continues the
exact same stream of indices and augmentations.
"""
import math
from typing import Iterator, List, Tuple

import torch
from torch.utils.data import Sampler

from util.device import derive_seed
from util.errors import UserError


class ResumableSampler(Sampler):
    """Yields ``(index, sample_seed)`` tuples covering a dataset of ``num_samples`` items once per epoch.

    The order is a permutation seeded by (``seed``, epoch) when ``shuffle`` (sequential otherwise).
    Like `torch.utils.data.DistributedSampler`, the epoch is split across ``world_size`` ranks as
    ``order[rank::world_size]``; without ``drop_last`` the order is padded by repeating its start
    so every rank gets the same count, with ``drop_last`` its tail is dropped so every rank gets
    the same whole number of ``batch_size`` batches. ``sample_seed`` is a 63-bit int derived from
    (``seed``, epoch, position in the epoch's global order), for seeding that sample's augmentation.
    """

    def __init__(self, num_samples: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False, batch_size: int = 1):
        if num_samples < 1:
            raise ValueError(f"ResumableSampler needs at least one sample, got {num_samples}")
        if world_size < 1 or not 0 <= rank < world_size or batch_size < 1:
            raise ValueError(f"invalid rank {rank} / world_size {world_size} / batch_size {batch_size}")
        self.num_samples = num_samples
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        if drop_last:
            self.per_rank = num_samples // (world_size * batch_size) * batch_size
            if self.per_rank == 0:
                raise UserError(f"the dataset has {num_samples} images, fewer than one batch per process "
                                f"(--batch_size {batch_size} x {world_size} processes): "
                                f"reduce --batch_size or add images")
        else:
            self.per_rank = math.ceil(num_samples / world_size)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order is yielded next, starting from its beginning."""
        self.epoch = epoch
        self.start = 0

    def set_start(self, position: int) -> None:
        """Skip the first ``position`` samples of this rank's sequence in the current epoch."""
        if not 0 <= position <= self.per_rank:
            raise ValueError(f"start position {position} is outside this rank's epoch of {self.per_rank} samples")
        self.start = position

    def global_order(self) -> List[int]:
        """Return the current epoch's dataset indices for all ranks (length ``per_rank * world_size``)."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(derive_seed("permutation", self.seed, self.epoch))
            order = torch.randperm(self.num_samples, generator=generator).tolist()
        else:
            order = list(range(self.num_samples))
        total = self.per_rank * self.world_size
        if total > len(order):
            order = (order * math.ceil(total / len(order)))[:total]
        return order[:total]

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        order = self.global_order()
        for local in range(self.start, self.per_rank):
            position = self.rank + local * self.world_size
            yield order[position], derive_seed("sample", self.seed, self.epoch, position)

    def __len__(self) -> int:
        return self.per_rank - self.start
