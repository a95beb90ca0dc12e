"""Recipe benchmark: what the image-quality and small-data options do on real data, at a CPU budget.

    python -m benchmarks.recipes                    # all parts; writes benchmarks/results/recipes-<date>.json
    python -m benchmarks.recipes --parts cost       # only the cost per iteration of each option

Parts (each row: same seed, same iteration count, same data; one CPU thread per process):
  * pix2pix: facades labels -> photo (BtoA), ResNet-6 generator, load 72 / crop 64; baseline vs
    --netD multiscale --lambda_feat 10 vs --upsample resize_conv (and --antialias). Scored on the 106
    test pairs: L1/PSNR/SSIM to the photo, FID/KID (random_conv features) against the test photos, and
    the checkerboard score (share of the outputs' spectral power at the Nyquist frequencies, where
    stride-2 transposed convolutions leave their period-2 pattern; real photos are the reference).
  * small: CUT on 100 facades label maps vs 100 photos (unpaired), without / with --diffaug and with
    --ada_target; FID/KID of the outputs on the 106 held-out label maps against the held-out photos.
  * cost: ms per training iteration of each option, measured interleaved (round robin) on a fixed batch.

FID/KID use the fixed random `random_conv` network: comparable between these rows only, not to papers.
The data is read from ../shared/data/facades; without it the benchmark stops with a reason.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from PIL import Image, ImageDraw
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import test as test_script
import train as train_script
from models import create_model
from datasets.source import results_subfolder
from options.train_options import TrainOptions
from util.checkpoint import Checkpointer
from util.errors import UserError, exit_on_user_error
from util.image_io import find_images

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FACADES = os.path.join(REPO_ROOT, "..", "shared", "data", "facades")
SIZE, LOAD = 64, 72
COMMON = ["--gpu_ids", "-1", "--num_threads", "0", "--seed", "0", "--netG", "resnet_6blocks", "--ngf", "16",
          "--ndf", "16", "--norm", "instance", "--load_size", str(LOAD), "--crop_size", str(SIZE),
          "--print_freq", "50", "--display_freq", "100000", "--save_latest_freq", "100000"]
PIX2PIX = ["--model", "pix2pix", "--direction", "BtoA", "--dataset_mode", "aligned"]
PIX2PIX_ROWS = {
    "baseline": [],
    "--netD multiscale --num_D 2 --lambda_feat 10": ["--netD", "multiscale", "--num_D", "2", "--lambda_feat", "10"],
    "--upsample resize_conv": ["--upsample", "resize_conv"],
    "--antialias": ["--antialias"],
}
CUT = ["--model", "cut", "--num_patches", "64", "--netF_nc", "64"]
DIFFAUG = ["--diffaug", "color,translation,cutout"]
SMALL_ROWS = {
    "no augmentation": [],
    "--diffaug color,translation,cutout": DIFFAUG,
    "--diffaug ... --ada_target 0.6 --ada_speed 500": DIFFAUG + ["--ada_target", "0.6", "--ada_speed", "500"],
}
COST_ROWS = {
    "baseline": [],
    "--diffaug color,translation,cutout": DIFFAUG,
    "--diffaug ... --ada_target 0.6": DIFFAUG + ["--ada_target", "0.6"],
    "--netD multiscale --num_D 2": ["--netD", "multiscale", "--num_D", "2"],
    "--netD multiscale --num_D 2 --lambda_feat 10": ["--netD", "multiscale", "--num_D", "2", "--lambda_feat", "10"],
    "--d_norm spectral": ["--d_norm", "spectral"],
    "--lambda_r1 1 --r1_every 16": ["--lambda_r1", "1", "--r1_every", "16"],
    "--lambda_r1 1 --r1_every 1": ["--lambda_r1", "1", "--r1_every", "1"],
    "--upsample resize_conv": ["--upsample", "resize_conv"],
    "--antialias": ["--antialias"],
    "--lambda_vgg 10 (random VGG: same cost)": ["--lambda_vgg", "10", "--vgg_weights", "random"],
}


def halves(path: str):
    """The left (A, photo) and right (B, label map) halves of a facades pair, as PIL images."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    return image.crop((0, 0, w // 2, h)), image.crop((w // 2, 0, w, h))


def at_training_scale(image: Image.Image) -> Image.Image:
    """Resize to LOAD and centre-crop SIZE: the scale the models are trained at."""
    image = image.resize((LOAD, LOAD), Image.BICUBIC)
    offset = (LOAD - SIZE) // 2
    return image.crop((offset, offset, offset + SIZE, offset + SIZE))


def prepare_data(work: str) -> Dict[str, str]:
    """Test pairs at the training scale (aligned), and the unpaired 100-image split for the small-data part."""
    if not os.path.isdir(os.path.join(FACADES, "train")):
        raise UserError(f"no facades data at {os.path.abspath(FACADES)}: the recipe benchmark needs ../shared/data/facades")
    aligned, unpaired = os.path.join(work, "facades64"), os.path.join(work, "facades_unpaired")
    for folder in ("facades64/test", "facades_unpaired/trainA", "facades_unpaired/trainB",
                   "facades_unpaired/testA", "facades_unpaired/testB", "facades64/test_photos"):
        os.makedirs(os.path.join(work, folder), exist_ok=True)
    for path in find_images(os.path.join(FACADES, "test")):
        stem = os.path.splitext(os.path.basename(path))[0]
        photo, label = (at_training_scale(h) for h in halves(path))
        pair = Image.new("RGB", (2 * SIZE, SIZE))
        pair.paste(photo, (0, 0))
        pair.paste(label, (SIZE, 0))
        pair.save(os.path.join(aligned, "test", f"{stem}.png"))
        photo.save(os.path.join(aligned, "test_photos", f"{stem}.png"))
        label.save(os.path.join(unpaired, "testA", f"{stem}.png"))
        photo.save(os.path.join(unpaired, "testB", f"{stem}.png"))
    for path in sorted(find_images(os.path.join(FACADES, "train")), key=lambda p: int(os.path.splitext(os.path.basename(p))[0]))[:100]:
        stem = os.path.splitext(os.path.basename(path))[0]
        photo, label = halves(path)
        label.save(os.path.join(unpaired, "trainA", f"{stem}.png"))
        photo.save(os.path.join(unpaired, "trainB", f"{stem}.png"))
    return {"aligned": aligned, "unpaired": unpaired}


def checkerboard_score(folder: str) -> float:
    """Mean share (x1000) of each image's non-DC spectral power at the Nyquist frequencies (H/2, 0), (0, W/2), (H/2, W/2)."""
    scores = []
    for path in find_images(folder):
        gray = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
        power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
        h, w = power.shape
        scores.append((power[h // 2, 0] + power[0, w // 2] + power[h // 2, w // 2]) / power.sum())
    return 1000 * float(np.mean(scores))


def train_and_score(name: str, flags: List[str], work: str, test_flags: List[str]) -> Dict:
    """Train run `name` with `flags`, translate the test split with test.py and return its metrics.

    Training is deterministic, so a run whose checkpoint is already in `work` is only re-scored
    (delete the work folder to retrain). Costs come from the interleaved `cost_part`, not from these
    runs' wall time, which on a shared machine says little.
    """
    ckpt, results = os.path.join(work, "checkpoints"), os.path.join(work, "results")
    if not os.path.isfile(os.path.join(ckpt, name, "latest.pt")):
        train_script.main([*COMMON, *flags, "--name", name, "--checkpoints_dir", ckpt])
    test_script.main(["--name", name, "--checkpoints_dir", ckpt, "--results_dir", results, "--gpu_ids", "-1",
                      "--num_threads", "0", "--eval_metrics", "--feature_extractor", "random_conv", *test_flags])
    direction = Checkpointer(os.path.join(ckpt, name)).options().get("direction", "AtoB")
    out_dir = os.path.join(results, name, results_subfolder("test", "latest", direction))
    with open(os.path.join(out_dir, "metrics.json")) as f:
        metrics = json.load(f)["metrics"]
    state = torch.load(os.path.join(ckpt, name, "latest.pt"), map_location="cpu", weights_only=True)
    row = {"flags": " ".join(flags), "iterations": state["total_iters"], "metrics": metrics,
           "checkerboard_x1000": round(checkerboard_score(os.path.join(out_dir, "images")), 3),
           "images": os.path.join(out_dir, "images")}
    if state["states"]["augment"]["p"] < 1:   # ADA: p at the end, and the largest value logged (every --print_freq)
        events = EventAccumulator(os.path.join(ckpt, name, "tb"), size_guidance={"scalars": 0})
        events.Reload()
        row["ada_p"] = {"final": round(state["states"]["augment"]["p"], 3),
                        "max_logged": round(max(e.value for e in events.Scalars("aug/p")), 3)}
    return row


def checkerboard_picture(rows: Dict, out: str, stems=("1", "27", "64"), zoom: int = 6) -> None:
    """Side by side, per test image: label map, each row's output and the photo; the top-left 32x32 crop, zoomed."""
    columns = [("input", os.path.join(os.path.dirname(next(iter(rows.values()))["images"]), "inputs"))]
    columns += [(label, row["images"]) for label, row in rows.items()]
    columns.append(("photo", os.path.join(os.path.dirname(next(iter(rows.values()))["images"]), "targets")))
    crop, header = SIZE // 2, 16
    cell = crop * zoom + 4
    sheet = Image.new("RGB", (len(columns) * cell, header + len(stems) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (label, folder) in enumerate(columns):
        draw.text((c * cell + 2, 2), label.replace(" --num_D 2 --lambda_feat 10", " + feat"), fill="black")
        for r, stem in enumerate(stems):
            tile = Image.open(os.path.join(folder, f"{stem}.png")).convert("RGB").crop((0, 0, crop, crop))
            sheet.paste(tile.resize((crop * zoom, crop * zoom), Image.NEAREST), (c * cell, header + r * cell))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    sheet.save(out)


def pix2pix_part(data: Dict[str, str], work: str, epochs: int) -> Dict:
    """pix2pix facades BtoA rows (`epochs` over the 400 training pairs)."""
    rows = {}
    for label, extra in PIX2PIX_ROWS.items():
        name = "pix2pix_" + "".join(c if c.isalnum() else "_" for c in label)[:40]
        rows[label] = train_and_score(name, [*PIX2PIX, "--dataroot", FACADES, "--n_epochs", str(epochs), "--n_epochs_decay", "0", *extra],
                                      work, ["--dataroot", data["aligned"], "--direction", "BtoA"])
    checkerboard_picture(rows, os.path.join(REPO_ROOT, "docs", "recipes_checkerboard.png"))
    rows["real test photos (reference)"] = {"checkerboard_x1000": round(checkerboard_score(os.path.join(data["aligned"], "test_photos")), 3)}
    rows["--lambda_vgg"] = {"not_run": "no VGG19 weights on this machine (vgg19-dcbb9e9d.pth is neither in the torch hub cache nor given with --vgg_weights)"}
    return rows


def small_data_part(data: Dict[str, str], work: str, epochs: int) -> Dict:
    """CUT on 100 unpaired facades rows."""
    rows = {}
    unpaired = data["unpaired"]
    for label, extra in SMALL_ROWS.items():
        name = "cut_" + "".join(c if c.isalnum() else "_" for c in label)[:40]
        rows[label] = train_and_score(name, [*CUT, "--dataroot", unpaired, "--n_epochs", str(epochs), "--n_epochs_decay", "0", *extra],
                                      work, ["--dataroot", unpaired, "--target_dir", os.path.join(unpaired, "testB"),
                                             "--fid_real_dir", os.path.join(unpaired, "testB")])
    return rows


def cost_part(rounds: int, iters: int) -> Dict:
    """Median ms per pix2pix training iteration (64 px, batch 1) of each option, measured round robin."""
    batch = {"A": torch.rand(1, 3, SIZE, SIZE) * 2 - 1, "B": torch.rand(1, 3, SIZE, SIZE) * 2 - 1}
    models = {}
    for label, extra in COST_ROWS.items():
        opt = TrainOptions().parse([*COMMON, *PIX2PIX, "--dataroot", FACADES, *extra])
        models[label] = create_model(opt, torch.device("cpu"))
    scalers = {label: train_script.make_scalers(m, torch.device("cpu"), "none") for label, m in models.items()}
    autocast = train_script.amp_autocast(torch.device("cpu"), "none")
    times = {label: [] for label in models}
    for round_index in range(rounds + 1):      # round 0 warms up
        for label, model in models.items():
            start = time.perf_counter()
            for _ in range(iters):
                train_script.train_iteration(model, batch, scalers[label], autocast)
            if round_index:
                times[label].append(1000 * (time.perf_counter() - start) / iters)
    base = statistics.median(times["baseline"])
    return {label: {"ms_per_iter": round(statistics.median(t), 1), "relative": round(statistics.median(t) / base, 2)}
            for label, t in times.items()}


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> None:
    """Run the chosen parts and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="pix2pix,small,cost", help="comma-separated: pix2pix, small, cost, picture")
    parser.add_argument("--work_dir", default="benchmarks/work/recipes", help="prepared data, checkpoints and results")
    parser.add_argument("--pix2pix_epochs", type=int, default=4, help="pix2pix epochs over the 400 training pairs per row (batch 1)")
    parser.add_argument("--small_epochs", type=int, default=10, help="CUT epochs over the 100 images per row")
    parser.add_argument("--cost_rounds", type=int, default=7, help="round-robin rounds of the cost part")
    parser.add_argument("--cost_iters", type=int, default=10, help="iterations per option per round")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/recipes-<date>.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    date = datetime.date.today().isoformat()
    out = args.out or os.path.join(REPO_ROOT, "benchmarks", "results", f"recipes-{date}.json")
    report = json.load(open(out)) if os.path.isfile(out) else {}
    report.update({"benchmark": __doc__.splitlines()[0], "date": date, "common_flags": " ".join(COMMON),
                   "feature_extractor": "random_conv (fixed random net: FID/KID not comparable to papers)",
                   "machine": {"torch_threads": 1, "torch": torch.__version__, "python": platform.python_version(),
                               "note": "shared 2-core CPU (other jobs running): timings are indicative"}})
    data = prepare_data(args.work_dir) if {"pix2pix", "small"} & set(parts) else None
    if "pix2pix" in parts:
        report["pix2pix_facades_BtoA"] = {"flags": " ".join(PIX2PIX), "iterations": 400 * args.pix2pix_epochs,
                                          "rows": pix2pix_part(data, args.work_dir, args.pix2pix_epochs)}
    if "small" in parts:
        report["cut_100_facades"] = {"flags": " ".join(CUT), "iterations": 100 * args.small_epochs,
                                     "rows": small_data_part(data, args.work_dir, args.small_epochs)}
    if "picture" in parts:   # redraw docs/recipes_checkerboard.png from the pix2pix rows of the report
        rows = {k: v for k, v in report["pix2pix_facades_BtoA"]["rows"].items() if "images" in v}
        checkerboard_picture(rows, os.path.join(REPO_ROOT, "docs", "recipes_checkerboard.png"))
    if "cost" in parts:
        report["cost_per_iteration_pix2pix_64px"] = cost_part(args.cost_rounds, args.cost_iters)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
