"""What the training log reports: loss terms averaged over a window without syncing the GPU every step,
images/s and peak memory."""
import resource
import sys
import time
from typing import Dict

import torch


class LossMeter:
    """Accumulates named scalar losses as device tensors; `means()` pulls them to the host once."""

    def __init__(self):
        self.sums: Dict[str, torch.Tensor] = {}
        self.counts: Dict[str, int] = {}

    def add(self, losses: Dict[str, torch.Tensor]) -> None:
        """Add one value per name (scalar tensors; they are detached)."""
        for name, value in losses.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> Dict[str, float]:
        """Mean of each name since the last `reset`, as Python floats."""
        return {name: (total / self.counts[name]).item() for name, total in self.sums.items()}

    def reset(self) -> None:
        """Forget everything added so far."""
        self.sums.clear()
        self.counts.clear()

def peak_host_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 2 ** 10   # bytes on macOS, KiB on Linux


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory of this process so far in MiB: CUDA allocations on a GPU, else the host's max RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return peak_host_rss_mib()


class Throughput:
    """Counts images between `rate()` calls and turns them into images/s over that window."""

    def __init__(self):
        self.images = 0
        self.start = time.perf_counter()

    def add(self, images: int) -> None:
        """Count `images` more processed images."""
        self.images += images

    def rate(self) -> float:
        """Images per second since the previous call (or construction); starts a new window."""
        now = time.perf_counter()
        rate = self.images / max(now - self.start, 1e-9)
        self.images, self.start = 0, now
        return rate

    def log_values(self, device: torch.device) -> Dict[str, float]:
        """{'images_per_s', 'peak_memory_mib'} for the window that ends now."""
        return {"images_per_s": self.rate(), "peak_memory_mib": peak_memory_mib(device)}
