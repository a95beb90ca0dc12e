"""pix2pixHD's multi-scale discriminator (``--netD multiscale --num_D N``) and its feature-matching loss."""
from typing import Callable, List

import torch
import torch.nn as nn

from models.networks.discriminators import DISCRIMINATORS, NLayerDiscriminator
from util.errors import UserError


@DISCRIMINATORS.register("multiscale")
class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs (`NLayerDiscriminator` with ``n_layers``) on the image at scales 1, 1/2, 1/4, ...

    Maps ``(N, input_nc, H, W)`` to a list of ``num_D`` logit maps ``(N, 1, H_k, W_k)``, finest first
    (the GAN losses average over the list). Each coarser input is a 3x3 stride-2 average pool of the
    previous one, as in pix2pixHD. The coarsest scale must keep at least ``3 * 2 ** n_layers`` pixels.
    """

    option_kwargs = ("num_D",)   # extra options build_discriminator passes from opt

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer: Callable = nn.BatchNorm2d,
                 num_D: int = 3):
        super().__init__()
        self.n_layers = n_layers
        self.scales = nn.ModuleList(NLayerDiscriminator(input_nc, ndf, n_layers, norm_layer) for _ in range(num_D))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def inputs(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The input at each scale, finest first; raise `UserError` if the coarsest is too small."""
        images = [x]
        for _ in range(len(self.scales) - 1):
            images.append(self.downsample(images[-1]))
        side = min(images[-1].shape[-2:])
        if side < 3 * 2 ** self.n_layers:
            raise UserError(f"--netD multiscale --num_D {len(self.scales)}: the coarsest scale is {side} px, but a PatchGAN "
                            f"with --n_layers_D {self.n_layers} needs {3 * 2 ** self.n_layers}; raise --crop_size or lower --num_D / --n_layers_D")
        return images

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Map ``(N, input_nc, H, W)`` to ``num_D`` logit maps, finest first."""
        return [net(image) for net, image in zip(self.scales, self.inputs(x))]

    def features(self, x: torch.Tensor) -> List[List[torch.Tensor]]:
        """Per scale, the activations after each LeakyReLU and, last, the logits (see `patchgan_features`)."""
        return [patchgan_features(net, image) for net, image in zip(self.scales, self.inputs(x))]


def patchgan_features(net: NLayerDiscriminator, x: torch.Tensor) -> List[torch.Tensor]:
    """Run an `NLayerDiscriminator` on ``(N, C, H, W)``; return each LeakyReLU's output and, last, the logits."""
    feats = []
    for layer in net.model:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            feats.append(x)
    return feats + [x]


def discriminator_features(net: nn.Module, x: torch.Tensor) -> List[List[torch.Tensor]]:
    """Intermediate features of a PatchGAN or multi-scale D: one list per scale (a PatchGAN has one scale)."""
    if isinstance(net, MultiscaleDiscriminator):
        return net.features(x)
    return [patchgan_features(net, x)]


class FeatureMatchingLoss:
    """pix2pixHD's feature matching: mean over scales and D layers of L1(D_k(fake), D_k(real)), real detached.

    `__call__(net, real, fake)` takes the discriminator and ``(N, C, H, W)`` real and fake inputs (the
    same augmentation applied to both) and returns a scalar; the logits themselves are not matched.
    Raises `UserError` at construction for a discriminator without PatchGAN layers (--netD pixel).
    """

    def __init__(self, net: nn.Module):
        if not isinstance(net, (MultiscaleDiscriminator, NLayerDiscriminator)):
            raise UserError("--lambda_feat matches the layers of a PatchGAN: use --netD basic, n_layers or multiscale")

    def __call__(self, net: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """The feature-matching loss of ``fake`` against ``real`` under ``net``."""
        with torch.no_grad():
            real_feats = discriminator_features(net, real)
        fake_feats = discriminator_features(net, fake)
        terms = [torch.nn.functional.l1_loss(f.float(), r.float())
                 for fs, rs in zip(fake_feats, real_feats) for f, r in zip(fs[:-1], rs[:-1])]
        return torch.stack(terms).mean()
