"""Helpers for end-to-end tests: run the entry points in-process with tiny settings."""
import glob
import os

import numpy as np
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import test as test_script
from models import create_model
from options.train_options import TrainOptions
import train as train_script

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--num_threads", "0", "--seed", "0"]


def write_images(folder, count, size=(40, 36), seed=0, mode="RGB", suffix=".png"):
    """Write `count` random images of `size` (w, h) into `folder`; return their paths."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    channels = 3 if mode == "RGB" else 1
    for i in range(count):
        array = rng.integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
        image = Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode=mode)
        path = os.path.join(folder, f"img_{i:03d}{suffix}")
        image.save(path)
        paths.append(path)
    return paths


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


def error_line(capsys, fn, *args):
    """Run `fn(*args)` expecting exit 2; return its one `error:` line (progress bars may precede it)."""
    err = user_error(capsys, fn, *args)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.endswith(errors[0]), err[-2000:]
    return errors[0]


def tensorboard_events(log_dir):
    """Load the TensorBoard event files under `log_dir`; returns (scalar tags, image tags, accumulator)."""
    assert glob.glob(os.path.join(log_dir, "events.out.tfevents.*")), f"no event file in {log_dir}"
    acc = EventAccumulator(log_dir, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    return set(tags["scalars"]), set(tags["images"]), acc


def checkpoint_nets(path):
    """The network state_dicts saved in the checkpoint at `path`."""
    return torch.load(path, map_location="cpu", weights_only=True)["nets"]


def build_nets(*args):
    """The networks train.py builds for the command line `args`, on the CPU."""
    opt = TrainOptions().parse([str(a) for a in args])
    return create_model(opt, torch.device("cpu")).nets


def assert_same_networks(a, b, built, weight_atol=1e-5):
    """Weights agree, and so do the networks' outputs on a fixed batch.

    A conv bias right before InstanceNorm has zero true gradient, so Adam turns float noise into
    lr-sized steps there; it cannot change the output, which is why outputs are compared too.
    """
    assert a.keys() == b.keys()
    for name, net in built.items():
        in_nc = next(p for p in net.parameters() if p.dim() == 4).shape[1]
        x = torch.randn(2, in_nc, 32, 32, generator=torch.Generator().manual_seed(0))
        assert a[name].keys() == b[name].keys(), name
        for key, value in a[name].items():
            if value.dim() > 1:
                torch.testing.assert_close(value, b[name][key], atol=weight_atol, rtol=1e-4, msg=f"{name}.{key}")
        outputs = []
        for state in (a[name], b[name]):
            net.load_state_dict(state)
            with torch.no_grad():
                outputs.append(net(x))
        torch.testing.assert_close(outputs[0], outputs[1], atol=1e-4, rtol=1e-4, msg=f"{name} outputs")
