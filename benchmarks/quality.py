"""Quality benchmark: train for a fixed budget on the CPU, score the held-out split.

    python -m benchmarks.quality                       # CycleGAN on the synthetic sample set
    python -m benchmarks.quality --model cut --name sample_cut
    python -m benchmarks.quality --dataroot ../shared/data/facades --model pix2pix --direction BtoA \
        --iters 800 --name facades_pix2pix_BtoA --load_size 143 --crop_size 128 --netG unet_128

Without --dataroot it trains on the synthetic sample set, whose testB is the exact A -> B answer for
testA, so PSNR/SSIM/L1 measure how well the colour mapping was learnt; FID/KID use the small
`random_conv` feature net (NOT comparable to published Inception FIDs, but comparable between runs
of this benchmark), and the identity row (input scored as output) is the floor a trained model must
beat. With --dataroot (aligned train/ + test/ pairs, or trainA/trainB/testA/testB whose test halves
have the same file names, e.g. made by benchmarks/split_pairs.py) it trains with the model's own
defaults, scores the whole test split with PSNR/SSIM/L1, FID/KID with the TF Inception of the FID
papers (tf_inception) and, with --label_palette, label accuracy; and writes a side-by-side picture
(input | output | truth). Any extra arguments are passed on to train.py.
"""
import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from typing import List, Optional

import torch

import test as test_script
import train as train_script
from datasets.make_sample import make_sample
from datasets.source import direction_sides, results_subfolder
from util.checkpoint import Checkpointer
from util.device import select_device
from util.errors import UserError, exit_on_user_error
from util.eval.evaluator import Evaluator, format_table
from util.eval.metrics import match_by_stem
from util.image_io import find_images, read_image, save_tensor_image


def training_images(dataroot: str, phase: str = "train") -> int:
    """Images one training epoch iterates over: the pairs in <dataroot>/<phase>/, or the larger of
    <phase>A/ and <phase>B/ (the unaligned dataset's length)."""
    pairs = os.path.join(dataroot, phase)
    if os.path.isdir(pairs) and not os.path.isdir(pairs + "A"):
        return len(find_images(pairs))
    return max(len(find_images(pairs + side)) if os.path.isdir(pairs + side) else 0 for side in "AB")


def budget_flags(iters: int, images: int) -> List[str]:
    """train.py flags for about `iters` iterations (batch size 1) over a training set of `images`:
    whole epochs, half at the initial learning rate and half decaying (the models' schedule), each
    over the first ceil(iters / epochs) images when a whole epoch would overshoot the budget."""
    epochs = max(math.ceil(iters / max(images, 1)), 1)
    per_epoch = min(math.ceil(iters / epochs), images)
    return ["--n_epochs", str(math.ceil(epochs / 2)), "--n_epochs_decay", str(epochs // 2),
            "--max_dataset_size", str(per_epoch)]


def side_by_side(rows: List[List[str]], path: str, cell: int = 128) -> None:
    """Write one picture of `rows` ([input, output, truth] image paths each): cell x cell tiles, one
    row per entry, columns in that order."""
    tiles = []
    for row in rows:
        images = [read_image(p).unit(3)[None] for p in row]
        tiles.append(torch.cat([torch.nn.functional.interpolate(x, size=(cell, cell), mode="bilinear", antialias=True,
                                                                align_corners=False)[0] for x in images], 2))
    save_tensor_image(torch.cat(tiles, 1).clamp(0, 1) * 2 - 1, path)


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> None:
    """Run the benchmark; unknown arguments go to train.py (they override the --config file)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cycle_gan", help="model to train (train.py --model)")
    parser.add_argument("--dataroot", default=None, help="dataset folder to train and score on (default: the synthetic sample set, made under --work_dir)")
    parser.add_argument("--direction", default=None, choices=["AtoB", "BtoA"], help="train.py/test.py --direction (default: the model's, AtoB)")
    parser.add_argument("--config", default=None, help="train.py experiment file (default: experiments/sample_<model without underscores>.json for the sample set, none with --dataroot)")
    parser.add_argument("--name", default="quality_benchmark", help="experiment name under --work_dir")
    parser.add_argument("--work_dir", default="benchmarks/work", help="where the dataset, checkpoints and results go")
    parser.add_argument("--n_train", type=int, default=100, help="sample images per training domain (sample set only)")
    parser.add_argument("--n_test", type=int, default=50, help="held-out test images (sample set only; --dataroot scores its whole test split)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs (n_epochs 1 + n_epochs_decay rest): the fixed budget of the sample set")
    parser.add_argument("--iters", type=int, default=None, help="fixed budget in iterations instead of --epochs (see budget_flags); the default with --dataroot is 1000")
    parser.add_argument("--feature_extractor", default=None, help="FID/KID features (default: random_conv for the sample set, tf_inception with --dataroot)")
    parser.add_argument("--label_palette", default="none", help="test.py --label_palette: score outputs as label maps (photo -> labels tasks)")
    parser.add_argument("--picture", default=None, help="side-by-side PNG, input | output | truth (default with --dataroot: docs/quality-<name>.png)")
    parser.add_argument("--picture_rows", type=int, default=8, help="rows of the side-by-side picture")
    parser.add_argument("--gpu_ids", default="-1", help="train.py/test.py --gpu_ids: -1 = the CPU budget, 0 = the first GPU")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/quality-<name or model>-<date>.json)")
    args, train_extra = parser.parse_known_args(argv)
    real = args.dataroot is not None
    config = args.config or (None if real else os.path.join("experiments", f"sample_{args.model.replace('_', '')}.json"))
    if config and not os.path.isfile(config):
        raise UserError(f"no experiment file {config} for --model {args.model}; pass --config")
    extractor = args.feature_extractor or ("tf_inception" if real else "random_conv")
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    data = args.dataroot
    if real:
        if not os.path.isdir(data):
            raise UserError(f"--dataroot {data} is not a folder")
        images = training_images(data)
        budget = budget_flags(args.iters or 1000, images)
    else:
        data = os.path.join(args.work_dir, "sample")
        make_sample(data, size=64, n_train=args.n_train, n_test=args.n_test, seed=0)
        images = args.n_train
        budget = budget_flags(args.iters, images) if args.iters else ["--n_epochs", "1", "--n_epochs_decay", str(args.epochs - 1)]
    direction = ["--direction", args.direction] if args.direction else []
    ckpt, results = os.path.join(args.work_dir, "checkpoints"), os.path.join(args.work_dir, "results")
    start = time.perf_counter()
    train_script.main([*(["--config", config] if config else []), "--model", args.model, "--dataroot", data, "--name", args.name,
                       "--checkpoints_dir", ckpt, "--gpu_ids", args.gpu_ids, "--num_threads", "0", "--seed", "0",
                       *direction, *budget, *train_extra])
    train_seconds = time.perf_counter() - start
    options = Checkpointer(os.path.join(ckpt, args.name)).options()
    trained_direction = options.get("direction", "AtoB")   # test.py reads it from the run's opt.json too
    source_side, target_side = direction_sides(trained_direction)
    target_dir = os.path.join(data, "test" + target_side)
    eval_flags = ["--eval_metrics", "--feature_extractor", extractor, "--label_palette", args.label_palette,
                  *(["--target_dir", target_dir] if os.path.isdir(target_dir) else [])]
    start = time.perf_counter()
    test_script.main(["--dataroot", data, "--name", args.name, "--checkpoints_dir", ckpt, "--results_dir", results,
                      "--gpu_ids", args.gpu_ids, "--num_threads", "0", *direction, *eval_flags])
    test_seconds = time.perf_counter() - start
    out_dir = os.path.join(results, args.name, results_subfolder("test", "latest", trained_direction))
    with open(os.path.join(out_dir, "metrics.json")) as f:
        trained = json.load(f)["metrics"]

    identity = None
    if not real:  # the floor: the untranslated input scored as if it were the output
        evaluator = Evaluator(select_device(args.gpu_ids), feature_extractor=extractor)
        inputs = find_images(os.path.join(data, "testA"))
        identity = evaluator.evaluate(inputs, match_by_stem(inputs, os.path.join(data, "testA"), os.path.join(data, "testB")),
                                      os.path.join(data, "testB"))["metrics"]
    picture = args.picture or (os.path.join("docs", f"quality-{args.name}.png") if real else None)
    if picture:
        outputs = sorted(find_images(os.path.join(out_dir, "images")), key=natural_key)[:args.picture_rows]
        relative = [os.path.relpath(p, os.path.join(out_dir, "images")) for p in outputs]
        truths = match_by_stem(relative, None, target_dir if os.path.isdir(target_dir) else os.path.join(out_dir, "targets"))
        side_by_side([[os.path.join(out_dir, "inputs", r), o, t] for r, o, t in zip(relative, outputs, truths)], picture)
    iterations = (int(options["n_epochs"]) + int(options["n_epochs_decay"])) * min(images, int(options.get("max_dataset_size", images))) \
        // int(options.get("batch_size", 1))
    report = {
        "benchmark": f"quality on {data}" if real else "quality on the sample dataset (testB = exact answer for testA)",
        "date": datetime.date.today().isoformat(),
        "model": args.model,
        "direction": options.get("direction"),
        "train_options": {k: options[k] for k in ("netG", "netD", "norm", "ngf", "ndf", "load_size", "crop_size", "batch_size",
                                                  "n_epochs", "n_epochs_decay", "max_dataset_size", "lr", "gan_mode", "seed")
                          if k in options},
        "train_extra_flags": train_extra,
        "train_images": images if not real else min(images, int(options.get("max_dataset_size", images))),
        "test_images": trained.get("count", args.n_test),
        "train_iterations": iterations,
        "train_seconds": round(train_seconds, 1),
        "test_and_score_seconds": round(test_seconds, 1),
        "feature_extractor": extractor + ("" if extractor == "tf_inception" else " (not the FID papers' network: FID/KID not comparable to papers)"),
        "trained": trained,
        **({"identity_baseline": identity} if identity else {}),
        "picture": picture,
        "machine": {"device": "cpu" if args.gpu_ids == "-1" else (torch.cuda.get_device_name(0) if torch.cuda.is_available() else args.gpu_ids),
                    "cpu_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "python": platform.python_version()},
        "results_page": os.path.join(out_dir, "index.html"),
    }
    out = args.out or os.path.join("benchmarks", "results", f"quality-{args.name if real else args.model}-{report['date']}.json")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\ntrained {args.model} ({iterations} iterations, {train_seconds:.0f} s):\n{format_table(trained)}")
    if identity:
        print(f"\nidentity baseline (input as output):\n{format_table(identity)}")
    print(f"wrote {out}" + (f" and {picture}" if picture else ""))


def natural_key(path: str):
    """Sort key that puts 2.png before 10.png."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


if __name__ == "__main__":
    main(sys.argv[1:])
