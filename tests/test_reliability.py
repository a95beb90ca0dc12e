"""Bad images, bad set-ups, safe loading, non-finite losses and disk failures, through the real entry points."""
import errno
import os

import numpy as np
import pytest
import torch
from PIL import Image

import models.cycle_gan_model as cycle_gan_model
import test as test_script
import train as train_script
from tests.helpers import write_images
from tests.helpers import error_line, run_test, run_train
from models import networks
from options.test_options import TestOptions


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- bad and odd images

def write_odd_images(folder):
    """One file per odd-but-valid kind the loader must convert."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.new("LA", (24, 20), (90, 128)).save(folder / "la.png")
    Image.new("RGBA", (24, 20), (255, 0, 0, 0)).save(folder / "rgba.png")
    pal = Image.new("P", (24, 20), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.save(folder / "pal.png", transparency=0)
    Image.new("CMYK", (24, 20), (0, 255, 255, 0)).save(folder / "cmyk.tif")
    Image.fromarray(np.full((20, 24), 40000, dtype=np.uint16)).save(folder / "sixteen.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20), (0, 0, 255)).save(folder / "exif.jpg", exif=exif)
    Image.new("RGB", (1, 1), (5, 6, 7)).save(folder / "one.png")
    Image.new("RGB", (6000, 4000), (50, 60, 70)).save(folder / "large.jpg", quality=50)  # a 24 MP photo


def test_odd_but_valid_images_train_without_error(tmp_path):
    write_odd_images(tmp_path / "data" / "trainA")
    write_images(tmp_path / "data" / "trainB", 2)
    run_train(tmp_path / "data", tmp_path / "ckpt", "odd", "--pool_size", "0", "--serial_batches")
    state = load(tmp_path / "ckpt" / "odd" / "latest.pt")
    assert state["total_iters"] == 9   # every file was one (RGB, 32x32) training sample
    assert all(torch.isfinite(v).all() for v in state["nets"]["G_A"].values() if v.is_floating_point())


def write_bad_dataset(root):
    write_images(root / "trainA", 3)
    write_images(root / "trainB", 3)
    (root / "trainA" / "img_001.png").write_bytes(b"")                           # zero bytes
    (root / "trainB" / "notes.jpg").write_text("this is text, not a JPEG")         # non-image, image suffix
    full = (root / "trainB" / "img_002.png").read_bytes()
    (root / "trainB" / "img_002.png").write_bytes(full[: len(full) // 3])          # truncated


def test_bad_image_stops_with_error_naming_file_and_flag(tmp_path, capsys):
    write_bad_dataset(tmp_path / "data")
    err = error_line(capsys, run_train, tmp_path / "data", tmp_path / "ckpt", "bad", "--serial_batches")
    assert len(err.splitlines()) == 1 and "cannot read image" in err and "--skip_bad_images" in err
    assert "img_001.png" in err   # sample 1 (serial order) is the first to hit a bad file


def test_skip_bad_images_warns_once_per_file_and_counts(tmp_path, capsys):
    write_bad_dataset(tmp_path / "data")
    run_train(tmp_path / "data", tmp_path / "ckpt", "bad", "--serial_batches", "--skip_bad_images",
              "--n_epochs", "2", "--pool_size", "0")
    captured = capsys.readouterr()
    warnings = [line[line.index("warning: "):] for line in captured.err.splitlines() if "warning: skipping" in line]
    assert sorted(os.path.basename(w.split()[4].rstrip(":")) for w in warnings) == [
        "img_001.png", "img_002.png", "notes.jpg"]   # one line per file, though met in both epochs
    # serial pairing of 4 samples (A0-2, B0-3): sample 1 skips A1, B2, B3; sample 2 skips B2, B3; sample 3 skips B3
    for epoch in (1, 2):
        assert f"epoch {epoch}: skipped unreadable images 6 times" in captured.out
    assert "skipped unreadable images 12 times in this run" in captured.out
    assert load(tmp_path / "ckpt" / "bad" / "latest.pt")["total_iters"] == 8


# ---------------------------------------------------------------- bad set-ups

def setup_case(tmp_path, case):
    """Return (train.py flags, text the one-line error must contain) for one mistake."""
    data = tmp_path / "data"
    write_images(data / "trainA", 2)
    write_images(data / "trainB", 2)
    write_images(tmp_path / "paired" / "train", 2, size=(64, 32))
    os.makedirs(tmp_path / "empty" / "trainA")
    write_images(tmp_path / "empty" / "trainB", 1)
    return {
        "missing dataroot": (["--dataroot", str(tmp_path / "nope")], "nope"),
        "no dataroot": ([], "--dataroot is required"),
        "empty trainA": (["--dataroot", str(tmp_path / "empty")], "no images found in"),
        "aligned layout, unaligned mode": (["--dataroot", str(tmp_path / "paired")], "--dataset_mode aligned"),
        "unaligned layout, aligned mode": (["--dataroot", str(data), "--model", "pix2pix"], "--dataset_mode unaligned"),
        "gpu without cuda": (["--dataroot", str(data), "--gpu_ids", "0"], "--gpu_ids -1"),
        "unknown netG": (["--dataroot", str(data), "--netG", "resnet_7"], "resnet_9blocks"),
        "crop > load": (["--dataroot", str(data), "--crop_size", "64"], "set --crop_size <= --load_size"),
        "unet crop": (["--dataroot", str(data), "--netG", "unet_128", "--load_size", "100", "--crop_size", "100"],
                      "--crop_size 100 is not a multiple of 128"),
        "unet, preprocess none": (["--dataroot", str(data), "--netG", "unet_128", "--preprocess", "none"],
                                  "--preprocess resize_and_crop"),
        "resume without checkpoint": (["--dataroot", str(data), "--continue_train"], "latest.pt"),
        "negative keep": (["--dataroot", str(data), "--keep_checkpoints", "-1"], "--keep_checkpoints"),
    }[case]


@pytest.mark.parametrize("case", ["missing dataroot", "no dataroot", "empty trainA", "aligned layout, unaligned mode",
                                  "unaligned layout, aligned mode", "gpu without cuda", "unknown netG", "crop > load",
                                  "unet crop", "unet, preprocess none", "resume without checkpoint", "negative keep"])
def test_bad_setup_is_one_line_error(tmp_path, capsys, case):
    if case == "gpu without cuda" and torch.cuda.is_available():
        pytest.skip("checks the no-CUDA message")
    flags, expected = setup_case(tmp_path, case)
    base = ["--checkpoints_dir", str(tmp_path / "ckpt"), "--gpu_ids", "-1", "--num_threads", "0", "--ngf", "8",
            "--ndf", "8", "--load_size", "32", "--crop_size", "32", "--netG", "resnet_6blocks"]
    err = error_line(capsys, train_script.main, base + flags)
    assert err.startswith("error: ") and len(err.splitlines()) == 1
    assert expected in err


# ---------------------------------------------------------------- safe loading

@pytest.fixture
def trained(unaligned_root, tmp_path):
    """A one-iteration CycleGAN run (ngf 8, resnet_6blocks) in tmp_path/ckpt/cg."""
    run_train(unaligned_root, tmp_path / "ckpt", "cg", "--max_dataset_size", "1")
    return tmp_path / "ckpt"


@pytest.mark.parametrize("flags, option", [(["--ngf", "16"], "--ngf"), (["--netG", "resnet_9blocks"], "--netG"),
                                           (["--norm", "batch"], "--norm"), (["--input_nc", "1"], "--input_nc")])
def test_architecture_mismatch_names_the_option(unaligned_root, trained, tmp_path, capsys, flags, option):
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg", *flags)
    assert len(err.splitlines()) == 1 and "does not fit" in err
    assert f"probably {option}" in err


def test_checkpoint_loading_refuses_pickled_code(unaligned_root, trained, tmp_path, capsys):
    flag = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(flag), "w"))

    torch.save({"nets": {}, "payload": Payload()}, trained / "cg" / "latest.pt")
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg")
    assert "cannot load checkpoint" in err and not flag.exists()


def test_reference_generator_file_is_used_when_no_checkpoint(unaligned_root, trained, tmp_path):
    results = tmp_path / "results"
    run_test(unaligned_root, trained, results, "cg")
    ours = results / "cg" / "test_latest" / "images"
    # A reference-style run folder: only latest_net_G_A.pth (a bare state dict, DataParallel prefix), no opt.json.
    foreign = tmp_path / "foreign"
    os.makedirs(foreign / "cg")
    weights = load(trained / "cg" / "latest.pt")["nets"]["G_A"]
    torch.save({f"module.{k}": v for k, v in weights.items()}, foreign / "cg" / "latest_net_G_A.pth")
    run_test(unaligned_root, foreign, tmp_path / "results2", "cg", "--ngf", "8", "--netG", "resnet_6blocks")
    theirs = tmp_path / "results2" / "cg" / "test_latest" / "images"
    assert sorted(os.listdir(theirs)) == sorted(os.listdir(ours))
    for name in os.listdir(ours):
        assert np.array_equal(np.asarray(Image.open(ours / name)), np.asarray(Image.open(theirs / name)))


def test_reference_pix2pix_file_loads(aligned_root, tmp_path, capsys):
    flags = ["--model", "pix2pix", "--netG", "unet_128", "--ngf", "8", "--norm", "batch"]
    opt = TestOptions().parse(["--dataroot", str(aligned_root), *flags])
    os.makedirs(tmp_path / "ckpt" / "p2p")
    torch.save(networks.build_generator(opt).state_dict(), tmp_path / "ckpt" / "p2p" / "latest_net_G.pth")
    run_test(aligned_root, tmp_path / "ckpt", tmp_path / "results", "p2p", *flags)
    assert len(os.listdir(tmp_path / "results" / "p2p" / "test_latest" / "images")) == 2
    err = error_line(capsys, run_test, aligned_root, tmp_path / "ckpt", tmp_path / "results", "p2p",
                     *flags[:-2], "--norm", "instance")
    assert "latest_net_G.pth" in err and "probably --norm" in err


# ---------------------------------------------------------------- non-finite losses

def poison_generator_losses(monkeypatch, bad_calls):
    """Make CycleGAN's generator loss NaN on the given (0-based) calls."""
    real = cycle_gan_model.CycleGANModel.generator_losses
    calls = []

    def poisoned(self):
        losses = real(self)
        calls.append(len(calls))
        if calls[-1] in bad_calls:
            losses["G_A"] = losses["G_A"] * float("nan")
        return losses

    monkeypatch.setattr(cycle_gan_model.CycleGANModel, "generator_losses", poisoned)


def test_nonfinite_steps_are_skipped(unaligned_root, tmp_path, monkeypatch, capsys):
    poison_generator_losses(monkeypatch, {1, 2})
    run_train(unaligned_root, tmp_path / "ckpt", "nan", "--max_dataset_size", "4", "--pool_size", "0")
    state = load(tmp_path / "ckpt" / "nan" / "latest.pt")
    assert state["total_iters"] == 4
    assert int(state["optimizers"]["G"]["state"][0]["step"]) == 2   # 2 of 4 generator updates skipped
    assert int(state["optimizers"]["D"]["state"][0]["step"]) == 4
    assert all(torch.isfinite(v).all() for v in state["nets"]["G_A"].values() if v.is_floating_point())
    assert capsys.readouterr().err.count("non-finite G loss") == 2


def test_persistent_nonfinite_loss_stops_pointing_at_last_checkpoint(unaligned_root, tmp_path, monkeypatch, capsys):
    poison_generator_losses(monkeypatch, set(range(2, 100)))
    err = error_line(capsys, run_train, unaligned_root, tmp_path / "ckpt", "nan", "--max_dataset_size", "6",
                     "--save_latest_freq", "2", "--max_nonfinite_steps", "3")
    latest = tmp_path / "ckpt" / "nan" / "latest.pt"
    assert f"the last good checkpoint is {latest}" in err and "3 steps in a row" in err
    assert load(latest)["total_iters"] == 4   # saved at iteration 2 and 4; stopped at iteration 5


# ---------------------------------------------------------------- disk

def test_keep_checkpoints_keeps_the_newest(unaligned_root, tmp_path):
    run_train(unaligned_root, tmp_path / "ckpt", "k", "--max_dataset_size", "1", "--n_epochs", "4",
              "--save_epoch_freq", "1", "--keep_checkpoints", "2")
    assert sorted(f for f in os.listdir(tmp_path / "ckpt" / "k") if f.endswith(".pt")) == ["3.pt", "4.pt", "latest.pt"]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_failed_checkpoint_write_is_error_and_keeps_older(unaligned_root, tmp_path, monkeypatch, capsys, code):
    ckpt = tmp_path / "ckpt"
    common = ["--max_dataset_size", "1", "--save_epoch_freq", "1"]
    run_train(unaligned_root, ckpt, "d", *common)
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(torch, "save", failing_save)
    err = error_line(capsys, run_train, unaligned_root, ckpt, "d", *common, "--n_epochs", "2", "--continue_train")
    monkeypatch.setattr(torch, "save", real_save)
    assert len(err.splitlines()) == 1 and "cannot write checkpoint" in err and os.strerror(code) in err
    files = sorted(os.listdir(ckpt / "d"))
    assert not [f for f in files if ".tmp-" in f]
    assert load(ckpt / "d" / "latest.pt")["total_iters"] == 1 and load(ckpt / "d" / "1.pt")["epoch"] == 2
