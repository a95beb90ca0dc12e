"""Finding image files on disk and decoding them robustly into 8-bit 'RGB' or 'L' PIL images."""
import math
import os
from typing import List

import numpy as np
from PIL import Image, ImageOps

from util.errors import UserError

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

_SKIP_HINT = "remove it or pass --skip_bad_images"


class BadImageError(UserError):
    """An image file exists but cannot be decoded (empty, truncated, not an image).

    Keeps `path` and `reason` so that --skip_bad_images can report the file in one line.
    """

    def __init__(self, path: str, reason: str):
        super().__init__(f"cannot read image {path}: {reason}; {_SKIP_HINT}")
        self.path = path
        self.reason = reason


def is_image_file(path: str) -> bool:
    """Return True if ``path`` ends in one of `IMG_EXTENSIONS`, in any letter case."""
    return path.lower().endswith(IMG_EXTENSIONS)


def find_images(directory: str, max_items: float = math.inf) -> List[str]:
    """Return the sorted paths of all image files under ``directory`` (recursively, following links).

    At most ``max_items`` paths are kept (the first ones in sorted order; ``inf`` keeps all).
    Raises `UserError` if the directory does not exist or holds no image files.
    """
    if not os.path.isdir(directory):
        raise UserError(f"no images found in {directory}: the folder does not exist "
                        f"(check --dataroot and --phase)")
    paths = []
    for root, dirs, files in os.walk(directory, followlinks=True):
        dirs.sort()
        paths.extend(os.path.join(root, name) for name in files if is_image_file(name))
    if not paths:
        raise UserError(f"no images found in {directory}: expected files ending in "
                        f"{'/'.join(IMG_EXTENSIONS)} (check --dataroot and --phase)")
    paths.sort()
    if max_items < len(paths):
        paths = paths[:int(max_items)]
    return paths


def load_image(path: str, grayscale: bool) -> Image.Image:
    """Decode the image at ``path`` into an in-memory PIL image of mode 'L' (grayscale) or 'RGB'.

    Applies the EXIF orientation, composites transparent images onto white, converts CMYK and
    other colour spaces to RGB and rescales 16-bit/32-bit/float images to the 8-bit range.
    Raises `BadImageError` (a `UserError`) naming the file if it cannot be decoded.
    """
    try:
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "the file is empty")
        with Image.open(path) as img:
            img.load()  # force the full decode now so truncated files fail here, not later
            img = ImageOps.exif_transpose(img)
            img = _to_8bit(img)
            return img.convert("L" if grayscale else "RGB")
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        reason = " ".join(str(err).split()) or type(err).__name__
        raise BadImageError(path, reason) from err


def _to_8bit(img: Image.Image) -> Image.Image:
    """Return ``img`` as an 8-bit 'L', 'RGB' or 'RGBA'-composited-onto-white 'RGB' image."""
    if img.mode.startswith("I;16"):
        return _rescale(np.asarray(img), 65535.0)
    if img.mode in ("I", "F"):
        return _rescale_unknown_range(np.asarray(img))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    if img.mode == "1":
        return img.convert("L")
    return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, P without transparency


def _rescale(values: np.ndarray, full_scale: float) -> Image.Image:
    """Map ``values`` in [0, full_scale] linearly onto [0, 255] and return an 'L' image."""
    scaled = np.clip(values.astype(np.float64) * (255.0 / full_scale), 0, 255)
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def _rescale_unknown_range(values: np.ndarray) -> Image.Image:
    """Rescale a 32-bit int ('I') or float ('F') single-channel image to 8 bits.

    The mode does not state the bit depth, so the range is guessed from the data: floats within
    [0, 1] are scaled by 1, values within [0, 255] are kept, values within [0, 65535] are treated
    as 16-bit, and anything else (negative or larger) is min-max normalised.
    """
    is_float = np.issubdtype(values.dtype, np.floating)
    values = values.astype(np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("image has no pixels or non-finite pixel values")
    low, high = values.min(), values.max()
    if is_float and low >= 0 and high <= 1:
        return _rescale(values, 1.0)
    if low >= 0 and high <= 255:
        return _rescale(values, 255.0)
    if low >= 0 and high <= 65535:
        return _rescale(values, 65535.0)
    return _rescale(values - low, max(high - low, 1e-12))
