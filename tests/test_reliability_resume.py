"""Exact resume after SIGKILL / SIGINT / SIGTERM and after a kill in the middle of a checkpoint write.

Each case kills a real `train.py` subprocess (via tests/fault_train.py, which only adds a pause or a
hang at a `latest` save), resumes in-process with --continue_train, and compares with a straight run.
"""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.helpers import ROOT_DIR, TINY, run_train

ITERS = 8  # 2 epochs x 4 images
FLAGS = ["--max_dataset_size", "4", "--n_epochs", "1", "--n_epochs_decay", "1", "--pool_size", "2",
         "--save_latest_freq", "1", "--save_epoch_freq", "1"]


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def assert_same_training_state(a, b):
    assert a["total_iters"] == b["total_iters"] == ITERS
    for net in a["nets"]:
        for key, value in a["nets"][net].items():
            assert torch.equal(value, b["nets"][net][key]), f"{net}.{key} differs"
    for name in a["optimizers"]:
        for index, state in a["optimizers"][name]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b["optimizers"][name]["state"][index][key]), f"{name} {key} differs"
    assert a["schedulers"] == b["schedulers"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from tests.helpers import write_images
    root = tmp_path_factory.mktemp("data")
    write_images(root / "trainA", 4, seed=1)
    write_images(root / "trainB", 4, seed=2)
    write_images(root / "testA", 2, seed=3)   # held out, for --eval_every (test_killed_run_with_training_controls...)
    write_images(root / "testB", 2, seed=4)
    return root


@pytest.fixture(scope="module")
def straight(dataset, tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("straight")
    run_train(dataset, ckpt, "run", *FLAGS)
    return load(ckpt / "run" / "latest.pt")


def train_args(root, ckpt, *extra):
    """The flags run_train passes, for the subprocess."""
    return ["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "run", "--load_size", "32",
            "--crop_size", "32", "--netG", "resnet_6blocks", "--n_epochs", "1", "--n_epochs_decay", "0",
            "--print_freq", "1", "--display_freq", "2", *TINY, *FLAGS, *extra]


def start_faulty_run(root, ckpt, mode, after, *extra):
    marker = str(ckpt / "marker")
    env = {**os.environ, "FAULT_MODE": mode, "FAULT_AFTER": str(after), "FAULT_MARKER": marker}
    proc = subprocess.Popen([sys.executable, os.path.join("tests", "fault_train.py"), *train_args(root, ckpt, *extra)],
                            cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while not os.path.exists(marker):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the run ended before the fault point (rc {proc.returncode}): {err[-2000:]}")
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("sig, after, workers", [(signal.SIGKILL, 3, "0"), (signal.SIGINT, 3, "1"),
                                                 (signal.SIGTERM, 5, "0")])
def test_interrupted_run_resumes_bitwise_identical(dataset, straight, tmp_path, sig, after, workers):
    ckpt = tmp_path / "ckpt"
    proc = start_faulty_run(dataset, ckpt, "pause", after, "--num_threads", workers)
    os.killpg(proc.pid, sig)   # the whole group, as a terminal's Ctrl-C does (DataLoader workers too)
    out, err = proc.communicate(timeout=120)
    saved = load(ckpt / "run" / "latest.pt")
    assert 0 < saved["total_iters"] < ITERS
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 0, err[-2000:]
        assert f"{sig.name} received: saved {ckpt / 'run' / 'latest.pt'}" in out + err
        assert "--continue_train" in out + err
        assert "Traceback" not in err
    run_train(dataset, ckpt, "run", *FLAGS, "--continue_train")
    assert_same_training_state(straight, load(ckpt / "run" / "latest.pt"))


def test_kill_during_checkpoint_write_keeps_previous_checkpoint(dataset, straight, tmp_path):
    ckpt = tmp_path / "ckpt"
    proc = start_faulty_run(dataset, ckpt, "hang", 6)
    proc.kill()
    proc.communicate(timeout=60)
    run_dir = ckpt / "run"
    leftovers = [name for name in os.listdir(run_dir) if name.startswith(".tmp-") and name.endswith("-latest.pt")]
    assert leftovers, "the kill should have hit the middle of a write"
    assert os.path.getsize(run_dir / leftovers[0]) > 0
    previous = load(run_dir / "latest.pt")   # intact and loadable
    assert previous["total_iters"] == 5
    run_train(dataset, ckpt, "run", *FLAGS, "--continue_train")
    assert_same_training_state(straight, load(run_dir / "latest.pt"))


def test_killed_run_with_training_controls_resumes_with_the_same_decisions(dataset, tmp_path):
    controls = ["--eval_every", "3", "--monitor", "val/l1", "--save_top_k", "2", "--ema_decay", "0.9",
                "--feature_extractor", "random_conv", "--kid_subsets", "2", "--target_dir", str(dataset / "testB")]
    run_train(dataset, tmp_path / "straight", "run", *FLAGS, *controls)
    ckpt = tmp_path / "ckpt"
    proc = start_faulty_run(dataset, ckpt, "pause", 4, *controls)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert 0 < load(ckpt / "run" / "latest.pt")["total_iters"] < ITERS
    run_train(dataset, ckpt, "run", *FLAGS, *controls, "--continue_train")
    straight, resumed = load(tmp_path / "straight" / "run" / "latest.pt"), load(ckpt / "run" / "latest.pt")
    assert_same_training_state(straight, resumed)
    assert straight["monitor"] == resumed["monitor"] and len(straight["monitor"]["entries"]) == 2
    assert straight["ema"]["updates"] == resumed["ema"]["updates"] == ITERS
    for net, weights in straight["ema"]["nets"].items():
        for key, value in weights.items():
            assert torch.equal(value, resumed["ema"]["nets"][net][key]), f"EMA {net}.{key} differs"
    index = [(d / "run" / "best_k.json").read_text() for d in (tmp_path / "straight", ckpt)]
    assert index[0] == index[1]
