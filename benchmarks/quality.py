"""Quality benchmark: train on the sample dataset for a fixed budget on the CPU, score the held-out answers.

    python -m benchmarks.quality                       # CycleGAN, writes benchmarks/results/quality-<model>-<date>.json
    python -m benchmarks.quality --model cut --name sample_cut

The sample dataset's testB is the exact A -> B answer for testA, so PSNR/SSIM/L1 measure how well
the colour mapping was learnt; FID/KID use the small `random_conv` feature net (NOT comparable to
published Inception FIDs, but comparable between runs of this benchmark). The identity row
(input scored as output) is the floor a trained model must beat. Any extra arguments are passed
on to train.py, so other models and settings are benchmarked the same way.
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

import test as test_script
import train as train_script
from datasets.make_sample import make_sample
from util.checkpoint import Checkpointer
from util.device import select_device
from util.errors import UserError, exit_on_user_error
from util.eval.evaluator import Evaluator, format_table
from util.eval.metrics import match_by_stem
from util.image_io import find_images


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark; unknown arguments go to train.py (they override the --config file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cycle_gan", help="model to train (train.py --model)")
    parser.add_argument("--config", default=None, help="train.py experiment file (default: experiments/sample_<model without underscores>.json)")
    parser.add_argument("--name", default="quality_benchmark", help="experiment name under --work_dir")
    parser.add_argument("--work_dir", default="benchmarks/work", help="where the dataset, checkpoints and results go")
    parser.add_argument("--n_train", type=int, default=100, help="sample images per training domain")
    parser.add_argument("--n_test", type=int, default=50, help="held-out test images (scored against the answer)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (n_epochs 1 + n_epochs_decay rest): the fixed budget")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/quality-<model>-<date>.json)")
    args, train_extra = parser.parse_known_args(argv)
    config = args.config or os.path.join("experiments", f"sample_{args.model.replace('_', '')}.json")  # cycle_gan -> sample_cyclegan
    if not os.path.isfile(config):
        raise UserError(f"no experiment file {config} for --model {args.model}; pass --config")
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    data = os.path.join(args.work_dir, "sample")
    make_sample(data, size=64, n_train=args.n_train, n_test=args.n_test, seed=0)
    ckpt, results = os.path.join(args.work_dir, "checkpoints"), os.path.join(args.work_dir, "results")
    start = time.perf_counter()
    train_script.main(["--config", config, "--model", args.model, "--dataroot", data, "--name", args.name,
                       "--checkpoints_dir", ckpt, "--gpu_ids", "-1", "--num_threads", "0", "--seed", "0",
                       "--n_epochs", "1", "--n_epochs_decay", str(args.epochs - 1), *train_extra])
    train_seconds = time.perf_counter() - start
    eval_flags = ["--eval_metrics", "--feature_extractor", "random_conv", "--target_dir", os.path.join(data, "testB")]
    test_script.main(["--dataroot", data, "--name", args.name, "--checkpoints_dir", ckpt, "--results_dir", results,
                      "--gpu_ids", "-1", "--num_threads", "0", *eval_flags])
    out_dir = os.path.join(results, args.name, "test_latest")
    with open(os.path.join(out_dir, "metrics.json")) as f:
        trained = json.load(f)["metrics"]

    # The floor: the untranslated input scored as if it were the output.
    evaluator = Evaluator(select_device("-1"), feature_extractor="random_conv")
    inputs = find_images(os.path.join(data, "testA"))
    identity = evaluator.evaluate(inputs, match_by_stem(inputs, os.path.join(data, "testA"), os.path.join(data, "testB")),
                                  os.path.join(data, "testB"))["metrics"]
    options = Checkpointer(os.path.join(ckpt, args.name)).options()
    report = {
        "benchmark": "quality on the sample dataset (testB = exact answer for testA)",
        "date": datetime.date.today().isoformat(),
        "model": args.model,
        "train_options": {k: options[k] for k in ("netG", "ngf", "ndf", "load_size", "crop_size", "batch_size",
                                                  "n_epochs", "n_epochs_decay", "lr", "seed") if k in options},
        "train_images": args.n_train, "test_images": args.n_test,
        "train_iterations": args.epochs * args.n_train // int(options.get("batch_size", 1)),
        "train_seconds": round(train_seconds, 1),
        "feature_extractor": "random_conv (fixed random net: FID/KID not comparable to papers)",
        "trained": trained,
        "identity_baseline": identity,
        "machine": {"cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "python": platform.python_version()},
        "results_page": os.path.join(out_dir, "index.html"),
    }
    out = args.out or os.path.join("benchmarks", "results", f"quality-{args.model}-{report['date']}.json")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\ntrained {args.model} ({report['train_iterations']} iterations, {train_seconds:.0f} s):\n{format_table(trained)}")
    print(f"\nidentity baseline (input as output):\n{format_table(identity)}\nwrote {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
