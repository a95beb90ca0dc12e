"""Normalization layers selectable with ``--norm``."""
import functools
from typing import Callable

import torch.nn as nn

from util.registry import Registry

NORMS = Registry("normalization", "--norm")

NORMS.register("instance")(functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False))
NORMS.register("batch")(functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True))


@NORMS.register("none")
def _no_norm(num_features: int) -> nn.Module:
    """Identity in place of a normalization layer (``num_features`` is ignored)."""
    return nn.Identity()


def get_norm_layer(name: str = "instance") -> Callable[[int], nn.Module]:
    """Return a factory ``norm(num_features) -> nn.Module`` for the normalization ``name``.

    Raises `UserError` listing the valid names when ``name`` is unknown.
    """
    return NORMS.get(name)


def norm_needs_bias(norm_layer: Callable[[int], nn.Module]) -> bool:
    """Whether a conv followed by ``norm_layer`` should have its own bias.

    As in the reference, only batch norm (which has a learned shift) makes the conv bias redundant;
    instance norm here is not affine, and 'none' has no shift at all.
    """
    func = getattr(norm_layer, "func", norm_layer)  # unwrap functools.partial
    return not (isinstance(func, type) and issubclass(func, nn.modules.batchnorm._BatchNorm))
