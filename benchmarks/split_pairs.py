"""Split an aligned (A|B side by side) dataset into unpaired folders for CycleGAN/CUT.

    python -m benchmarks.split_pairs --src DIR --out OUTDIR

DIR holds train/ and test/ with images of two halves side by side (e.g. pix2pix facades: photo on
the left, label map on the right). Writes OUTDIR/trainA, trainB, testA, testB: the left halves in
*A, the right halves in *B, as PNG with the original file stems (the pairing is kept in the names
but an unaligned loader reads the two folders independently).
"""
import argparse
import os
from typing import Dict, List, Optional

import numpy as np
from PIL import Image

from util.errors import UserError, exit_on_user_error

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def split_image(path: str):
    """Read an A|B image -> (left, right): two (H, W/2, C) uint8 arrays (an odd middle column is dropped)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB") else image)
    except OSError as err:
        raise UserError(f"cannot read {path}: {err}") from err
    half = array.shape[1] // 2
    if half == 0:
        raise UserError(f"{path} is {array.shape[1]} pixel wide: cannot split it into two halves")
    return array[:, :half], array[:, array.shape[1] - half:]


def split_pairs(src: str, out: str, phases=("train", "test")) -> Dict[str, int]:
    """Write OUT/{phase}A (left halves) and OUT/{phase}B (right halves) as PNG for each phase in SRC.

    Returns {phase: number of pairs}. Raises UserError when SRC or a phase folder is missing or empty.
    """
    if not os.path.isdir(src):
        raise UserError(f"--src {src} is not a folder (expected one with train/ and test/ of A|B pairs)")
    counts = {}
    for phase in phases:
        folder = os.path.join(src, phase)
        if not os.path.isdir(folder):
            raise UserError(f"--src {src} has no {phase}/ folder of A|B pairs")
        names: List[str] = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
        if not names:
            raise UserError(f"{folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        out_a, out_b = os.path.join(out, phase + "A"), os.path.join(out, phase + "B")
        os.makedirs(out_a, exist_ok=True)
        os.makedirs(out_b, exist_ok=True)
        for name in names:
            left, right = split_image(os.path.join(folder, name))
            stem = os.path.splitext(name)[0]
            Image.fromarray(left).save(os.path.join(out_a, stem + ".png"))
            Image.fromarray(right).save(os.path.join(out_b, stem + ".png"))
        counts[phase] = len(names)
    return counts


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> None:
    """Command line: --src DIR --out OUTDIR [--phases train test]."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", required=True, help="folder with train/ and test/ of side-by-side A|B images")
    parser.add_argument("--out", required=True, help="output folder for trainA, trainB, testA, testB")
    parser.add_argument("--phases", nargs="+", default=["train", "test"], help="sub-folders to split")
    args = parser.parse_args(argv)
    counts = split_pairs(args.src, args.out, tuple(args.phases))
    for phase, count in counts.items():
        print(f"{phase}: {count} pairs -> {os.path.join(args.out, phase + 'A')}, {os.path.join(args.out, phase + 'B')}")


if __name__ == "__main__":
    main()
