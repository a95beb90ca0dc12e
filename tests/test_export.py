"""export.py: standalone models with dynamic H, W that match PyTorch on real images."""
import importlib.util
import json
import os

import pytest

import export as export_script
from tests.helpers import write_images
from tests.helpers import run_train, user_error


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CycleGAN trained for one epoch; testA holds images of two sizes (not multiples of 4)."""
    root = tmp_path_factory.mktemp("data")
    write_images(root / "trainA", 2, seed=1)
    write_images(root / "trainB", 2, seed=2)
    write_images(root / "testA", 1, size=(45, 30), seed=3)
    write_images(root / "testA" / "more", 1, size=(36, 52), seed=4)
    checkpoints = root / "checkpoints"
    run_train(root, checkpoints, "exp")
    return root, checkpoints


@pytest.mark.parametrize("fmt", ["torchscript", "pt2", "onnx"])
def test_export_matches_pytorch(trained, fmt):
    if fmt == "onnx" and not (importlib.util.find_spec("onnx") and importlib.util.find_spec("onnxruntime")):
        pytest.skip("onnx/onnxruntime not installed (pip install -r requirements-extra.txt)")
    root, checkpoints = trained
    result = export_script.main(["--name", "exp", "--checkpoints_dir", str(checkpoints), "--format", fmt,
                                 "--gpu_ids", "-1", "--num_threads", "0"])
    assert os.path.isfile(result["path"])
    assert result["images"] == 2 and sorted(result["sizes"]) == [[30, 45], [52, 36]]  # default: training dataroot
    assert result["max_abs_diff"] < 1e-4
    with open(os.path.splitext(result["path"])[0] + ".check.json") as f:
        assert json.load(f)["max_abs_diff"] == result["max_abs_diff"]


def test_export_unknown_format_is_one_line(trained, capsys):
    _, checkpoints = trained
    err = user_error(capsys, export_script.main, ["--name", "exp", "--checkpoints_dir", str(checkpoints),
                                                  "--num_check", "0"])
    assert err == "error: --num_check must be at least 1, got 0"
