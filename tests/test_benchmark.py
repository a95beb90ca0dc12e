"""benchmarks.speed runs the real model through the real options and writes its JSON report."""
import json

from benchmarks import speed as benchmark
from benchmarks import training_controls


def test_benchmark_writes_json_with_numbers(tmp_path, capsys):
    out = tmp_path / "result.json"
    benchmark.main(["--gpu_ids", "-1", "--crop_size", "32", "--load_size", "32", "--ngf", "8", "--ndf", "8",
                    "--netG", "resnet_6blocks", "--warmup", "0", "--windows", "1", "--iters", "1",
                    "--variant", "plain", "--out", str(out)])
    report = json.loads(out.read_text())
    result = report["results"]["plain"]
    assert report["device"] and report["torch"]
    assert result["config"]["netG"] == "resnet_6blocks" and result["config"]["adam_impl"] == "for_loop"
    assert result["train_it_per_s"] > 0 and result["infer_images_per_s"] > 0
    assert 0 <= result["data_fraction"] <= 1
    assert result["generator_fwd_bwd_gflop"] > 0 and result["peak_host_rss_mib"] > 0
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


def test_training_controls_benchmark_skips_without_the_facades_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(training_controls, "FACADES", str(tmp_path / "absent"))
    training_controls.main(["--work_dir", str(tmp_path / "work"), "--out", str(tmp_path / "out.json")])
    assert "skipped: no facades data" in capsys.readouterr().out and not (tmp_path / "out.json").exists()
