"""Collecting and freezing the statistics of a generator's normalisation layers.

InstanceNorm (and BatchNorm in train mode, as test.py runs it by default) normalises each feature map
with the mean/var of the image it sees. When a large image is translated in tiles, or a video frame by
frame, each piece gets its own statistics and the pieces drift in colour. The helpers here record the
per-layer mean/var of a whole image (or clip) with forward hooks and replay them while the generator
runs on the pieces, so every piece is normalised as the whole would be.
"""
import contextlib
from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import nn

# Per norm layer: (mean, var), each (N, C) float32 on the layer's device.
NormStats = Dict[nn.Module, Tuple[torch.Tensor, torch.Tensor]]


def adaptive_norm_layers(net: nn.Module) -> list:
    """The layers of `net` that normalise with statistics of their input (in module order).

    That is every InstanceNorm without running statistics, and every BatchNorm in train mode.
    """
    layers = []
    for module in net.modules():
        if isinstance(module, nn.modules.instancenorm._InstanceNorm) and not module.track_running_stats:
            layers.append(module)
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and (module.training or not module.track_running_stats):
            layers.append(module)
    return layers


def _moments(x: torch.Tensor, region: Optional[Tuple[float, float, float, float]] = None):
    """Sum, sum of squares and count of (N, C, H, W) `x` per (N, C), over `region` (fractions y0, y1, x0, x1)."""
    if region is not None:
        height, width = x.shape[-2:]
        y0, y1, x0, x1 = region
        x = x[..., round(y0 * height):round(y1 * height), round(x0 * width):round(x1 * width)]
    x = x.double()
    return x.sum((2, 3)), (x * x).sum((2, 3)), x.shape[2] * x.shape[3]


def _normalise(module: nn.Module, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Normalise (N, C, H, W) `x` with the given (N, C) `mean`/`var` and `module`'s eps and affine terms."""
    out = (x - mean[..., None, None].to(x.dtype)) * torch.rsqrt(var[..., None, None].to(x.dtype) + module.eps)
    if getattr(module, "weight", None) is not None:
        out = out * module.weight[:, None, None] + module.bias[:, None, None]
    return out


class StopForward(Exception):
    """Raised by a `StatsRecorder` hook to end a forward pass once the layer it measures has run."""


def run_until(net: nn.Module, x: torch.Tensor) -> None:
    """Run `net(x)` for its hooks' side effects; a `StopForward` from a hook ends it early."""
    try:
        net(x)
    except StopForward:
        pass


class StatsRecorder:
    """Forward hooks on a generator's adaptive norm layers that freeze and/or accumulate statistics.

    With `frozen` stats, each layer normalises with those instead of its input's. While `accumulate`
    is True, the mean/var of each layer's input (over `region`, fractions of the feature map) are
    summed, so `stats()` returns the statistics of everything seen since, e.g. all frames of a clip
    or all tile centres of an image. With `stop_at` set to one of the layers, only that layer's input
    is summed and the forward pass ends there by raising `StopForward` (catch it; see `run_until`).
    Use as a context manager; hooks are removed on exit.
    """

    def __init__(self, net: nn.Module, frozen: Optional[NormStats] = None, accumulate: bool = True,
                 stop_at: Optional[nn.Module] = None):
        self.frozen = frozen
        self.accumulate = accumulate
        self.stop_at = stop_at
        self.region = None
        self._sums: Dict[nn.Module, list] = {}
        self._handles = [layer.register_forward_hook(self._hook) for layer in adaptive_norm_layers(net)]

    def _hook(self, module: nn.Module, inputs, output):
        x = inputs[0]
        if self.accumulate and self.stop_at in (None, module):
            total, squares, count = _moments(x.detach(), self.region)
            entry = self._sums.setdefault(module, [0.0, 0.0, 0])
            entry[0], entry[1], entry[2] = entry[0] + total, entry[1] + squares, entry[2] + count
        if module is self.stop_at:
            raise StopForward
        if self.frozen is not None and module in self.frozen:
            return _normalise(module, x, *self.frozen[module])
        return None

    def stats(self) -> NormStats:
        """Per layer (mean, var), each (N, C) float32, of the inputs accumulated so far."""
        result = {}
        for module, (total, squares, count) in self._sums.items():
            mean = total / count
            var = (squares / count - mean * mean).clamp_min(0)
            result[module] = (mean.float(), var.float())
        return result

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> "StatsRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@torch.no_grad()
def collect_stats(net: nn.Module, images: torch.Tensor, frozen: Optional[NormStats] = None) -> NormStats:
    """Run `net` on (N, C, H, W) `images` and return the (N, C) mean/var its adaptive norm layers saw."""
    with StatsRecorder(net, frozen=frozen) as recorder:
        net(images)
        return recorder.stats()


@contextlib.contextmanager
def frozen_stats(net: nn.Module, stats: Optional[NormStats]) -> Iterator[None]:
    """While active, `net`'s adaptive norm layers normalise with `stats` (None: unchanged behaviour)."""
    if not stats:
        yield
        return
    with StatsRecorder(net, frozen=stats, accumulate=False):
        yield
