"""Discriminators selectable with ``--netD``; all return raw logits (no sigmoid)."""
from typing import Callable

import torch
import torch.nn as nn

from models.networks.norms import norm_needs_bias
from util.registry import Registry

DISCRIMINATORS = Registry("discriminator", "--netD")

NormFactory = Callable[[int], nn.Module]


@DISCRIMINATORS.register("n_layers")
class NLayerDiscriminator(nn.Module):
    """PatchGAN with ``n_layers`` stride-2 4x4 convs (filters doubling up to ``8 * ndf``).

    Maps ``(N, input_nc, H, W)`` to per-patch logits ``(N, 1, H', W')``; with n_layers=3 each
    output sees a 70x70 patch, and 256x256 inputs give 30x30 outputs.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        use_bias = norm_needs_bias(norm_layer)
        layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        nf = ndf
        for n in range(1, n_layers + 1):
            nf_prev, nf = nf, ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1  # the last hidden conv keeps the resolution
            layers += [
                nn.Conv2d(nf_prev, nf, 4, stride=stride, padding=1, bias=use_bias),
                norm_layer(nf),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(nf, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, input_nc, H, W)`` to logits ``(N, 1, H', W')``."""
        return self.model(x)


@DISCRIMINATORS.register("basic")
class PatchGANDiscriminator(NLayerDiscriminator):
    """The 70x70 PatchGAN: `NLayerDiscriminator` with 3 layers; the ``n_layers`` argument is ignored.

    Maps ``(N, input_nc, H, W)`` to logits ``(N, 1, H/8 - 2, W/8 - 2)`` for H, W multiples of 8.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__(input_nc, ndf, 3, norm_layer)


@DISCRIMINATORS.register("pixel")
class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: classifies every pixel on its own; ``n_layers`` is ignored.

    Maps ``(N, input_nc, H, W)`` to logits ``(N, 1, H, W)``.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: NormFactory = nn.BatchNorm2d):
        super().__init__()
        use_bias = norm_needs_bias(norm_layer)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=use_bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, input_nc, H, W)`` to logits ``(N, 1, H, W)``."""
        return self.net(x)
