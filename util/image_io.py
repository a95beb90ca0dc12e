"""The one place image files are found, decoded and written.

Every reader of the suite (datasets, metrics, FID features, test.py's source formats, video frames) goes
through `read_image`, which decodes a file once and keeps what the source holds (`bits` per sample,
single-channel or not) next to two views of its pixels: `pil()`, an 8-bit 'L' or 'RGB' image for the
augmentation pipeline, and `unit()`, a float tensor in [0, 1] at the source's full precision (16-bit
and 32-bit integer / float files are not rounded to 8 bits). Both views come from the same value
mapping, so training and test time read a file identically.
"""
import math
import os
import sys
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from util.errors import UserError
from util.output_files import output_file

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_SKIP_HINT = "remove it or pass --skip_bad_images"
# What Pillow raises for a file it cannot open or decode (truncated, not an image, too large).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class BadImageError(UserError):
    """An image file exists but cannot be decoded (empty, truncated, not an image).

    Keeps `path` and `reason` so that --skip_bad_images can report the file in one line. Built from one
    message alone (`reason` None) when a DataLoader worker's error is raised again in the main process.
    """

    def __init__(self, path: str, reason: Optional[str] = None):
        super().__init__(path if reason is None else f"cannot read image {path}: {reason}; {_SKIP_HINT}")
        self.path = path
        self.reason = reason


def is_image_file(path: str) -> bool:
    """Return True if ``path`` ends in one of `IMG_EXTENSIONS`, in any letter case."""
    return path.lower().endswith(IMG_EXTENSIONS)


def walk_files(directory: str) -> Iterator[str]:
    """Yield the paths of the files under `directory`, recursively, following links to folders once.

    A link to a folder already being walked (``ln -s . a``) or already walked (two links to one folder)
    is skipped with one `warning:` line, so a loop can neither hang the walk nor count images twice.
    """
    visited = set()
    pending = [directory]
    while pending:
        root = pending.pop()
        real = os.path.realpath(root)
        if real in visited:
            print(f"warning: skipping {root}: it links to {real}, which is read already", file=sys.stderr)
            continue
        visited.add(real)
        try:
            entries = sorted(os.scandir(root), key=lambda entry: entry.name)
        except OSError as err:
            print(f"warning: skipping folder {root}: {err.strerror or err}", file=sys.stderr)
            continue
        yield from (entry.path for entry in entries if entry.is_file())
        pending.extend(entry.path for entry in reversed(entries) if entry.is_dir())


def find_images(directory: str, max_items: float = math.inf) -> List[str]:
    """Return the sorted paths of all image files under ``directory`` (recursively, see `walk_files`).

    At most ``max_items`` paths are kept (the first ones in sorted order; ``inf`` keeps all).
    Raises `UserError` if the directory does not exist or holds no image files.
    """
    if not os.path.isdir(directory):
        raise UserError(f"no images found in {directory}: the folder does not exist "
                        f"(check --dataroot and --phase)")
    paths = [path for path in walk_files(directory) if is_image_file(path)]
    if not paths:
        raise UserError(f"no images found in {directory}: expected files ending in "
                        f"{'/'.join(IMG_EXTENSIONS)} (check --dataroot and --phase)")
    paths.sort()
    if max_items < len(paths):
        paths = paths[:int(max_items)]
    return paths


def image_size(path: str) -> "Tuple[int, int] | None":
    """(width, height) of the image at `path` as `read_image` would return it (EXIF rotation applied),
    from its header alone; None if the file cannot be opened (reading it later reports why)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            rotated = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except DECODE_ERRORS:
        return None
    return (height, width) if rotated else (width, height)


@dataclass
class DecodedImage:
    """One decoded image file.

    `bits`: bits per sample of the source, 8 or 16 (16 for anything finer than 8 bits: 16-bit, 32-bit
    integer and float files); `gray`: the source has one channel (colour
    images that only hold grey values still count as colour). `values`: (H, W) float64 in [0, 1] for
    single-channel sources of more than 8 bits (kept at full precision), else None. `image`: the 8-bit
    'L' or 'RGB' rendering (EXIF orientation applied, transparency composited onto white).
    """

    path: str
    bits: int
    gray: bool
    image: Image.Image
    values: "np.ndarray | None" = None

    @property
    def size(self):
        """(width, height) in pixels."""
        return self.image.size

    def pil(self, grayscale: bool) -> Image.Image:
        """The 8-bit image as mode 'L' (`grayscale`) or 'RGB'."""
        mode = "L" if grayscale else "RGB"
        return self.image if self.image.mode == mode else self.image.convert(mode)

    def unit(self, channels: int) -> torch.Tensor:
        """(channels, H, W) float32 in [0, 1] at the source's precision; channels is 1 or 3."""
        if self.values is not None:
            tensor = torch.from_numpy(self.values.astype(np.float32))[None]
            return tensor.expand(channels, -1, -1).contiguous()
        array = np.asarray(self.pil(channels == 1), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array)
        return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def read_image(path: str) -> DecodedImage:
    """Decode the image at ``path`` once; see `DecodedImage`.

    Converts CMYK and other colour spaces to RGB, composites transparency onto white, applies the EXIF
    orientation, and maps 16-bit, 32-bit integer and float single-channel images onto [0, 1] (see
    `_unit_range`). Raises `BadImageError` (a `UserError`) naming the file if it cannot be decoded.
    """
    try:
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "the file is empty")
        with Image.open(path) as img:
            img.load()  # force the full decode now so truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            return _decode(path, img)
    except BadImageError:
        raise
    except DECODE_ERRORS as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise BadImageError(path, reason) from err


def load_image(path: str, grayscale: bool) -> Image.Image:
    """The 8-bit PIL image ('L' if ``grayscale`` else 'RGB') of the file at ``path`` (see `read_image`)."""
    return read_image(path).pil(grayscale)


def _decode(path: str, img: Image.Image) -> DecodedImage:
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = _unit_range(np.asarray(img), img.mode)
        eight = Image.fromarray(np.round(values * 255).astype(np.uint8))
        return DecodedImage(path, 16, True, eight, values)
    if img.mode in _TRANSPARENT_MODES or "transparency" in img.info:
        gray = img.mode in ("LA", "La") or (img.mode in ("L", "1") and "transparency" in img.info)
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return DecodedImage(path, 8, gray, Image.alpha_composite(white, rgba).convert("L" if gray else "RGB"))
    if img.mode in ("L", "1"):
        return DecodedImage(path, 8, True, img.convert("L"))
    return DecodedImage(path, 8, False, img if img.mode == "RGB" else img.convert("RGB"))  # CMYK, YCbCr, LAB, P


def _unit_range(values: np.ndarray, mode: str) -> np.ndarray:
    """Map a single-channel image of more than 8 bits onto [0, 1] (float64).

    16-bit modes are scaled by 65535. The 32-bit modes ('I', 'F') do not state the range, so it is
    guessed from the data: floats within [0, 1] are kept, values within [0, 255] are 8-bit, values
    within [0, 65535] are 16-bit, and anything else (negative or larger) is min-max normalised.
    """
    values = values.astype(np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("image has no pixels or non-finite pixel values")
    if mode.startswith("I;16"):
        return np.clip(values / 65535.0, 0, 1)
    low, high = values.min(), values.max()
    if mode == "F" and low >= 0 and high <= 1:
        return values
    for full_scale in (255.0, 65535.0):
        if low >= 0 and high <= full_scale:
            return values / full_scale
    return (values - low) / max(high - low, 1e-12)


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """Images as the networks take them: uint8 (..., C, H, W) in [0, 255] -> float32 in [-1, 1]; floats pass unchanged.

    Training batches leave the DataLoader workers as uint8 (a quarter of the float bytes to collate, pin
    and copy) and are normalised here, on the device, after the copy. The arithmetic is torchvision's
    `to_tensor` (float32, divided by 255) then * 2 - 1, so the result equals the old float pipeline exactly.
    """
    if images.dtype != torch.uint8:
        return images
    return images.to(torch.float32).div(255) * 2.0 - 1.0


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) tensor in [-1, 1] with C = 1 or 3 -> 8-bit PIL image ('L' or 'RGB')."""
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def save_tensor_image(image: torch.Tensor, path: str, bits: int = 8) -> None:
    """Save a (C, H, W) tensor in [-1, 1] to `path`; the format follows the file suffix.

    `bits` 16 writes a single-channel image as a 16-bit PNG/TIFF (other suffixes or colour: 8 bits).
    """
    if bits == 16 and image.shape[0] == 1 and path.lower().endswith((".png", ".tif", ".tiff")):
        values = ((image[0].detach().float().cpu().clamp(-1, 1) + 1) * 32767.5).round().numpy().astype(np.uint16)
        pil = Image.fromarray(values)  # uint16 -> mode I;16
    else:
        pil = tensor_to_pil(image)
    with output_file(path) as tmp:
        pil.save(tmp, **({"quality": 95} if path.lower().endswith((".jpg", ".jpeg")) else {}))
