"""DistributedDataParallel training launched by torchrun: one process per device, on one or many machines.

    torchrun --nproc_per_node=4 train.py --dataroot ... --name ...
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=host0:29400 train.py ...

Without torchrun's environment (WORLD_SIZE unset or 1) everything here is a no-op and train.py runs
as one process on the device chosen by --gpu_ids.
"""
import atexit
import os
import signal
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from util.device import derive_seed, parse_gpu_ids, seed_everything, select_device
from util.errors import UserError


@dataclass
class DistContext:
    """This process's place in the job: `rank` of `world_size` processes, `local_rank` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the process that logs, writes TensorBoard and saves checkpoints (rank 0)."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait until every process gets here (e.g. until rank 0 has written a checkpoint)."""
        if self.is_distributed:
            dist.barrier()

    def average(self, values: Dict[str, float]) -> Dict[str, float]:
        """Mean of each named float over all processes (a collective: every rank must call it)."""
        if not self.is_distributed or not values:
            return values
        names = sorted(values)
        totals = torch.tensor([values[n] for n in names], dtype=torch.float64, device=self.device)
        dist.all_reduce(totals)
        return {name: value / self.world_size for name, value in zip(names, totals.tolist())}

    def any_rank(self, flag: bool) -> bool:
        """True if `flag` is True on any process (a collective: every rank must call it)."""
        if not self.is_distributed:
            return bool(flag)
        value = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def reseed(self, seed: int, total_iters: int) -> None:
        """Give each rank its own random stream (dropout, image pool), reproducible from (seed, rank, position)."""
        if self.is_distributed:
            seed_everything(derive_seed("rank", seed, self.rank, total_iters) % (2 ** 32))


def launched_by_torchrun() -> bool:
    """True when torchrun started this process as one of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(gpu_ids: str) -> DistContext:
    """Join the process group torchrun describes (if any) and pick this process's device.

    One process: the device from --gpu_ids. Under torchrun with CUDA: GPU `gpu_ids[local_rank]` (or
    `local_rank` when --gpu_ids names at most one) with NCCL; on the CPU (--gpu_ids -1) the gloo backend.
    """
    device = select_device(gpu_ids)
    if not launched_by_torchrun():
        return DistContext(device=device)
    ctx = DistContext(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if device.type == "cuda":
        ids = parse_gpu_ids(gpu_ids)
        index = ids[ctx.local_rank] if len(ids) > 1 and ctx.local_rank < len(ids) else ctx.local_rank
        if index >= torch.cuda.device_count():
            raise UserError(f"torchrun local rank {ctx.local_rank} needs GPU {index}, but this machine has "
                            f"{torch.cuda.device_count()}; lower --nproc_per_node or fix --gpu_ids")
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    ctx.device = device
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(shutdown)
    signal.signal(signal.SIGTERM, _exit_on_signal)  # torchrun stops the other ranks with SIGTERM
    return ctx


def shutdown() -> None:
    """Leave the process group, if this process is in one (safe to call twice)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _exit_on_signal(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds normally, so atexit's shutdown() runs


def distribute_model(model, ctx: DistContext, sync_batchnorm: bool = False) -> Optional[Callable[[List[str]], None]]:
    """Wrap `model`'s networks for DDP; return `select_nets(frozen)` (None for one process).

    `model.nets` keeps the plain modules; `select_nets(frozen)` puts the DDP twin of every network
    that is not in `frozen` into `model.nets`, and the plain module of the frozen ones: a frozen
    network run through DDP would leave its reducer waiting for gradients that never come.
    `select_nets(list(model.nets))` restores all plain modules, so checkpoints carry no `module.` prefix.
    With `sync_batchnorm` (--norm batch), BatchNorm becomes SyncBatchNorm on CUDA (statistics over the global batch).
    """
    if not ctx.is_distributed:
        return None
    if sync_batchnorm:
        if ctx.device.type == "cuda":
            for name, net in model.nets.items():
                model.nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        else:
            warnings.warn("--norm batch on the CPU: SyncBatchNorm needs CUDA, so each process normalizes its own batch")
    plain = dict(model.nets)
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    twins = {name: DistributedDataParallel(net, device_ids=device_ids) for name, net in plain.items()
             if any(p.requires_grad for p in net.parameters())}

    def select_nets(frozen: List[str]) -> None:
        for name, net in plain.items():
            model.nets[name] = net if name in frozen or name not in twins else twins[name]

    return select_nets


class NullWriter:
    """Stands in for SummaryWriter on ranks other than 0: accepts every call and writes nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def summary_writer(ctx: DistContext, log_dir: str):
    """A TensorBoard SummaryWriter on rank 0, a `NullWriter` elsewhere."""
    if not ctx.is_main:
        return NullWriter()
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=log_dir)
