"""Paired image metrics against a known answer: PSNR, SSIM and L1 of image files matched by name."""
import math
import os
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from util.errors import UserError
from util.image_io import find_images, read_image

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # Wang et al. 2004


def _gaussian_window(channels: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(C, 1, 11, 11) normalised Gaussian kernel (sigma 1.5) for a depthwise convolution."""
    coords = torch.arange(SSIM_WINDOW, device=device, dtype=dtype) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * SSIM_SIGMA ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity of (N, C, H, W) images with values in [0, data_range]; returns (N,).

    Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, statistics over 'valid' windows only
    (no padding), averaged over channels and positions. H and W must be at least 11.
    """
    if min(pred.shape[-2:]) < SSIM_WINDOW:
        raise UserError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got "
                        f"{pred.shape[-1]}x{pred.shape[-2]}")
    pred, target = pred.double(), target.double()
    window = _gaussian_window(pred.shape[1], pred.device, pred.dtype)

    def blur(x):
        return F.conv2d(x, window, groups=pred.shape[1])

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_x, mu_y = blur(pred), blur(target)
    var_x = blur(pred * pred) - mu_x ** 2
    var_y = blur(target * target) - mu_y ** 2
    cov = blur(pred * target) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(1)


def paired_scores(pred: torch.Tensor, target: torch.Tensor) -> Dict[str, torch.Tensor]:
    """PSNR (dB), SSIM and L1 of (N, C, H, W) images in [0, 1] against targets of the same shape.

    Returns {'psnr', 'ssim', 'l1'}, each an (N,) float64 tensor; L1 is the mean absolute
    difference on the [0, 1] scale; PSNR is inf for identical images.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    diff = pred.double() - target.double()
    mse = diff.pow(2).flatten(1).mean(1)
    return {"psnr": 10 * torch.log10(1.0 / mse), "ssim": ssim(pred, target), "l1": diff.abs().flatten(1).mean(1)}


def match_by_stem(paths: List[str], root: Optional[str], target_dir: str) -> List[str]:
    """For each of `paths` (under `root`; None: already relative), the image in `target_dir` with the same relative path minus suffix.

    Raises `UserError` naming the first image that has no target.
    """
    targets = {os.path.splitext(os.path.relpath(p, target_dir))[0]: p for p in find_images(target_dir)}
    matched = []
    for path in paths:
        key = os.path.splitext(os.path.relpath(path, root) if root else path)[0]
        if key not in targets:
            raise UserError(f"{path} has no target of the same name in {target_dir}")
        matched.append(targets[key])
    return matched


def score_pairs(preds: List[str], targets: List[str], device: torch.device = torch.device("cpu")) -> List[Dict[str, float]]:
    """Paired scores of each image file in `preds` against the file at the same index of `targets`.

    Returns one {'psnr', 'ssim', 'l1'} dict of floats per pair. Sizes must match (else `UserError`).
    """
    scores = []
    for pred_path, target_path in zip(preds, targets):
        pred, target = read_image(pred_path).unit(3), read_image(target_path).unit(3)
        if pred.shape != target.shape:
            raise UserError(f"{pred_path} is {pred.shape[2]}x{pred.shape[1]} but its target {target_path} is "
                            f"{target.shape[2]}x{target.shape[1]}")
        if min(pred.shape[1:]) < SSIM_WINDOW:
            raise UserError(f"{pred_path} is {pred.shape[2]}x{pred.shape[1]}: paired metrics (SSIM) need at least "
                            f"{SSIM_WINDOW}x{SSIM_WINDOW} pixels; remove it from the folder or translate it larger")
        values = paired_scores(pred[None].to(device), target[None].to(device))
        scores.append({name: float(v[0]) for name, v in values.items()})
    return scores


def mean_scores(scores: List[Dict[str, float]]) -> Dict[str, float]:
    """Average each metric over a list of per-image score dicts (PSNR over finite values only)."""
    means = {}
    for name in scores[0]:
        values = [s[name] for s in scores if math.isfinite(s[name])]
        means[name] = float(np.mean(values)) if values else math.inf
    return means


def compare_folders(pred_dir: str, target_dir: str) -> Dict[str, float]:
    """Mean PSNR, SSIM and L1 of each image in `pred_dir` against the target with the same relative path (and stem).

    Returns {'psnr': mean dB, 'ssim', 'l1', 'count': number of images compared}. Sizes must match.
    """
    preds = find_images(pred_dir)
    scores = score_pairs(preds, match_by_stem(preds, pred_dir, target_dir))
    return {**mean_scores(scores), "count": len(scores)}
