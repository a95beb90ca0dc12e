"""Train -> resume -> test on tiny real image files, through the same entry points users run."""
import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import pytest
import torch
from PIL import Image

from tests.helpers import ROOT_DIR, run_test, run_train, tensorboard_events, user_error
import train as train_script
import test as test_script


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_cycle_gan_three_iterations_writes_checkpoints_options_and_tensorboard(unaligned_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    run_train(unaligned_root, ckpt, "cg", "--max_dataset_size", "3", "--pool_size", "2")
    run_dir = ckpt / "cg"
    state = load(run_dir / "latest.pt")
    assert state["total_iters"] == 3 and state["epoch"] == 2 and state["epoch_iter"] == 0
    assert set(state["nets"]) == {"G_A", "G_B", "D_A", "D_B"}
    assert set(state["optimizers"]) == {"G", "D"}
    assert (run_dir / "1.pt").is_file()
    saved = json.loads((run_dir / "opt.json").read_text())
    assert saved["ngf"] == 8 and saved["netG"] == "resnet_6blocks" and saved["model"] == "cycle_gan"
    assert "[default: 64]" in (run_dir / "opt.txt").read_text()   # non-defaults are marked
    scalars, images, acc = tensorboard_events(str(run_dir / "tb"))
    for name in ("D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"):
        assert f"loss/{name}" in scalars
    assert {"lr/G", "lr/D"} <= scalars
    assert acc.Scalars("perf/images_per_s")[-1].value > 0
    assert acc.Scalars("perf/peak_memory_mib")[-1].value > 50      # a torch process holds far more than 50 MiB
    assert len(acc.Scalars("loss/cycle_A")) == 3                  # --print_freq 1
    assert "visuals" in images and len(acc.Images("visuals")) == 1  # --display_freq 2, 3 iterations


def test_pix2pix_trains_three_iterations_with_its_own_defaults(aligned_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    run_train(aligned_root, ckpt, "p2p", "--model", "pix2pix", "--netG", "unet_128", "--max_dataset_size", "3",
              "--load_size", "128", "--crop_size", "128")
    state = load(ckpt / "p2p" / "latest.pt")
    assert set(state["nets"]) == {"G", "D"} and state["total_iters"] == 3
    saved = json.loads((ckpt / "p2p" / "opt.json").read_text())
    assert saved["dataset_mode"] == "aligned" and saved["norm"] == "batch" and saved["gan_mode"] == "vanilla"
    assert saved["netG"] == "unet_128"  # the command line beats the model's default (unet_256)
    scalars, _, _ = tensorboard_events(str(ckpt / "p2p" / "tb"))
    assert {"loss/G_GAN", "loss/G_L1", "loss/D"} <= scalars
    # D sees (A, B) pairs: 6 input channels
    assert state["nets"]["D"]["model.0.weight"].shape[1] == 6


def test_continue_train_restores_iterations_and_optimizer_state(unaligned_root, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    common = ["--max_dataset_size", "4", "--pool_size", "0", "--lr_policy", "step", "--lr_decay_iters", "100"]
    run_train(unaligned_root, straight, "r", *common, "--n_epochs", "2")
    run_train(unaligned_root, resumed, "r", *common, "--n_epochs", "1")
    first = load(resumed / "r" / "latest.pt")
    assert first["total_iters"] == 4 and first["epoch"] == 2
    run_train(unaligned_root, resumed, "r", *common, "--n_epochs", "2", "--continue_train")
    a, b = load(straight / "r" / "latest.pt"), load(resumed / "r" / "latest.pt")
    assert b["total_iters"] == a["total_iters"] == 8
    adam_state = b["optimizers"]["G"]["state"][0]
    assert int(adam_state["step"]) == 8       # Adam's step count carried across the resume
    for net in a["nets"]:
        for key, value in a["nets"][net].items():
            assert torch.equal(value, b["nets"][net][key]), f"{net}.{key} differs after resume"


def test_test_py_translates_every_image_keeping_names_and_sizes(unaligned_root, tmp_path):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_train(unaligned_root, ckpt, "cg", "--max_dataset_size", "2")
    # no architecture flags: test.py reads them from opt.json (ngf 8, resnet_6blocks)
    run_test(unaligned_root, ckpt, results, "cg")
    out = results / "cg" / "test_latest"
    names = sorted(os.listdir(out / "images"))
    assert names == sorted(os.listdir(unaligned_root / "testA"))
    for name in names:
        assert Image.open(out / "images" / name).size == Image.open(unaligned_root / "testA" / name).size == (44, 30)

    class ImgCollector(HTMLParser):
        def __init__(self):
            super().__init__()
            self.srcs = []

        def handle_starttag(self, tag, attrs):
            if tag == "img":
                self.srcs.append(dict(attrs)["src"])

    page = ImgCollector()
    page.feed((out / "index.html").read_text())
    assert len(page.srcs) == 2 * len(names)                      # input and output per image
    assert all((out / src).is_file() for src in page.srcs)


def test_test_py_num_test_and_other_direction(unaligned_root, tmp_path):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_train(unaligned_root, ckpt, "cg", "--max_dataset_size", "1")
    run_test(unaligned_root, ckpt, results, "cg", "--direction", "BtoA", "--num_test", "2")
    assert sorted(os.listdir(results / "cg" / "test_latest_BtoA" / "images")) == ["img_000.png", "img_001.png"]


def test_config_file_sets_defaults_and_flags_override(unaligned_root, tmp_path):
    config = tmp_path / "exp.json"
    config.write_text(json.dumps({"ngf": 8, "ndf": 8, "netG": "resnet_6blocks", "lambda_A": 3.0, "pool_size": 0}))
    ckpt = tmp_path / "ckpt"
    run_train(unaligned_root, ckpt, "cfg", "--config", str(config), "--max_dataset_size", "1", "--lambda_A", "4.5")
    saved = json.loads((ckpt / "cfg" / "opt.json").read_text())
    assert saved["pool_size"] == 0 and saved["lambda_A"] == 4.5


def test_user_mistakes_are_one_line_errors(unaligned_root, tmp_path, capsys):
    ckpt = str(tmp_path / "ckpt")
    base = ["--checkpoints_dir", ckpt, "--gpu_ids", "-1", "--num_threads", "0"]
    err = user_error(capsys, train_script.main, ["--dataroot", str(tmp_path / "nope"), *base])
    assert "nope" in err and len(err.splitlines()) == 1
    err = user_error(capsys, train_script.main, ["--dataroot", str(unaligned_root), "--netG", "resnet_7", *base])
    assert "resnet_9blocks" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"not_an_option": 1}')
    err = user_error(capsys, train_script.main, ["--dataroot", str(unaligned_root), "--config", str(bad), *base])
    assert "not_an_option" in err
    err = user_error(capsys, train_script.main, ["--dataroot", str(unaligned_root), "--continue_train", *base])
    assert "latest.pt" in err
    err = user_error(capsys, test_script.main, ["--dataroot", str(unaligned_root), "--name", "missing", *base])
    assert "missing" in err and "latest.pt" in err


def test_cli_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "train.py", "--dataroot", str(tmp_path / "absent"), "--gpu_ids", "-1"],
                            cwd=ROOT_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert str(tmp_path / "absent") in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_gpu_request_without_cuda_is_a_clear_error(unaligned_root, tmp_path, capsys):
    err = user_error(capsys, train_script.main, ["--dataroot", str(unaligned_root), "--gpu_ids", "0",
                                                  "--checkpoints_dir", str(tmp_path)])
    assert "--gpu_ids -1" in err


def test_test_py_on_aligned_pairs_shows_targets(aligned_root, tmp_path):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_train(aligned_root, ckpt, "p2p", "--model", "pix2pix", "--netG", "resnet_6blocks", "--max_dataset_size", "2")
    run_test(aligned_root, ckpt, results, "p2p", "--eval")
    out = results / "p2p" / "test_latest"
    for folder in ("images", "inputs", "targets"):
        files = sorted(os.listdir(out / folder))
        assert files == ["img_000.png", "img_001.png"]
        assert Image.open(out / folder / files[0]).size == (32, 32)     # the A half of a 64x32 pair
    assert "<th>target</th>" in (out / "index.html").read_text()
