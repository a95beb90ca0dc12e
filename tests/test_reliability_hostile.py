"""The second round of hostile input (issue 14): nothing hangs, nothing a user made is lost, no silent wrong
result and no traceback; one test per class, through the real entry points."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import export as export_script
import test as test_script
import train as train_script
import util.translate.tiling as tiling
from datasets import create_dataset
from options.ranges import RANGES, numeric_actions
from options.test_options import TestOptions
from options.train_options import TrainOptions
from tests.helpers import ROOT_DIR, error_line, run_test, run_train, write_images
from util.image_io import find_images, to_model_range


def snapshot(folder):
    """{relative path: bytes} of every file under `folder`."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()
    return files


@pytest.fixture
def trained(unaligned_root, tmp_path):
    """A one-epoch run 'cg' on `unaligned_root`; returns the checkpoints folder."""
    ckpt = tmp_path / "ckpt"
    run_train(unaligned_root, ckpt, "cg", "--max_dataset_size", "2")
    return ckpt


# ---------------------------------------------------------------- hang and data loss

def test_symlink_loops_are_walked_once(tmp_path, capsys):
    folder = tmp_path / "trainA"
    write_images(folder, 2)
    write_images(folder / "sub", 1)
    os.symlink(".", folder / "a")                  # a loop: os.walk(followlinks) never ends
    os.symlink("..", folder / "sub" / "up")        # a loop one level down
    os.symlink("sub", folder / "sub_again")        # the same folder twice
    paths = find_images(str(folder))
    assert len(paths) == 3 and len({os.path.realpath(p) for p in paths}) == 3
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: skipping")]
    assert len(warnings) == 3


def test_results_never_overwrite_inputs_or_the_other_direction(unaligned_root, trained, tmp_path, capsys):
    results = tmp_path / "results"
    run_test(unaligned_root, trained, results, "cg")
    run_test(unaligned_root, trained, results, "cg", "--direction", "BtoA")
    assert len(os.listdir(results / "cg" / "test_latest" / "images")) == 3
    assert len(os.listdir(results / "cg" / "test_latest_BtoA" / "images")) == 3
    before = snapshot(results)
    err = error_line(capsys, run_test, results / "cg" / "test_latest" / "images", trained, results, "cg")
    assert "--results_dir" in err and "inside one another" in err
    assert snapshot(results) == before


def test_interrupted_output_write_keeps_the_finished_file(unaligned_root, trained, tmp_path, monkeypatch):
    results = tmp_path / "results"
    run_test(unaligned_root, trained, results, "cg")
    images = results / "cg" / "test_latest" / "images"
    before = snapshot(images)

    def interrupted_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(SystemExit) as info:
        run_test(unaligned_root, trained, results, "cg")
    assert info.value.code == 130
    assert snapshot(images) == before          # no half file, no temporary file left


def test_interrupted_video_keeps_the_finished_clip(trained, tmp_path, monkeypatch):
    pytest.importorskip("av")
    from util.translate.video import VideoWriter
    clip = str(tmp_path / "clip.mp4")
    with VideoWriter(clip, 5) as writer:
        for i in range(3):
            writer.write(torch.full((3, 32, 32), -1 + i * 0.5))
    results = tmp_path / "results"
    run_test(clip, trained, results, "cg")
    before = snapshot(results)
    real = tiling.translate_any_size
    calls = []

    def interrupt_on_third_frame(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr("util.translate.video.translate_any_size", interrupt_on_third_frame)
    with pytest.raises(SystemExit) as info:
        run_test(clip, trained, results, "cg")
    assert info.value.code == 130
    assert snapshot(results) == before


def test_wrong_resume_keeps_the_runs_options(unaligned_root, trained, capsys):
    before = snapshot(trained / "cg")
    err = error_line(capsys, run_train, unaligned_root, trained, "cg", "--continue_train", "--ngf", "16")
    assert "--ngf" in err
    assert snapshot(trained / "cg") == before   # opt.json / opt.txt still describe the real run


def test_second_writer_of_a_run_folder_is_refused(unaligned_root, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    holder = subprocess.Popen(   # another train.py process, as far as the run folder can tell
        [sys.executable, "-c", "import sys, time; from util.checkpoint import Checkpointer; "
         "Checkpointer(sys.argv[1]).claim(resume=False, overwrite=False); print('held', flush=True); time.sleep(60)",
         str(ckpt / "run")], cwd=ROOT_DIR, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        err = error_line(capsys, run_train, unaligned_root, ckpt, "run")
        assert "another train.py is writing to" in err
    finally:
        holder.kill()
        holder.wait()


def test_fresh_run_never_mixes_with_an_old_one(unaligned_root, trained, capsys):
    before = snapshot(trained / "cg")
    err = error_line(capsys, run_train, unaligned_root, trained, "cg", "--max_dataset_size", "1")
    assert "--continue_train" in err and "--name" in err and "--overwrite" in err
    assert snapshot(trained / "cg") == before
    run_train(unaligned_root, trained, "cg", "--max_dataset_size", "1", "--overwrite")
    aside = [d for d in os.listdir(trained) if d.startswith("cg-replaced-")]
    assert len(aside) == 1
    kept = snapshot(trained / aside[0])
    assert {k: v for k, v in kept.items() if not k.startswith("tb")} == \
        {k: v for k, v in before.items() if not k.startswith("tb") and k != ".lock"}
    assert torch.load(trained / "cg" / "latest.pt", weights_only=True)["total_iters"] == 1


def test_retention_follows_the_resumed_timeline(unaligned_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    common = ["--max_dataset_size", "1", "--save_epoch_freq", "1", "--keep_checkpoints", "2"]
    run_train(unaligned_root, ckpt, "k", *common, "--n_epochs", "4", "--keep_checkpoints", "0")
    run_train(unaligned_root, ckpt, "k", *common, "--n_epochs", "3", "--continue_train", "--epoch", "2")
    names = sorted(os.listdir(ckpt / "k"))
    assert "2.pt" in names and "3.pt" in names and "1.pt" not in names   # the resume point stays


# ---------------------------------------------------------------- silent wrong results

@pytest.mark.parametrize("config, expected", [
    ({"direction": "sideways"}, '"direction" must be one of AtoB, BtoA'),
    ({"no_flip": "false"}, '"no_flip" must be true or false'),
    ({"n_epochs": "many"}, '"n_epochs" must be an int'),
    ({"lr": [0.1]}, '"lr" must be a float'),
])
def test_config_values_are_checked_like_flags(unaligned_root, tmp_path, capsys, config, expected):
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(config))
    err = error_line(capsys, run_train, unaligned_root, tmp_path / "ckpt", "c", "--config", str(path))
    assert expected in err and str(path) in err
    assert not os.path.exists(tmp_path / "ckpt" / "c" / "opt.json")


def test_config_values_are_converted(unaligned_root, tmp_path):
    path = tmp_path / "exp.json"
    path.write_text(json.dumps({"no_flip": True, "lr": 1, "gpu_ids": -1, "ngf": 8}))
    opt = TrainOptions().parse(["--dataroot", str(unaligned_root), "--config", str(path)])
    assert opt.no_flip is True and opt.lr == 1.0 and isinstance(opt.lr, float) and opt.gpu_ids == "-1"


@pytest.mark.parametrize("flags, expected", [
    (["--epoch_count", "5"], "--epoch_count 5 is past the last epoch"),
    (["--lr_decay_iters", "0", "--lr_policy", "step"], "--lr_decay_iters must be at least 1"),
    (["--beta1", "1"], "--beta1 must be at least 0 and at most 0.999"),
    (["--lr", "-0.1"], "--lr must be more than 0"),
    (["--n_layers_D", "0", "--netD", "n_layers"], "--n_layers_D must be"),
    (["--input_nc", "2"], "--input_nc must be one of 1, 3"),
    (["--max_dataset_size", "0"], "--max_dataset_size must be at least 1"),
])
def test_numeric_options_have_a_range(unaligned_root, tmp_path, capsys, flags, expected):
    err = error_line(capsys, run_train, unaligned_root, tmp_path / "ckpt", "r", *flags)
    assert expected in err


def test_test_py_numeric_range(unaligned_root, trained, tmp_path, capsys):
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg", "--max_dataset_size", "0")
    assert "--max_dataset_size must be at least 1" in err


def test_every_numeric_option_declares_a_range():
    import argparse
    import datasets
    import models
    missing = set()
    for options in (TrainOptions(), TestOptions(), export_script.ExportOptions()):
        for model in models.MODELS.names():
            parser = options.initialize(argparse.ArgumentParser())
            parser = models.MODELS.get(model).modify_commandline_options(parser, options.is_train)
            for mode in datasets.DATASETS.names():
                parser = datasets.DATASETS.get(mode).modify_commandline_options(parser, options.is_train)
            missing |= {a.dest for a in numeric_actions(parser) if a.dest not in RANGES}
    assert not missing, f"declare a range in options/ranges.py for {sorted(missing)}"


@pytest.mark.parametrize("flags", [["--direction", "BtoA"], ["--phase", "tset"]])
def test_test_py_refuses_a_dataset_root_without_the_split(unaligned_root, trained, tmp_path, capsys, flags):
    os.rename(unaligned_root / "testB", unaligned_root / "other")
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg", *flags)
    assert "is a dataset root" in err and "--phase" in err
    assert not os.path.exists(tmp_path / "results" / "cg" / "test_latest" / "images")


def test_test_py_says_what_it_reads(unaligned_root, trained, tmp_path, capsys):
    run_test(unaligned_root, trained, tmp_path / "results", "cg")
    assert f"reading images in {unaligned_root / 'testA'}" in capsys.readouterr().out


def test_skipped_images_are_not_reported_as_translated(unaligned_root, trained, tmp_path, capsys):
    (unaligned_root / "testA" / "img_001.png").write_bytes(b"")
    results = tmp_path / "results"
    run_test(unaligned_root, trained, results, "cg", "--skip_bad_images")
    assert "translated 2 images, skipped 1 unreadable" in capsys.readouterr().out
    assert sorted(os.listdir(results / "cg" / "test_latest" / "images")) == ["img_000.png", "img_002.png"]


@pytest.mark.parametrize("kind", ["int32", "float"])
def test_32bit_tiffs_read_the_same_for_training_and_test(tmp_path, kind):
    ramp = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    values = (ramp * 60000).astype(np.int32) if kind == "int32" else ramp.astype(np.float32)
    write_images(tmp_path / "trainB", 1, size=(32, 32))
    os.makedirs(tmp_path / "trainA", exist_ok=True)
    Image.fromarray(values).save(tmp_path / "trainA" / "deep.tif")
    common = ["--dataroot", str(tmp_path), "--input_nc", "1", "--gpu_ids", "-1"]
    train_opt = TrainOptions().parse(common + ["--preprocess", "none", "--no_flip"])
    test_opt = TestOptions().parse(common + ["--dataset_mode", "single", "--dataroot", str(tmp_path / "trainA")])
    seen_in_training = to_model_range(create_dataset(train_opt)[0]["A"])   # uint8 until set_input
    seen_in_test = create_dataset(test_opt)[0]["A"]
    full_scale = 65535 if kind == "int32" else 1   # 32-bit integers within 16 bits are read as 16-bit
    expected = torch.from_numpy(values.astype(np.float32) / full_scale)[None] * 2 - 1
    torch.testing.assert_close(seen_in_test, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(seen_in_training, expected, atol=1 / 255 + 1e-4, rtol=0)   # 8-bit augmentation path


# ---------------------------------------------------------------- tracebacks become one line

def test_bad_image_in_a_dataloader_worker_is_one_line(unaligned_root, trained, tmp_path, capsys):
    (unaligned_root / "testA" / "img_001.png").write_text("not an image")
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg", "--num_threads", "1")
    assert err.startswith("error: cannot read image") and "img_001.png" in err and "--skip_bad_images" in err


@pytest.mark.parametrize("failure", [OSError(errno.EFBIG, os.strerror(errno.EFBIG)),
                                     OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)),
                                     RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")])
def test_any_failed_checkpoint_write_is_one_line(unaligned_root, trained, monkeypatch, capsys, failure):
    before = snapshot(trained / "cg")

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise failure

    monkeypatch.setattr(torch, "save", failing_save)
    err = error_line(capsys, run_train, unaligned_root, trained, "cg", "--n_epochs", "2", "--continue_train",
                     "--max_dataset_size", "2")
    monkeypatch.undo()
    assert "cannot write checkpoint" in err
    after = snapshot(trained / "cg")
    assert not [f for f in after if ".tmp-" in f]
    assert after["latest.pt"] == before["latest.pt"]


@pytest.mark.parametrize("damage, expected", [
    (("latest.pt", b""), "cannot load checkpoint"),
    (("latest.pt", "truncate"), "cannot load checkpoint"),
    (("latest.pt", "tensor"), "is not a checkpoint of this suite"),
    (("opt.json", b""), "opt.json"),
    (("opt.json", b'{"ngf": [8]}'), '"ngf" must be an int'),
    (("opt.json", b'[1, 2]'), "does not hold a JSON object"),
])
def test_damaged_run_files_are_one_line(unaligned_root, trained, tmp_path, capsys, damage, expected):
    name, content = damage
    path = trained / "cg" / name
    if content == "truncate":
        content = path.read_bytes()[:1000]
    elif content == "tensor":
        torch.save(torch.zeros(3), path)
        content = path.read_bytes()
    path.write_bytes(content)
    err = error_line(capsys, run_test, unaligned_root, trained, tmp_path / "results", "cg")
    assert expected in err and name in err


def test_weights_only_checkpoint_cannot_be_resumed_and_says_so(unaligned_root, trained, capsys):
    state = torch.load(trained / "cg" / "latest.pt", weights_only=True)
    torch.save({"nets": state["nets"]}, trained / "cg" / "latest.pt")
    err = error_line(capsys, run_train, unaligned_root, trained, "cg", "--continue_train", "--max_dataset_size", "2")
    assert "has no training state" in err


@pytest.mark.parametrize("flag", ["--checkpoints_dir", "--log_dir", "--results_dir", "--export_dir"])
def test_output_locations_that_cannot_hold_files_are_one_line(unaligned_root, trained, tmp_path, capsys, flag):
    blocker = tmp_path / "a_file"
    blocker.write_text("mine")
    if flag == "--results_dir":
        err = error_line(capsys, run_test, unaligned_root, trained, blocker, "cg")
    elif flag == "--export_dir":
        err = error_line(capsys, export_script.main, ["--checkpoints_dir", str(trained), "--name", "cg",
                                                      "--dataroot", str(unaligned_root / "testA"),
                                                      "--export_dir", str(blocker / "sub")])
    else:
        target = ["--checkpoints_dir", str(blocker)] if flag == "--checkpoints_dir" else ["--log_dir", str(blocker)]
        err = error_line(capsys, train_script.main, ["--dataroot", str(unaligned_root), "--name", "fresh", "--gpu_ids", "-1",
                                                     "--ngf", "8", "--ndf", "8", "--load_size", "32", "--crop_size", "32",
                                                     "--num_threads", "0", "--max_dataset_size", "1", *target])
    assert flag in err or "a file is in the way" in err
    assert blocker.read_text() == "mine"


def test_special_file_system_is_refused(unaligned_root, trained, capsys):
    err = error_line(capsys, run_test, unaligned_root, trained, "/proc/self", "cg")
    assert "special file system" in err and "--results_dir" in err


def test_tiny_images_translate_at_their_size(trained, tmp_path):
    folder = tmp_path / "tiny"
    for size in ((1, 1), (3, 2), (4, 40)):
        write_images(folder / f"{size[0]}x{size[1]}", 1, size=size)
    results = tmp_path / "results"
    run_test(folder, trained, results, "cg")
    for size in ((1, 1), (3, 2), (4, 40)):
        with Image.open(results / "cg" / "test_latest" / "images" / f"{size[0]}x{size[1]}" / "img_000.png") as img:
            assert img.size == size
    run_test(folder / "4x40", trained, results, "cg", "--max_side", "16")


def test_tiny_image_in_an_export_check_is_refused_by_name(trained, tmp_path, capsys):
    write_images(tmp_path / "check", 1, size=(1, 1))
    err = error_line(capsys, export_script.main, ["--checkpoints_dir", str(trained), "--name", "cg",
                                                  "--dataroot", str(tmp_path / "check")])
    assert "1x1 px" in err and "--dataroot" in err


@pytest.mark.parametrize("content", [b"", b"this is not a video at all"])
def test_invalid_video_files_are_one_line(trained, tmp_path, capsys, content):
    pytest.importorskip("av")
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(content)
    err = error_line(capsys, run_test, clip, trained, tmp_path / "results", "cg")
    assert "clip.mp4" in err


def test_audio_only_file_is_one_line(trained, tmp_path, capsys):
    av = pytest.importorskip("av")
    path = str(tmp_path / "sound.mp4")
    with av.open(path, mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    err = error_line(capsys, run_test, path, trained, tmp_path / "results", "cg")
    assert "no video stream" in err


def test_ctrl_c_during_set_up_is_one_line(unaligned_root, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_script, "create_model", interrupted)
    with pytest.raises(SystemExit) as info:
        run_train(unaligned_root, tmp_path / "ckpt", "c")
    assert info.value.code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().endswith("files written so far are kept")


def test_ctrl_c_during_test_py_keeps_results_and_writes_the_page(unaligned_root, trained, tmp_path, monkeypatch, capsys):
    real, calls = test_script.translate_any_size, []

    def interrupt_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(test_script, "translate_any_size", interrupt_on_second)
    results = tmp_path / "results"
    with pytest.raises(SystemExit) as info:
        run_test(unaligned_root, trained, results, "cg")
    assert info.value.code == 130
    assert "interrupted (Ctrl-C) after 1 of 3 images" in capsys.readouterr().err
    out = results / "cg" / "test_latest"
    assert os.listdir(out / "images") == ["img_000.png"] and "img_000.png" in (out / "index.html").read_text()


@pytest.mark.parametrize("flags", [["--preprocess", "none", "--batch_size", "2", "--pool_size", "0"],
                                   ["--preprocess", "none", "--pool_size", "50"],
                                   ["--preprocess", "scale_width", "--batch_size", "2", "--pool_size", "0"]])
def test_mixed_sizes_are_refused_at_start(tmp_path, capsys, flags):
    write_images(tmp_path / "trainA", 2, size=(40, 36))
    write_images(tmp_path / "trainA" / "tall", 2, size=(40, 64), seed=1)
    write_images(tmp_path / "trainB", 2, size=(40, 36))
    err = error_line(capsys, run_train, tmp_path, tmp_path / "ckpt", "mixed", *flags)
    assert "keeps image sizes" in err and "--batch_size 1 --pool_size 0" in err
    assert not os.path.exists(tmp_path / "ckpt" / "mixed" / "latest.pt")
    run_train(tmp_path, tmp_path / "ckpt", "mixed", "--preprocess", flags[1], "--batch_size", "1", "--pool_size", "0")
