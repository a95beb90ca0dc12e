"""Training-controls benchmark on the real facades set: the val curve, best vs last checkpoint, EMA on vs off,
and the cost of validation and EMA, at a small CPU budget.

    python -m benchmarks.training_controls          # writes benchmarks/results/training-controls-<date>.json

pix2pix labels -> photo (BtoA) on a copy of ../shared/data/facades resized to 72x72 per side, so training
(load 72, crop 64) and validation (whole 72x72 images) see the same scale. Two runs with the same seed
and budget: validation (--eval_every, --monitor val/l1, --save_top_k 1), and the same with --ema_decay.
The time spent in validation and in EMA updates is measured inside the runs (timers around
TrainingEvaluator.evaluate and GeneratorEMA.update), since whole-run times on a shared CPU are too noisy
to subtract. FID/KID use the small random_conv network (comparable
between these runs only, not to published numbers). Skips with a reason when the data is absent.
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time
from typing import List, Optional

import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import train as train_script
from util.eval.evaluator import TrainingEvaluator
from util.train.ema import GeneratorEMA

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACADES = os.path.join(REPO_ROOT, "..", "shared", "data", "facades")


def resized_copy(src: str, dst: str, side: int, count: Optional[int]) -> None:
    """Write the first `count` (all when None) A|B pairs of `src` into `dst`, each half resized to side x side."""
    os.makedirs(dst, exist_ok=True)
    names = sorted(os.listdir(src), key=lambda n: int(os.path.splitext(n)[0]) if n[0].isdigit() else 0)
    for name in names[:count]:
        out = os.path.join(dst, os.path.splitext(name)[0] + ".png")
        if not os.path.exists(out):
            Image.open(os.path.join(src, name)).convert("RGB").resize((2 * side, side), Image.BICUBIC).save(out)


def val_curve(log_dir: str, tag: str) -> List[List[float]]:
    """[[iteration, value], ...] of the scalar `tag` in the TensorBoard logs under `log_dir`."""
    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    acc.Reload()
    return [[e.step, e.value] for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def timed(cls, method: str, totals: dict) -> None:
    """Wrap `cls.method` so that the seconds spent in it add up in totals[method] (benchmark instrumentation)."""
    original = getattr(cls, method)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[method] = totals.get(method, 0.0) + time.perf_counter() - start

    setattr(cls, method, wrapper)


def main(argv: Optional[List[str]] = None) -> None:
    """Run the two trainings and write the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work_dir", default="benchmarks/work/training_controls", help="where the data copy and checkpoints go")
    parser.add_argument("--n_train", type=int, default=50, help="training pairs used")
    parser.add_argument("--n_val", type=int, default=20, help="held-out test pairs scored at each validation")
    parser.add_argument("--epochs", type=int, default=4, help="epochs (2 constant + the rest decaying)")
    parser.add_argument("--eval_every", type=int, default=25, help="iterations between validations")
    parser.add_argument("--ema_decay", type=float, default=0.99, help="EMA decay of the EMA run")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/training-controls-<date>.json)")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(FACADES, "train")):
        print(f"skipped: no facades data at {os.path.normpath(FACADES)} (see the README's Training controls section)")
        return
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    data = os.path.join(args.work_dir, "facades72")
    resized_copy(os.path.join(FACADES, "train"), os.path.join(data, "train"), 72, args.n_train)
    resized_copy(os.path.join(FACADES, "test"), os.path.join(data, "test"), 72, None)
    ckpt = os.path.join(args.work_dir, "checkpoints")
    common = ["--dataroot", data, "--checkpoints_dir", ckpt, "--model", "pix2pix", "--direction", "BtoA",
              "--netG", "resnet_6blocks", "--ngf", "16", "--ndf", "16", "--load_size", "72", "--crop_size", "64",
              "--batch_size", "1", "--gpu_ids", "-1", "--num_threads", "0", "--seed", "0", "--print_freq", "25",
              "--display_freq", "100000", "--n_epochs", str(args.epochs // 2), "--n_epochs_decay", str(args.epochs - args.epochs // 2)]
    validation = ["--eval_every", str(args.eval_every), "--eval_phase", "test", "--eval_num", str(args.n_val),
                  "--monitor", "val/l1", "--save_top_k", "1", "--feature_extractor", "random_conv", "--kid_subsets", "10"]
    runs = {"val": validation, "val_ema": [*validation, "--ema_decay", str(args.ema_decay)]}
    results = {}
    totals: dict = {}
    timed(TrainingEvaluator, "evaluate", totals)
    timed(GeneratorEMA, "update", totals)
    for name, extra in runs.items():
        totals.clear()
        start = time.perf_counter()
        train_script.main([*common, "--name", name, *extra])
        seconds = time.perf_counter() - start
        log_dir = os.path.join(ckpt, name, "tb")
        curve = val_curve(log_dir, "val/l1")
        index_path = os.path.join(ckpt, name, "best_k.json")
        best = json.load(open(index_path))["checkpoints"][0] if os.path.exists(index_path) else None
        results[name] = {"train_seconds": round(seconds, 1), "validation_seconds": round(totals.get("evaluate", 0.0), 2),
                         "ema_seconds": round(totals.get("update", 0.0), 2), "val_l1_curve": curve,
                         "val_fid_curve": val_curve(log_dir, "val/fid"),
                         "best": best and {"val_l1": best["value"], "iteration": best["total_iters"], "checkpoint": best["label"]},
                         "last_val_l1": curve[-1][1] if curve else None}
    evaluations = len(results["val"]["val_l1_curve"])
    summary = {
        "date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(), "python": sys.version.split()[0], "torch": torch.__version__,
        "setting": {"n_train": args.n_train, "n_val": args.n_val, "epochs": args.epochs, "eval_every": args.eval_every,
                    "ema_decay": args.ema_decay, "iterations": args.n_train * args.epochs, "size": "load 72 / crop 64, val 72x72"},
        "runs": results,
        "cost_per_epoch_seconds": {
            "validation": round(results["val"]["validation_seconds"] / args.epochs, 2),
            "ema": round(results["val_ema"]["ema_seconds"] / args.epochs, 2),
            "whole_epoch": round(results["val"]["train_seconds"] / args.epochs, 2),
            "evaluations_per_epoch": evaluations / args.epochs,
        },
    }
    out = args.out or os.path.join(REPO_ROOT, "benchmarks", "results", f"training-controls-{summary['date']}.json")
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary["cost_per_epoch_seconds"]), "\n", {k: (v["best"], v["last_val_l1"]) for k, v in results.items()})
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
