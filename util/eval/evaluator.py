"""Scoring translated images: paired metrics against ground truth and FID/KID against the real domain.

`Evaluator` scores lists of image files; `ResultsEvaluator` is test.py --eval_metrics (metrics.json next
to the results); `TrainingEvaluator` is train.py --eval_freq / --eval_every (held-out scores in TensorBoard as val/*). The
command line is `python -m util.eval` (util/eval/__main__.py).
"""
import copy
import json
import math
import os
from typing import Callable, Dict, List, Optional

import torch

from util.errors import UserError
from util.eval import fid as fid_lib
from util.eval.feature_extractors import FEATURE_EXTRACTORS
from util.eval.label_maps import score_label_maps
from util.eval.metrics import match_by_stem, mean_scores, score_pairs
from util.image_io import find_images, read_image, save_tensor_image

# Lower is better for these; higher for the rest (shown in the summary table).
LOWER_IS_BETTER = ("l1", "fid", "kid")


def load_batches(paths: List[str], resize: Callable, batch_size: int):
    """Yield (B, 3, S, S) tensors in [-1, 1] of the images at `paths`, each brought to the feature
    net's input size by `resize` ((1, C, H, W) -> (1, 3, S, S), the extractor's own `resize`)."""
    for start in range(0, len(paths), batch_size):
        images = [resize(read_image(path).unit(3)[None] * 2 - 1)[0] for path in paths[start:start + batch_size]]
        yield torch.stack(images)


@torch.no_grad()
def feature_stats(paths: List[str], extractor: torch.nn.Module, device: torch.device, batch_size: int = 32) -> fid_lib.FeatureStats:
    """Run `extractor` over the image files in batches on `device`; returns their accumulated FeatureStats."""
    stats = fid_lib.FeatureStats()
    for batch in load_batches(paths, extractor.resize, batch_size):
        stats.update(extractor(batch.to(device)))
    return stats


class Evaluator:
    """Scores lists of image files: paired metrics against targets, FID/KID against a real folder,
    and (with `label_palette`) segmentation scores of output label maps against the targets.

    The feature network is built (and its weights checked) on first use, and the real folder's
    statistics are cached, so repeated evaluations (every --eval_freq epochs) are cheap. When no
    weight file was given and the network's weights are not installed, FID/KID are skipped with one
    warning line (paired metrics still run); a weight file that was given but is bad is an error.
    """

    def __init__(self, device: torch.device,
                 feature_extractor: str = "tf_inception",  # --feature_extractor: FEATURE_EXTRACTORS entry for FID/KID
                 weights: Optional[str] = None,            # --fid_weights / --inception_weights: that network's weight file
                 kid_subset_size: int = 1000,              # --kid_subset_size: images per KID subset
                 kid_subsets: int = 100,                   # --kid_subsets: subsets averaged
                 label_palette: Optional[str] = None):     # --label_palette: 'auto' (from the targets), a NAMED_PALETTES name, or None
        self.device = device
        self.feature_extractor, self.weights = feature_extractor, weights
        self.kid_subset_size, self.kid_subsets = kid_subset_size, kid_subsets
        self.label_palette = label_palette
        self._extractor = None
        self._real_cache: Dict[str, fid_lib.FeatureStats] = {}

    def extractor(self) -> Optional[torch.nn.Module]:
        """The --feature_extractor network on the device (built once), or None (after one warning
        line) when no weight file was given and none is installed."""
        if self._extractor is None:
            try:
                self._extractor = FEATURE_EXTRACTORS.build(self.feature_extractor, self.weights).to(self.device)
            except UserError as err:
                if self.weights:
                    raise
                print(f"warning: FID/KID skipped, {err}")
                self._extractor = False
        return self._extractor or None

    def real_stats(self, real_dir: str) -> fid_lib.FeatureStats:
        """Feature statistics of every image under `real_dir` (cached)."""
        if real_dir not in self._real_cache:
            self._real_cache[real_dir] = feature_stats(find_images(real_dir), self.extractor(), self.device)
        return self._real_cache[real_dir]

    def evaluate(self, preds: List[str], targets: Optional[List[str]] = None,
                 real_dir: Optional[str] = None) -> Dict:
        """Score the image files `preds`.

        `targets` (same length, same sizes) gives paired PSNR/SSIM/L1 (and, with a label palette,
        label_pixel_acc, label_class_acc, label_miou, label_classes); `real_dir` gives FID/KID when a
        feature network is available. Returns {'metrics': {name: float, ..., 'count': n}, 'per_image': [{'psnr', 'ssim', 'l1'}, ...]
        (empty without targets), 'feature_extractor': name}.
        """
        metrics: Dict[str, float] = {"count": len(preds)}
        per_image = []
        if targets:
            per_image = score_pairs(preds, targets, self.device)
            metrics.update(mean_scores(per_image))
        if targets and self.label_palette:
            metrics.update(score_label_maps(preds, targets, None if self.label_palette == "auto" else self.label_palette))
        if real_dir and self.extractor() is None:
            real_dir = None
        if real_dir:
            generated, real = feature_stats(preds, self.extractor(), self.device), self.real_stats(real_dir)
            if min(generated.count, real.count) < 2:
                print(f"FID/KID skipped: they need at least 2 images on each side ({generated.count} generated, {real.count} real)")
            else:
                metrics["fid"] = fid_lib.fid(generated, real)
                metrics.update(fid_lib.kid(generated.features(), real.features(), self.kid_subset_size, self.kid_subsets))
        return {"metrics": metrics, "per_image": per_image, "feature_extractor": self.feature_extractor if real_dir else None}


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

    Created before translating, so a missing --target_dir or feature network fails early.
    """

    def __init__(self, evaluator: Evaluator,
                 target_dir: Optional[str] = None,   # --target_dir: ground truth with the inputs' names (unaligned data)
                 real_dir: Optional[str] = None,     # real target-domain images for FID/KID (--fid_real_dir or <dataroot>/<phase>B)
                 run_info: Optional[Dict] = None):   # written into metrics.json (name, epoch, direction)
        self.evaluator, self.target_dir, self.real_dir = evaluator, target_dir, real_dir
        self.run_info = run_info or {}
        if target_dir and not os.path.isdir(target_dir):
            raise UserError(f"--target_dir {target_dir} is not a folder")
        if real_dir and not os.path.isdir(real_dir):
            raise UserError(f"--fid_real_dir {real_dir} is not a folder")
        if real_dir:
            evaluator.extractor()  # fail (or warn) now, not after translating everything

    def run(self, out_dir: str, rows: List[Dict]) -> Dict[str, float]:
        """Score `rows` (test.py's per-image dicts of paths relative to `out_dir`), add each row's scores
        as row['metrics'], write out_dir/metrics.json, print the table; returns the summary metrics."""
        preds = [os.path.join(out_dir, row["output"]) for row in rows]
        targets = None
        if self.target_dir:
            targets = match_by_stem([row["name"] for row in rows], None, self.target_dir)
            for row, target in zip(rows, targets):  # shown on the results page too
                row["target"] = os.path.relpath(target, out_dir)
        elif rows and all("target" in row for row in rows):
            targets = [os.path.join(out_dir, row["target"]) for row in rows]
        real_dir = self.real_dir or (os.path.join(out_dir, os.path.dirname(rows[0]["target"])) if targets and not self.target_dir else None)
        result = self.evaluator.evaluate(preds, targets, real_dir)
        for row, scores in zip(rows, result["per_image"]):
            row["metrics"] = scores
        write_metrics(os.path.join(out_dir, "metrics.json"), result,
                      {**self.run_info, "targets": self.target_dir or ("aligned pairs" if targets else None),
                       "fid_real_dir": real_dir})
        print(format_table(result["metrics"]))
        if not targets and not real_dir:
            print("no targets and no real images: pass --target_dir (paired ground truth) and/or --fid_real_dir")
        return result["metrics"]


class TrainingEvaluator:
    """train.py --eval_freq / --eval_every: translates a held-out dataset and scores it (train.py decides when).

    `dataset` yields {'A', 'A_paths'} items (and 'B' for aligned pairs, which then give both the paired
    metrics and the FID/KID reference); otherwise FID/KID use `real_dir` and paired metrics need
    `target_dir`. `translate(generator, images)` runs the generator on (1, C, H, W) images of any size
    (util.translate.inference.translate). Outputs are kept under <out_root>/epoch_<n>/.
    """

    def __init__(self, evaluator: Evaluator, dataset,
                 translate: Callable,                # (generator, images) -> outputs at the input size
                 out_root: str,                      # <checkpoints_dir>/<name>/eval
                 real_dir: Optional[str] = None,     # real target-domain images for FID/KID
                 target_dir: Optional[str] = None):  # --target_dir: paired ground truth for unaligned data
        self.evaluator, self.dataset, self.translate = evaluator, dataset, translate
        self.out_root = out_root
        self.real_dir, self.target_dir = real_dir, target_dir
        if real_dir:
            evaluator.extractor()  # fail (or warn) before training if the feature network cannot be built

    def evaluate(self, generator: torch.nn.Module, epoch: int, tag: Optional[str] = None) -> Dict[str, float]:
        """Translate the held-out images with a copy of `generator` and return their metrics.

        Outputs go to <out_root>/<tag> (default epoch_<epoch>; train.py --eval_every uses iter_<n>).

        A copy in the generator's own mode runs under a forked RNG, so evaluating changes neither
        the training networks (BatchNorm statistics) nor the random stream of the training run.
        """
        out_dir = os.path.join(self.out_root, tag or f"epoch_{epoch}")
        device = next(generator.parameters()).device
        preds, targets = [], []
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            net = copy.deepcopy(generator)
            for index in range(len(self.dataset)):
                item = self.dataset[index]
                name = f"{index:05d}_{os.path.basename(item['A_paths'])}"
                output = self.translate(net, item["A"][None].to(device))[0]
                preds.append(os.path.join(out_dir, "images", name))
                save_tensor_image(output, preds[-1])
                if "B" in item:
                    targets.append(os.path.join(out_dir, "targets", name))
                    save_tensor_image(item["B"], targets[-1])
        if self.target_dir and not targets:
            targets = match_by_stem([os.path.relpath(p, self.dataset.root) for p in self.dataset.A_paths],
                                    None, self.target_dir)
        real_dir = self.real_dir or (os.path.join(out_dir, "targets") if targets else None)
        return self.evaluator.evaluate(preds, targets or None, real_dir)["metrics"]
