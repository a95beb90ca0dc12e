"""Keeping the bit depth and colour mode of the source images in test.py's outputs.

The datasets read inputs through `util.image_io.read_image`, which reports each source's bit depth and
whether it is single-channel; at test time with --preprocess none the input tensor already has the
source's full precision. A grayscale source gets a grayscale output where the model allows it (16-bit
for a 16-bit source); with --output_mode model the generator's channels are written as they are, in 8
bits. (Pillow reads 48-bit RGB PNG/TIFF files as 8-bit RGB, so those stay 8-bit.)
"""
import torch

from util.image_io import save_tensor_image

OUTPUT_MODES = ("same", "model")
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's RGB -> L


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


def save_output(output: torch.Tensor, path: str, source_bits: int, source_gray: bool,
                output_mode: str = "same") -> None:
    """Write the (C, H, W) `output` in [-1, 1] to `path` in the bit depth and mode of its source.

    `source_bits` (8 or 16) and `source_gray` describe the input file (`DecodedImage.bits` / `.gray`).
    A grayscale source gets a grayscale output (16-bit for a 16-bit source) where the model allows it:
    when the generator's output is single-channel or has no colour. A colour output (e.g. a model that
    colourises), an 8-bit colour source, or `output_mode` 'model' gives the plain 8-bit file.
    """
    output = output.detach().float().cpu()
    if output_mode != "same" or not source_gray or not is_colourless(output):
        save_tensor_image(output, path)
        return
    save_tensor_image(to_gray(output).clamp(-1, 1), path, bits=source_bits)
