"""Scoring translated images: paired metrics against ground truth and FID/KID against the real domain.

Used by ``test.py --eval_metrics`` (metrics.json next to the results), by ``train.py --eval_freq``
(held-out scores in TensorBoard) and on its own:

    python -m util.evaluation --pred results/<name>/test_latest/images --target datasets/sample/testB \
        --real datasets/sample/testB --feature_extractor random_conv
"""
import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional

import numpy as np
import torch

from datasets.image_io import find_images, load_image
from util import fid as fid_lib
from util.errors import UserError, exit_on_user_error
from util.feature_extractors import FEATURE_EXTRACTORS, prepare
from util.metrics import match_by_stem, mean_scores, score_pairs

# Lower is better for these; higher for the rest (shown in the summary table).
LOWER_IS_BETTER = ("l1", "fid", "kid")


def add_eval_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
    """Add the evaluation flags (train.py: --eval_freq and friends; test.py: --eval_metrics ...) to `parser`."""
    g = parser.add_argument_group("evaluation")
    if is_train:
        g.add_argument("--eval_freq", type=int, default=0, help="epochs between held-out evaluations logged to TensorBoard as eval/* (0 = off)")
        g.add_argument("--eval_phase", type=str, default="test", help="held-out split for --eval_freq: <dataroot>/<eval_phase>A (unaligned) or <dataroot>/<eval_phase> (aligned)")
        g.add_argument("--eval_num", type=int, default=50, help="held-out images scored at each --eval_freq evaluation")
    else:
        g.add_argument("--eval_metrics", action="store_true", help="score the results (PSNR/SSIM/L1 when targets are known, FID/KID against --fid_real_dir) into metrics.json")
        g.add_argument("--html_page_size", type=int, default=50, help="images per results page (index.html, page_2.html, ...)")
    g.add_argument("--target_dir", type=str, default=None, help="ground truth for unaligned data: images with the same names as the inputs (e.g. the sample dataset's testB); aligned data has its own")
    g.add_argument("--fid_real_dir", type=str, default=None, help="real target-domain images for FID/KID (default: <dataroot>/<phase>B, or the targets of aligned data)")
    g.add_argument("--feature_extractor", type=str, default="inception", choices=FEATURE_EXTRACTORS.names(), help="features for FID/KID: inception (needs --inception_weights or the torchvision cache) or random_conv (small fixed net, not comparable to papers)")
    g.add_argument("--inception_weights", type=str, default=None, help="path of torchvision's inception_v3_google-0cc3c7bd.pth (default: the torchvision cache)")
    g.add_argument("--kid_subset_size", type=int, default=1000, help="images per KID subset (capped by the number of images)")
    g.add_argument("--kid_subsets", type=int, default=100, help="number of KID subsets averaged")
    return parser


def load_batches(paths: List[str], size: int, batch_size: int):
    """Yield (B, 3, size, size) tensors in [-1, 1] of the images at `paths`, resized for a feature net."""
    for start in range(0, len(paths), batch_size):
        images = []
        for path in paths[start:start + batch_size]:
            array = np.asarray(load_image(path, grayscale=False), dtype=np.float32)
            tensor = torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1
            images.append(prepare(tensor[None], size)[0])
        yield torch.stack(images)


@torch.no_grad()
def feature_stats(paths: List[str], extractor: torch.nn.Module, device: torch.device, batch_size: int = 32) -> fid_lib.FeatureStats:
    """Run `extractor` over the image files in batches on `device`; returns their accumulated FeatureStats."""
    stats = fid_lib.FeatureStats()
    for batch in load_batches(paths, extractor.input_size, batch_size):
        stats.update(extractor(batch.to(device)))
    return stats


class Evaluator:
    """Scores lists of image files: paired metrics against targets, FID/KID against a real folder.

    Built from `opt` (feature_extractor, inception_weights, kid_subset_size, kid_subsets) and a
    device; the feature network is built (and its weights checked) on first use, and the real
    folder's statistics are cached, so repeated evaluations (every --eval_freq epochs) are cheap.
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        self.opt, self.device = opt, device
        self._extractor = None
        self._real_cache: Dict[str, fid_lib.FeatureStats] = {}

    def extractor(self) -> torch.nn.Module:
        """The --feature_extractor network on the device (built once)."""
        if self._extractor is None:
            self._extractor = FEATURE_EXTRACTORS.build(self.opt.feature_extractor, self.opt.inception_weights).to(self.device)
        return self._extractor

    def real_stats(self, real_dir: str) -> fid_lib.FeatureStats:
        """Feature statistics of every image under `real_dir` (cached)."""
        if real_dir not in self._real_cache:
            self._real_cache[real_dir] = feature_stats(find_images(real_dir), self.extractor(), self.device)
        return self._real_cache[real_dir]

    def evaluate(self, preds: List[str], targets: Optional[List[str]] = None,
                 real_dir: Optional[str] = None) -> Dict:
        """Score the image files `preds`.

        `targets` (same length, same sizes) gives paired PSNR/SSIM/L1; `real_dir` gives FID/KID.
        Returns {'metrics': {name: float, ..., 'count': n}, 'per_image': [{'psnr', 'ssim', 'l1'}, ...]
        (empty without targets), 'feature_extractor': name}.
        """
        metrics: Dict[str, float] = {"count": len(preds)}
        per_image = []
        if targets:
            per_image = score_pairs(preds, targets, self.device)
            metrics.update(mean_scores(per_image))
        if real_dir:
            generated, real = feature_stats(preds, self.extractor(), self.device), self.real_stats(real_dir)
            if min(generated.count, real.count) < 2:
                print(f"FID/KID skipped: they need at least 2 images on each side ({generated.count} generated, {real.count} real)")
            else:
                metrics["fid"] = fid_lib.fid(generated, real)
                metrics.update(fid_lib.kid(generated.features(), real.features(), self.opt.kid_subset_size, self.opt.kid_subsets))
        return {"metrics": metrics, "per_image": per_image, "feature_extractor": self.opt.feature_extractor if real_dir else None}


def format_table(metrics: Dict[str, float]) -> str:
    """The metrics as a two-column text table, with arrows saying which way is better."""
    lines = [f"{'metric':<10}{'value':>12}"]
    for name, value in metrics.items():
        arrow = "" if name in ("count", "kid_std") else (" (lower is better)" if name in LOWER_IS_BETTER else " (higher is better)")
        text = f"{value:d}" if isinstance(value, int) else f"{value:.4f}"
        lines.append(f"{name:<10}{text:>12}{arrow}")
    return "\n".join(lines)


def write_metrics(path: str, result: Dict, extra: Optional[Dict] = None) -> None:
    """Write `result` (from Evaluator.evaluate) plus `extra` information to the JSON file `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    payload = _finite({**(extra or {}), **result})
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)


def _finite(value):
    """`value` with non-finite floats (PSNR of identical images) replaced by None, for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


class ResultsEvaluator:
    """test.py --eval_metrics: scores the rows test.py wrote and writes <results>/metrics.json.

    Created right after option parsing (before test.py rewrites opt.dataroot), so it knows the
    dataset root and fails early on a missing --target_dir or Inception weights.
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        self.opt = opt
        self.evaluator = Evaluator(opt, device)
        side = "B" if opt.direction == "AtoB" else "A"
        default_real = os.path.join(opt.dataroot, opt.phase + side) if os.path.isdir(opt.dataroot) else None
        self.real_dir = opt.fid_real_dir or (default_real if default_real and os.path.isdir(default_real) else None)
        for flag in ("target_dir", "fid_real_dir"):
            if getattr(opt, flag) and not os.path.isdir(getattr(opt, flag)):
                raise UserError(f"--{flag} {getattr(opt, flag)} is not a folder")
        if opt.fid_real_dir or self.real_dir:
            self.evaluator.extractor()  # fail now, not after translating everything

    def run(self, out_dir: str, rows: List[Dict]) -> Dict[str, float]:
        """Score `rows` (test.py's per-image dicts of paths relative to `out_dir`), add each row's scores
        as row['metrics'], write out_dir/metrics.json, print the table; returns the summary metrics."""
        preds = [os.path.join(out_dir, row["output"]) for row in rows]
        targets = None
        if self.opt.target_dir:
            targets = match_by_stem([row["name"] for row in rows], None, self.opt.target_dir)
            for row, target in zip(rows, targets):  # shown on the results page too
                row["target"] = os.path.relpath(target, out_dir)
        elif rows and all("target" in row for row in rows):
            targets = [os.path.join(out_dir, row["target"]) for row in rows]
        real_dir = self.real_dir or (os.path.join(out_dir, os.path.dirname(rows[0]["target"])) if targets and not self.opt.target_dir else None)
        result = self.evaluator.evaluate(preds, targets, real_dir)
        for row, scores in zip(rows, result["per_image"]):
            row["metrics"] = scores
        write_metrics(os.path.join(out_dir, "metrics.json"), result,
                      {"name": self.opt.name, "epoch": self.opt.epoch, "direction": self.opt.direction,
                       "targets": self.opt.target_dir or ("aligned pairs" if targets else None), "fid_real_dir": real_dir})
        print(format_table(result["metrics"]))
        if not targets and not real_dir:
            print("no targets and no real images: pass --target_dir (paired ground truth) and/or --fid_real_dir")
        return result["metrics"]


@exit_on_user_error
def main(argv=None) -> None:
    """Score a folder of outputs: python -m util.evaluation --pred DIR [--target DIR] [--real DIR] [--out metrics.json]."""
    parser = argparse.ArgumentParser(description="PSNR/SSIM/L1 against targets with the same names and FID/KID against real images.")
    parser.add_argument("--pred", required=True, help="folder of generated images")
    parser.add_argument("--target", default=None, help="folder of ground-truth images with the same file names (paired metrics)")
    parser.add_argument("--real", default=None, help="folder of real target-domain images (FID/KID)")
    parser.add_argument("--out", default=None, help="also write the metrics to this JSON file")
    parser.add_argument("--gpu_ids", default="auto", help="'auto', '-1' (CPU) or a CUDA device id")
    add_eval_options(parser, is_train=False)
    args = parser.parse_args(argv)
    if not args.target and not args.real:
        raise UserError("nothing to compute: pass --target (paired metrics) and/or --real (FID/KID)")
    from util.device import select_device
    preds = find_images(args.pred)
    targets = match_by_stem(preds, args.pred, args.target) if args.target else None
    result = Evaluator(args, select_device(args.gpu_ids)).evaluate(preds, targets, args.real)
    print(format_table(result["metrics"]))
    if args.out:
        write_metrics(args.out, result, {"pred": args.pred, "target": args.target, "real": args.real})


if __name__ == "__main__":
    main(sys.argv[1:])
