"""Speed and memory read-outs for the training log: images/s and peak memory over a logging window."""
import resource
import sys
import time
from typing import Dict

import torch


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
