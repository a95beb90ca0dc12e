"""benchmarks.speed runs the real model through the real options and writes its JSON report."""
import json
import os

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import speed as benchmark
from benchmarks import training_controls
from tests.helpers import build_nets, user_error


def test_benchmark_writes_json_with_numbers(tmp_path, capsys):
    out = tmp_path / "result.json"
    benchmark.main(["--gpu_ids", "-1", "--crop_size", "32", "--load_size", "32", "--ngf", "8", "--ndf", "8",
                    "--netG", "resnet_6blocks", "--warmup", "0", "--windows", "1", "--iters", "1",
                    "--variant", "plain", "--out", str(out)])
    report = json.loads(out.read_text())
    result = report["results"]["plain"]
    assert report["device"] and report["torch"]
    assert result["config"]["netG"] == "resnet_6blocks" and result["config"]["adam_impl"] == "for_loop"
    assert result["train_images_per_s"] == result["train_it_per_s"]   # batch 1
    assert 0 < result["infer_images_per_s"] < 1e5 and 0 <= result["data_fraction"] <= 1
    generator = build_nets("--dataroot", tmp_path, "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks")["G_A"]
    with FlopCounterMode(display=False) as counter:   # the generator's forward + backward, counted here
        generator(torch.randn(1, 3, 32, 32)).sum().backward()
    assert result["generator_fwd_bwd_gflop"] == counter.get_total_flops() / 1e9
    assert 100 < result["peak_host_rss_mib"] < 1e5
    assert result["peak_cuda_mib"] is None
    assert "plain" in capsys.readouterr().out


def test_variant_args_put_the_fast_path_after_user_flags():
    args = benchmark.variant_args("channels_last", ["--crop_size", "64"])
    assert args[:len(benchmark.PLAIN)] == benchmark.PLAIN and args[-1] == "--channels_last"
    assert benchmark.variant_args("defaults", ["--crop_size", "64"]) == ["--crop_size", "64"]


def test_benchmark_runs_cut_with_its_lazily_built_feature_heads(tmp_path):
    out = tmp_path / "cut.json"
    benchmark.main(["--gpu_ids", "-1", "--model", "cut", "--crop_size", "32", "--load_size", "32", "--ngf", "8",
                    "--ndf", "8", "--netG", "resnet_6blocks", "--num_patches", "16", "--netF_nc", "16",
                    "--warmup", "0", "--windows", "1", "--iters", "1", "--variant", "plain", "--out", str(out)])
    result = json.loads(out.read_text())["results"]["plain"]
    assert result["config"]["model"] == "cut" and result["train_it_per_s"] > 0


def test_cpu_peak_counts_cores_fma_lanes_and_clock():
    zen5 = {"flags": {"avx512f", "avx2", "fma", "avx512_bf16"}, "cpu MHz": "2500.0", "vendor_id": "AuthenticAMD",
            "cpu family": "26"}
    assert benchmark.cpu_peak_tflops(zen5, 2, "none")["peak"] == 2 * 2 * 16 * 2 * 2.5e9 / 1e12   # 0.32
    assert benchmark.cpu_peak_tflops(zen5, 2, "bf16")["peak"] == 2 * 0.32
    zen4 = {**zen5, "cpu family": "25"}   # 512-bit FMAs at half rate
    assert benchmark.cpu_peak_tflops(zen4, 1, "none")["peak"] == 1 * 2 * 8 * 2 * 2.5e9 / 1e12
    amx = {"flags": {"avx512f", "amx_bf16", "avx512_bf16"}, "cpu MHz": "2000", "vendor_id": "GenuineIntel"}
    assert benchmark.cpu_peak_tflops(amx, 4, "bf16")["peak"] == 4 * 2 * 16 * 2 * 2e9 * 16 / 1e12
    avx2 = {"flags": {"avx2", "fma"}, "cpu MHz": "3000"}
    assert benchmark.cpu_peak_tflops(avx2, 1, "bf16")["peak"] == 1 * 2 * 8 * 2 * 3e9 / 1e12   # emulated bf16
    assert benchmark.cpu_peak_tflops({"flags": set()}, 1, "none")["peak"] is None


def test_benchmark_reports_cpu_fraction_of_peak_and_resolved_amp(tmp_path):
    out = tmp_path / "auto.json"
    benchmark.main(["--gpu_ids", "-1", "--crop_size", "32", "--load_size", "32", "--ngf", "8", "--ndf", "8",
                    "--netG", "resnet_6blocks", "--warmup", "0", "--windows", "1", "--iters", "1",
                    "--variant", "amp_auto", "--out", str(out)])
    result = json.loads(out.read_text())["results"]["amp_auto"]
    assert result["config"]["amp"] == "auto" and result["config"]["amp_resolved"] in ("bf16", "none")
    if result["device_peak_tflops"] is not None:   # a Linux CPU with a clock in /proc/cpuinfo
        assert result["generator_fraction_of_peak"] == result["generator_achieved_tflops"] / result["device_peak_tflops"]
        assert "FMA" in result["device_peak_basis"]


def test_versus_baseline_alternates_checkouts_and_reports_spreads(tmp_path, capsys):
    out = tmp_path / "vs.json"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    benchmark.main(["--gpu_ids", "-1", "--crop_size", "32", "--load_size", "32", "--ngf", "8", "--ndf", "8",
                    "--netG", "resnet_6blocks", "--warmup", "0", "--windows", "1", "--iters", "1", "--threads", "1",
                    "--baseline", root, "--rounds", "1", "--out", str(out)])
    summary = json.loads(out.read_text())["results"]["versus_baseline"]
    for side in ("baseline", "this"):
        it = summary[side]["train_it_per_s"]
        assert 0 < it["min"] <= it["median"] <= it["max"] and len(summary[side]["runs"]) == 1
    assert summary["speedup_of_medians"] == summary["this"]["train_it_per_s"]["median"] / summary["baseline"]["train_it_per_s"]["median"]
    assert "speed-up (ratio of medians)" in capsys.readouterr().out


def test_versus_baseline_needs_a_checkout(tmp_path, capsys):
    err = user_error(capsys, benchmark.main, ["--gpu_ids", "-1", "--baseline", str(tmp_path)])
    assert err.startswith("error: --baseline") and "benchmarks/speed.py" in err


def test_training_controls_benchmark_skips_without_the_facades_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(training_controls, "FACADES", str(tmp_path / "absent"))
    training_controls.main(["--work_dir", str(tmp_path / "work"), "--out", str(tmp_path / "out.json")])
    assert "skipped: no facades data" in capsys.readouterr().out and not (tmp_path / "out.json").exists()
