"""Helpers for end-to-end tests: run the entry points in-process with tiny settings."""
import glob
import os

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import test as test_script
import train as train_script

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--num_threads", "0", "--seed", "0"]


def run_train(root, checkpoints, name, *extra):
    """Run train.py's main on `root` with tiny widths; extra flags are appended (and win)."""
    train_script.main(["--dataroot", str(root), "--checkpoints_dir", str(checkpoints), "--name", name,
                       "--load_size", "32", "--crop_size", "32", "--netG", "resnet_6blocks",
                       "--n_epochs", "1", "--n_epochs_decay", "0", "--print_freq", "1",
                       "--display_freq", "2", *TINY, *extra])


def run_test(root, checkpoints, results, name, *extra):
    """Run test.py's main with the run's saved options."""
    test_script.main(["--dataroot", str(root), "--checkpoints_dir", str(checkpoints), "--name", name,
                      "--results_dir", str(results), "--gpu_ids", "-1", "--num_threads", "0", *extra])


def user_error(capsys, fn, *args):
    """Call `fn(*args)`, expect exit code 2; return the one line it printed to stderr."""
    with pytest.raises(SystemExit) as info:
        fn(*args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def tensorboard_events(log_dir):
    """Load the TensorBoard event files under `log_dir`; returns (scalar tags, image tags, accumulator)."""
    assert glob.glob(os.path.join(log_dir, "events.out.tfevents.*")), f"no event file in {log_dir}"
    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    return set(tags["scalars"]), set(tags["images"]), acc
