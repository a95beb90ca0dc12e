"""Perceptual loss with VGG19 features (``--lambda_vgg``, as in pix2pixHD).

Nothing is downloaded: the ImageNet weights come from ``--vgg_weights PATH`` or torchvision's cache
(``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``); without either, a one-line error says how to
provide them.
"""
import os
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import vgg

from util.errors import UserError

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = f"https://download.pytorch.org/models/{VGG19_FILE}"
# Indices into vgg19().features of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 and pix2pixHD's weights for them.
VGG_LAYERS = (1, 6, 11, 20, 29)
VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features(weights_path: Optional[str]) -> nn.Sequential:
    """VGG19's convolutional layers up to relu5_1, frozen, in eval mode.

    ``weights_path``: a torchvision VGG19 state dict; None looks in the torch hub cache; 'random'
    keeps the random initialisation (tests only: the loss is then not perceptual). Raises
    `UserError` when no weights file is found or it does not fit.
    """
    features = vgg.make_layers(vgg.cfgs["E"])[: VGG_LAYERS[-1] + 1]
    if weights_path != "random":
        path = weights_path or os.path.join(torch.hub.get_dir(), "checkpoints", VGG19_FILE)
        if not os.path.isfile(path):
            raise UserError(f"--lambda_vgg needs VGG19 weights: no {path}; download {VGG19_URL} into "
                            f"{os.path.join(torch.hub.get_dir(), 'checkpoints')} or pass --vgg_weights PATH (or --lambda_vgg 0)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            prefix = "features."
            features.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                      if k.startswith(prefix) and int(k.split(".")[1]) <= VGG_LAYERS[-1]})
        except Exception as err:  # a wrong or corrupt file: one line naming it
            raise UserError(f"--vgg_weights {path}: not torchvision's VGG19 weights ({type(err).__name__}: "
                            f"{str(err).splitlines()[0]}); use {VGG19_URL}") from None
    return features.eval().requires_grad_(False)


class VGGLoss(nn.Module):
    """Weighted L1 between VGG19 features of two ``(N, C, H, W)`` batches in [-1, 1]; returns a float32 scalar.

    1-channel images are repeated to 3 channels; both are normalised with the ImageNet statistics.
    The target's features are computed without a graph.
    """

    def __init__(self, weights_path: Optional[str] = None):
        super().__init__()
        self.features = vgg19_features(weights_path)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def taps(self, x: torch.Tensor):
        """The features at `VGG_LAYERS` of ``(N, C, H, W)`` images in [-1, 1]."""
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = ((x + 1) / 2 - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in VGG_LAYERS:
                out.append(x)
        return out

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """sum_k w_k * L1(VGG_k(fake), VGG_k(real))."""
        with torch.no_grad():
            real_feats = self.taps(real)
        return sum(w * F.l1_loss(f.float(), r.float()) for w, f, r in zip(VGG_WEIGHTS, self.taps(fake), real_feats))
