"""Paired image metrics against a known answer, and a command line that compares two folders.

    python -m util.metrics --pred results/<name>/test_latest/images --target datasets/sample/testB
"""
import argparse
import math
import os
import sys
from typing import Dict

import numpy as np
from PIL import Image

from datasets.image_io import find_images
from util.errors import UserError, exit_on_user_error


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 arrays of equal shape (inf when identical)."""
    mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def compare_folders(pred_dir: str, target_dir: str) -> Dict[str, float]:
    """Mean PSNR of each image in `pred_dir` against the target with the same relative path (and stem).

    Returns {'psnr': mean dB, 'count': number of images compared}. Sizes must match.
    """
    targets = {os.path.splitext(os.path.relpath(p, target_dir))[0]: p for p in find_images(target_dir)}
    scores = []
    for path in find_images(pred_dir):
        key = os.path.splitext(os.path.relpath(path, pred_dir))[0]
        if key not in targets:
            raise UserError(f"{path} has no target of the same name in {target_dir}")
        pred = np.asarray(Image.open(path).convert("RGB"))
        target = np.asarray(Image.open(targets[key]).convert("RGB"))
        if pred.shape != target.shape:
            raise UserError(f"{path} is {pred.shape[1]}x{pred.shape[0]} but its target is {target.shape[1]}x{target.shape[0]}")
        scores.append(psnr(pred, target))
    return {"psnr": float(np.mean(scores)), "count": len(scores)}


@exit_on_user_error
def main(argv=None) -> None:
    """Print the mean PSNR of --pred against --target."""
    parser = argparse.ArgumentParser(description="Mean PSNR of predicted images against targets with the same names.")
    parser.add_argument("--pred", required=True, help="folder of predicted images")
    parser.add_argument("--target", required=True, help="folder of ground-truth images with the same file names")
    parser.add_argument("--label", default="", help="text printed in front of the result")
    args = parser.parse_args(argv)
    result = compare_folders(args.pred, args.target)
    print(f"PSNR {args.label}: {result['psnr']:.2f} dB over {result['count']} images")


if __name__ == "__main__":
    main(sys.argv[1:])
