"""How generators change resolution: ``--upsample transpose|resize_conv|resize_conv_bilinear`` and ``--antialias``.

`apply_sampling` rewrites a built generator in place: each stride-2 transposed convolution becomes the
chosen upsampler and, with antialias, each stride-2 convolution is preceded by a blur and each
upsampler followed by one (CUT's anti-aliased sampling). Every replacement takes the place of the layer
it replaces, so layer indices (CUT's --nce_layers) keep their meaning; with the defaults nothing is
replaced and the state dict is the one existing checkpoints hold.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from util.registry import Registry

UPSAMPLERS = Registry("upsampling layer", "--upsample")


class Blur(nn.Module):
    """Fixed 3x3 binomial low-pass filter ([1, 2, 1] outer product / 16) per channel, reflect-padded.

    Maps ``(N, C, H, W)`` to ``(N, C, H, W)``; it has no parameters and adds no state-dict entries.
    """

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).reshape(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Blur each channel of ``(N, C, H, W)``."""
        channels = x.shape[1]
        weight = self.kernel.to(x.dtype).expand(channels, 1, 3, 3)
        return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), weight, groups=channels)


@UPSAMPLERS.register("transpose")
def transpose(conv: nn.ConvTranspose2d) -> nn.Module:
    """The generator's own stride-2 transposed convolution (the reference; may show checkerboard artifacts)."""
    return conv


def _resize_conv(conv: nn.ConvTranspose2d, mode: str) -> nn.Module:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode=mode),
                         nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=conv.bias is not None))


@UPSAMPLERS.register("resize_conv")
def resize_conv(conv: nn.ConvTranspose2d) -> nn.Module:
    """Nearest-neighbour 2x resize, then a 3x3 conv with the same channels (Odena et al., 2016)."""
    return _resize_conv(conv, "nearest")


@UPSAMPLERS.register("resize_conv_bilinear")
def resize_conv_bilinear(conv: nn.ConvTranspose2d) -> nn.Module:
    """Bilinear 2x resize, then a 3x3 conv with the same channels."""
    return _resize_conv(conv, "bilinear")


def apply_sampling(net: nn.Module, upsample: str = "transpose", antialias: bool = False) -> nn.Module:
    """Rewrite the stride-2 (transposed) convolutions of ``net`` in place for ``upsample``/``antialias``; return ``net``.

    Call it before initialising the weights, so new convolutions are initialised like the others.
    Raises `UserError` for an unknown ``upsample`` name.
    """
    make_upsampler = UPSAMPLERS.get(upsample)
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ConvTranspose2d) and child.stride == (2, 2):
                new = make_upsampler(child)
                setattr(parent, name, nn.Sequential(new, Blur()) if antialias else new)
            elif antialias and isinstance(child, nn.Conv2d) and child.stride == (2, 2):
                setattr(parent, name, nn.Sequential(Blur(), child))
    return net
