"""Measure training and inference speed of a model configuration, plain and with each fast path.

    python -m benchmarks.speed                                   # CycleGAN resnet_9blocks, crop 256, batch 1
    python -m benchmarks.speed --compare --crop_size 128         # plain vs each fast path, one table
    python -m benchmarks.speed --model pix2pix --netG unet_256 --data sample

Any train.py flag configures the model (it is built through TrainOptions and create_model, like
train.py). Each variant of --compare runs in its own process, so peak memory and compile caches do
not leak between them. Results go to benchmarks/results/<device>-<date>.json and a table is printed.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import torch
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from datasets import create_dataset
from datasets.make_sample import make_sample
from datasets.sampler import ResumableSampler
from models import create_model
from options.train_options import TrainOptions, speed_options
from util.device import cpu_info, resolve_amp, seed_everything, select_device
from util.errors import UserError, exit_on_user_error
from util.train.fast_paths import apply_fast_paths
from util.translate.inference import translate
from train import amp_autocast, make_scalers, train_iteration
from util.train.meters import peak_host_rss_mib

PLAIN = ["--adam_impl", "for_loop", "--cudnn_benchmark", "off", "--amp", "none"]
# name -> (flags added to the plain configuration, devices it applies to)
VARIANTS = {
    "plain": ([], ("cpu", "cuda")),
    "channels_last": (["--channels_last"], ("cpu", "cuda")),
    "compile": (["--compile"], ("cpu", "cuda")),
    "adam_foreach": (["--adam_impl", "foreach"], ("cpu", "cuda")),
    "adam_fused": (["--adam_impl", "fused"], ("cpu", "cuda")),
    "amp_bf16": (["--amp", "bf16"], ("cpu", "cuda")),
    "amp_fp16": (["--amp", "fp16"], ("cuda",)),
    "amp_auto": (["--amp", "auto"], ("cpu", "cuda")),
    "unbatched": (["--batched_calls", "off"], ("cpu", "cuda")),  # one network call per image set, as in the reference
    "cudnn_benchmark": (["--cudnn_benchmark", "on"], ("cuda",)),
    "defaults": (None, ("cpu", "cuda")),  # None: the train.py defaults, no plain overrides
}
# Dense peak TFLOP/s by GPU name substring: (fp32 incl. TF32 tensor cores off, bf16/fp16 tensor cores).
PEAK_TFLOPS = {"H200": (67.0, 989.0), "H100": (67.0, 989.0), "A100": (19.5, 312.0), "L4": (30.3, 121.0),
               "A10G": (31.2, 125.0), "V100": (15.7, 125.0), "T4": (8.1, 65.0), "RTX 4090": (82.6, 165.0)}
CPU_FMA_PIPES = 2  # vector FMA units per core (Xeon Scalable Gold/Platinum, AMD Zen 4/5); see cpu_peak_tflops


def parse_args(argv: List[str]):
    """Split `argv` into the benchmark's own flags and the train.py flags that configure the model."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--compare", action="store_true", help="measure plain and each fast path (each in its own process)")
    parser.add_argument("--variant", type=str, default="defaults", choices=list(VARIANTS), help="which configuration to measure without --compare")
    parser.add_argument("--data", type=str, default="synthetic", choices=["synthetic", "sample"], help="random tensors, or the sample dataset through the real DataLoader")
    parser.add_argument("--warmup", type=int, default=3, help="untimed iterations first (compilation, cudnn autotuning, allocator)")
    parser.add_argument("--windows", type=int, default=3, help="timed windows; the median window is reported")
    parser.add_argument("--iters", type=int, default=5, help="training iterations per timed window")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--baseline", type=str, default=None, help="another checkout of this project (e.g. main in a second worktree): measure --variant there and here alternately, --rounds processes each")
    parser.add_argument("--rounds", type=int, default=3, help="with --baseline: processes per checkout")
    parser.add_argument("--out", type=str, default=None, help="JSON file (default: benchmarks/results/<device>-<date>.json)")
    parser.add_argument("--json_only", type=str, default=None, help=argparse.SUPPRESS)  # child process of --compare
    return parser.parse_known_args(argv)


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = cpu_info().get("model name") or platform.processor() or "cpu"
    return f"{model} ({os.cpu_count()} cores)"


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock times are real."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def batches(opt, device: torch.device, data: str, workdir: str) -> Iterator[Dict]:
    """Endless training batches: random tensors, or the sample dataset through train.py's DataLoader setup."""
    if data == "synthetic":
        shape = (opt.batch_size, opt.input_nc, opt.crop_size, opt.crop_size)
        batch = {"A": torch.rand(shape) * 2 - 1, "B": torch.rand(shape[:1] + (opt.output_nc,) + shape[2:]) * 2 - 1}
        if device.type == "cuda":
            batch = {k: v.pin_memory() for k, v in batch.items()}
        while True:
            yield batch
    make_sample(opt.dataroot, size=opt.load_size, n_train=max(8, 4 * opt.batch_size), n_test=1, seed=0)
    dataset = create_dataset(opt)
    sampler = ResumableSampler(len(dataset), seed=opt.seed, drop_last=True, batch_size=opt.batch_size)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=opt.num_threads,
                        pin_memory=device.type == "cuda", drop_last=True, persistent_workers=opt.num_threads > 0)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def median_seconds(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of `fn()` over `repeats` calls (after one untimed call)."""
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(train_args: List[str], bench) -> Dict:
    """Build the model from `train_args`, time training and inference; return the numbers."""
    workdir = tempfile.mkdtemp(prefix="benchmark-")
    os.makedirs(os.path.join(workdir, "data"))   # synthetic runs read nothing; --data sample fills it
    opt = TrainOptions().parse(["--dataroot", os.path.join(workdir, "data"), "--checkpoints_dir", workdir,
                                "--name", "benchmark", *train_args])
    device = select_device(opt.gpu_ids)
    seed_everything(opt.seed)
    model = create_model(opt, device)
    data = batches(opt, device, bench.data, workdir)
    model.initialize_from_batch(next(data))   # as train.py does: CUT builds its feature heads here
    apply_fast_paths(model.nets, device, **speed_options(opt))
    amp = resolve_amp(opt.amp, device)
    scalers, autocast = make_scalers(model, device, amp), amp_autocast(device, amp)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    for _ in range(bench.warmup):
        train_iteration(model, next(data), scalers, autocast)
    window_times, data_times = [], []
    for _ in range(bench.windows):
        sync(device)
        start, waited = time.perf_counter(), 0.0
        for _ in range(bench.iters):
            fetch = time.perf_counter()
            batch = next(data)
            waited += time.perf_counter() - fetch
            train_iteration(model, batch, scalers, autocast)
        sync(device)
        window_times.append(time.perf_counter() - start)
        data_times.append(waited)
    window = statistics.median(window_times)
    result = {
        "train_it_per_s": bench.iters / window,
        "train_images_per_s": bench.iters * opt.batch_size / window,
        "data_fraction": statistics.median(d / w for d, w in zip(data_times, window_times)),
        "window_seconds": window_times,
    }
    result.update(inference_and_flops(model, opt, device, autocast, amp))
    result["peak_host_rss_mib"] = peak_host_rss_mib()
    result["peak_cuda_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    result["config"] = {k: getattr(opt, k) for k in ("model", "netG", "netD", "ngf", "ndf", "norm", "crop_size", "batch_size",
                                                     "amp", "channels_last", "compile", "adam_impl", "cudnn_benchmark", "gan_mode",
                                                     "batched_calls")}
    result["config"]["amp_resolved"] = amp
    result["device"] = device_name(device)
    return result


def cpu_peak_tflops(info: Dict, cores: int, amp: str) -> Dict:
    """Dense peak TFLOP/s of `cores` cores of the CPU described by `info` (util.device.cpu_info) for `amp`.

    cores x CPU_FMA_PIPES x FMA lanes (fp32: 16 with avx512f, 8 with avx2+fma, 4 otherwise) x 2 FLOP
    x the 'cpu MHz' clock. AMD family 25 (Zen 3/4) runs 512-bit FMAs at half rate, so counts 8 lanes.
    bf16 doubles the lanes with avx512_bf16 (pair dot products) and is 16x fp32 with amx_bf16;
    without either it is emulated and compared with the fp32 peak. Turbo clocks above 'cpu MHz' can
    push the fraction of peak past 1. Returns {'peak': TFLOP/s or None, 'basis': how it was counted}.
    """
    flags, mhz = info["flags"], float(info.get("cpu MHz", 0) or 0)
    if not mhz:
        return {"peak": None, "basis": "no clock in /proc/cpuinfo"}
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= flags else 4
    if lanes == 16 and info.get("vendor_id") == "AuthenticAMD" and info.get("cpu family") == "25":
        lanes = 8
    basis = f"{cores} cores x {CPU_FMA_PIPES} FMA x {lanes} fp32 lanes x 2 x {mhz:.0f} MHz"
    scale = 1
    if amp != "none":
        scale = 16 if "amx_bf16" in flags else 2 if "avx512_bf16" in flags else 1
        basis += f" x {scale} for bf16"
    return {"peak": cores * CPU_FMA_PIPES * lanes * 2 * mhz * 1e6 * scale / 1e12, "basis": basis}


def physical_cores_used() -> int:
    """The torch threads, capped at the physical cores (hyperthreads share their core's FMA units)."""
    info = cpu_info()
    per_core = int(info.get("siblings", 1) or 1) // max(int(info.get("cpu cores", 1) or 1), 1)
    return max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // max(per_core, 1)))


def inference_and_flops(model, opt, device: torch.device, autocast, amp: str) -> Dict:
    """Inference images/s through util.translate.inference.translate, and the generator's FLOPs and achieved TFLOP/s.

    The achieved rate is compared with the device's peak for `amp`: known GPUs by name, CPUs from
    their flags and clock (`cpu_peak_tflops`).
    """
    name, input_nc, _ = model.inference_generator(opt, opt.direction)
    generator = model.nets[name]
    images = torch.rand(opt.batch_size, input_nc, opt.crop_size, opt.crop_size, device=device) * 2 - 1
    images = images.contiguous(memory_format=torch.channels_last if opt.channels_last else torch.contiguous_format)

    def infer():
        with autocast():
            translate(generator, images)

    def forward_backward():
        with autocast():
            out = generator(images)
        out.float().mean().backward()

    infer_seconds = median_seconds(infer, device, 5)
    with FlopCounterMode(display=False) as counter:
        forward_backward()
    flops = counter.get_total_flops()
    step_seconds = median_seconds(forward_backward, device, 5)
    generator.zero_grad(set_to_none=True)
    achieved = flops / step_seconds / 1e12
    peak, basis = None, None
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        peaks = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
        peak = None if peaks is None else peaks[1 if amp != "none" else 0]
        basis = None if peaks is None else f"{gpu} datasheet, dense {'bf16/fp16' if amp != 'none' else 'fp32'}"
    elif device.type == "cpu":
        cpu = cpu_peak_tflops(cpu_info(), physical_cores_used(), amp)
        peak, basis = cpu["peak"], cpu["basis"]
    return {"infer_images_per_s": opt.batch_size / infer_seconds,
            "generator_fwd_bwd_gflop": flops / 1e9,
            "generator_achieved_tflops": achieved,
            "device_peak_tflops": peak,
            "device_peak_basis": basis,
            "generator_fraction_of_peak": None if peak is None else achieved / peak}


def variant_args(name: str, train_args: List[str]) -> List[str]:
    """train.py flags for variant `name`: plain settings, the variant's flag, then the user's flags."""
    flags = VARIANTS[name][0]
    if flags is None:
        return list(train_args)
    return [*PLAIN, *train_args, *flags]


def run_variant(name: str, train_args: List[str], bench, cwd: Optional[str] = None) -> Dict:
    """Measure variant `name` in a fresh process of the checkout `cwd` (default: this one); its numbers, or {'error': ...}."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [sys.executable, "-m", "benchmarks.speed", "--variant", name, "--json_only", out.name,
               "--data", bench.data, "--warmup", str(bench.warmup), "--windows", str(bench.windows),
               "--iters", str(bench.iters), "--threads", str(bench.threads), *train_args]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        with open(out.name) as f:
            return json.load(f)


def compare(train_args: List[str], bench, device: torch.device) -> Dict[str, Dict]:
    """Measure each variant that applies to `device` in a fresh process; return name -> numbers (or error)."""
    results = {}
    for name, (_, devices) in VARIANTS.items():
        if device.type in devices:
            print(f"measuring {name} ...", flush=True)
            results[name] = run_variant(name, train_args, bench)
    return results


def spread(values: List[float]) -> Dict[str, float]:
    """{'min', 'median', 'max'} of `values`."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def versus_baseline(train_args: List[str], bench) -> Dict:
    """Measure --variant alternately in the --baseline checkout and in this one, --rounds processes each.

    The order is baseline, this, baseline, this, ... so that a drift of the machine's speed hits both
    alike. Returns per side ('baseline', 'this') the min/median/max of train it/s, peak host RSS and
    data-wait share over its runs (and the runs), the ratio of the median it/s, and the per-round ratios.
    """
    runs: Dict[str, List[Dict]] = {"baseline": [], "this": []}
    for round_number in range(1, bench.rounds + 1):
        for side, cwd in (("baseline", bench.baseline), ("this", None)):
            print(f"round {round_number}/{bench.rounds}: {side} ...", flush=True)
            runs[side].append(run_variant(bench.variant, train_args, bench, cwd))
    summary: Dict = {"baseline_dir": os.path.abspath(bench.baseline)}
    for side, results in runs.items():
        good = [r for r in results if "error" not in r]
        if not good:
            raise UserError(f"--baseline: every {side} run failed: {results[0]['error']}")
        summary[side] = {key: spread([r[key] for r in good]) for key in ("train_it_per_s", "peak_host_rss_mib", "data_fraction")}
        summary[side]["runs"] = results
    medians = {side: summary[side]["train_it_per_s"]["median"] for side in runs}
    summary["speedup_of_medians"] = medians["this"] / medians["baseline"]
    summary["speedup_per_round"] = spread([t["train_it_per_s"] / b["train_it_per_s"] for b, t in zip(*runs.values())
                                           if "error" not in b and "error" not in t])
    return summary


def versus_table(summary: Dict) -> str:
    """Text lines: train it/s and peak RSS (min / median / max) of each side, then the speed-up."""
    lines = [f"{'checkout':<10}{'train it/s min / median / max':>34}{'peak RSS MiB (median)':>24}{'data %':>9}"]
    for side in ("baseline", "this"):
        it, rss = summary[side]["train_it_per_s"], summary[side]["peak_host_rss_mib"]
        cells = f"{it['min']:.3f} / {it['median']:.3f} / {it['max']:.3f}"
        lines.append(f"{side:<10}{cells:>34}{rss['median']:>24.0f}{summary[side]['data_fraction']['median']:>9.1%}")
    per_round = summary["speedup_per_round"]
    lines.append(f"speed-up (ratio of medians): {summary['speedup_of_medians']:.3f}x; per round "
                 f"{per_round['min']:.3f} / {per_round['median']:.3f} / {per_round['max']:.3f}")
    return "\n".join(lines)


def summary_table(results: Dict[str, Dict]) -> str:
    """One text table: a row per variant."""
    cols = [("train it/s", "train_it_per_s", "{:.3f}"), ("img/s", "train_images_per_s", "{:.3f}"),
            ("data %", "data_fraction", "{:.1%}"), ("infer img/s", "infer_images_per_s", "{:.2f}"),
            ("G TFLOP/s", "generator_achieved_tflops", "{:.3f}"), ("% of peak", "generator_fraction_of_peak", "{:.0%}"),
            ("peak RSS MiB", "peak_host_rss_mib", "{:.0f}"),
            ("peak CUDA MiB", "peak_cuda_mib", "{:.0f}")]
    lines = [f"{'variant':<16}" + "".join(f"{title:>15}" for title, _, _ in cols)]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name:<16}  failed: {r['error']}")
            continue
        cells = [("-" if r.get(key) is None else fmt.format(r[key])) for _, key, fmt in cols]
        lines.append(f"{name:<16}" + "".join(f"{c:>15}" for c in cells))
    return "\n".join(lines)


@exit_on_user_error
def main(argv=None) -> None:
    """Run the benchmark configured by `argv` (default: sys.argv[1:])."""
    bench, train_args = parse_args(sys.argv[1:] if argv is None else argv)
    if bench.threads > 0:
        torch.set_num_threads(bench.threads)
    for flag in ("warmup", "windows", "iters"):
        if getattr(bench, flag) < (0 if flag == "warmup" else 1):
            raise UserError(f"--{flag} must be at least {0 if flag == 'warmup' else 1}")
    if bench.json_only:
        with open(bench.json_only, "w") as f:
            json.dump(measure(variant_args(bench.variant, train_args), bench), f)
        return
    if bench.baseline is not None and not os.path.isfile(os.path.join(bench.baseline, "benchmarks", "speed.py")):
        raise UserError(f"--baseline {bench.baseline}: no benchmarks/speed.py there; pass a checkout of this project")
    if bench.rounds < 1:
        raise UserError("--rounds must be at least 1")
    device = select_device(TrainOptions().parse(["--dataroot", ".", *train_args]).gpu_ids)
    if bench.baseline is not None:
        results = {"versus_baseline": versus_baseline(train_args, bench)}
    elif bench.compare:
        results = compare(train_args, bench, device)
    else:
        results = {bench.variant: measure(variant_args(bench.variant, train_args), bench)}
    name = device_name(device)
    report = {"device": name, "torch": torch.__version__, "date": datetime.date.today().isoformat(),
              "train_args": train_args, "data": bench.data, "warmup": bench.warmup, "windows": bench.windows,
              "iters_per_window": bench.iters, "torch_threads": torch.get_num_threads(), "results": results}
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    path = bench.out or os.path.join("benchmarks", "results", f"{slug}-{report['date']}.json")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    table = versus_table(results["versus_baseline"]) if bench.baseline is not None else summary_table(results)
    print(f"{name}, torch {torch.__version__}, {' '.join(train_args) or 'default config'}\n{table}\nwrote {path}")


if __name__ == "__main__":
    main()
