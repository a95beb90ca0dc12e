"""Keeping the bit depth and colour mode of the source images in test.py's outputs.

The datasets decode every image to 8-bit 'L' or 'RGB'. For a 16-bit grayscale PNG/TIFF source (Pillow
modes I;16, I;16B, I) test.py re-reads the input at full precision, and the output is written as a
16-bit grayscale file; a grayscale 8-bit source gives an 8-bit grayscale output. With
--output_mode model the generator's channels are written as they are, in 8 bits. (Pillow reads 48-bit
RGB PNG/TIFF files as 8-bit RGB, so those stay 8-bit.)
"""
import argparse
import os
from typing import Dict, List, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps

from util.images import save_tensor_image

OUTPUT_MODES = ("same", "model")
_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's RGB -> L


class SourceFormat(NamedTuple):
    """What an input file holds: `bits` per sample (8 or 16) and whether it is single-channel."""
    bits: int
    gray: bool


def add_format_options(parser: argparse.ArgumentParser) -> None:
    """Add --output_mode."""
    parser.add_argument("--output_mode", choices=OUTPUT_MODES, default="same",
                        help="same: outputs of 16-bit / grayscale inputs are written 16-bit / grayscale; "
                             "model: always the generator's channels in 8 bits")


def source_format(path: str) -> SourceFormat:
    """Read only the header of the image at `path` and return its `SourceFormat`."""
    with Image.open(path) as img:
        mode = img.mode
    if mode in _16BIT_MODES:
        return SourceFormat(16, True)
    return SourceFormat(8, mode in ("L", "LA", "1"))


def load_precise(path: str, channels: int) -> torch.Tensor:
    """Decode a 16-bit grayscale image into a float (channels, H, W) tensor in [-1, 1] without 8-bit rounding."""
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        values = np.asarray(img).astype(np.float32)
    full_scale = 65535.0 if values.max() > 255 or img.mode != "I" else 255.0
    tensor = torch.from_numpy(values / full_scale * 2 - 1).clamp(-1, 1)[None]
    return tensor.expand(channels, -1, -1).contiguous()


def use_full_precision(items: List[Dict], opt: argparse.Namespace) -> None:
    """Replace, in place, each item's 8-bit 'A' by the full-precision input when its file is 16-bit.

    Only when the input was not resized (`--preprocess none`), so the sizes still match.
    """
    if opt.preprocess != "none":
        return
    for item in items:
        if source_format(item["A_paths"]).bits == 16:
            item["A"] = load_precise(item["A_paths"], item["A"].shape[0])


def to_gray(image: torch.Tensor) -> torch.Tensor:
    """(C, H, W) with C = 1 or 3 -> (1, H, W) luma."""
    if image.shape[0] == 1:
        return image
    weights = torch.tensor(_LUMA, dtype=image.dtype, device=image.device)[:, None, None]
    return (image * weights).sum(0, keepdim=True)


def is_colourless(image: torch.Tensor, tolerance: float = 2 / 255) -> bool:
    """True if a (C, H, W) image in [-1, 1] has one channel or channels that agree within `tolerance` ([0, 1] units)."""
    if image.shape[0] == 1:
        return True
    spread = image.max(0).values - image.min(0).values
    return bool(spread.max() <= 2 * tolerance)


def save_output(output: torch.Tensor, path: str, source_path: str, output_mode: str = "same") -> None:
    """Write the (C, H, W) `output` in [-1, 1] to `path` in the bit depth and mode of `source_path`.

    A grayscale source gets a grayscale output (16-bit for a 16-bit source) where the model allows it:
    when the generator's output is single-channel or has no colour. A colour output (e.g. a model that
    colourises), an 8-bit colour source, or `output_mode` 'model' gives the plain 8-bit file.
    """
    fmt = source_format(source_path) if output_mode == "same" else SourceFormat(8, False)
    output = output.detach().float().cpu()
    if not fmt.gray or not is_colourless(output):
        save_tensor_image(output, path)
        return
    gray = to_gray(output).clamp(-1, 1)[0]
    if fmt.bits == 16 and path.lower().endswith((".png", ".tif", ".tiff")):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        values = ((gray + 1) * 32767.5).round().numpy().astype(np.uint16)
        Image.fromarray(values).save(path)  # uint16 -> mode I;16
    else:
        save_tensor_image(gray[None], path)
