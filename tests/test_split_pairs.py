"""benchmarks split_pairs: A|B pairs -> trainA/trainB/testA/testB halves."""
import os

import numpy as np
import pytest
from PIL import Image

from benchmarks.split_pairs import main, split_pairs


def make_pairs(root, phase, count, size=(8, 6)):
    """Pairs whose left half is filled with 10 + i and right half with 200 + i (R channel), G = column."""
    folder = os.path.join(root, phase)
    os.makedirs(folder)
    w, h = size
    for i in range(count):
        pair = np.zeros((h, 2 * w, 3), dtype=np.uint8)
        pair[:, :w, 0] = 10 + i
        pair[:, w:, 0] = 200 + i
        pair[:, :, 1] = np.arange(2 * w)[None, :]
        Image.fromarray(pair).save(os.path.join(folder, f"{i}.png"))


def test_split_pairs_writes_halves(tmp_path):
    src, out = str(tmp_path / "src"), str(tmp_path / "out")
    make_pairs(src, "train", 3)
    make_pairs(src, "test", 2)
    assert split_pairs(src, out) == {"train": 3, "test": 2}
    assert sorted(os.listdir(os.path.join(out, "trainA"))) == ["0.png", "1.png", "2.png"]
    assert sorted(os.listdir(os.path.join(out, "testB"))) == ["0.png", "1.png"]
    for phase, count in (("train", 3), ("test", 2)):
        for i in range(count):
            left = np.asarray(Image.open(os.path.join(out, phase + "A", f"{i}.png")))
            right = np.asarray(Image.open(os.path.join(out, phase + "B", f"{i}.png")))
            assert left.shape == right.shape == (6, 8, 3)
            assert (left[..., 0] == 10 + i).all() and (right[..., 0] == 200 + i).all()
            assert (left[0, :, 1] == np.arange(8)).all() and (right[0, :, 1] == np.arange(8, 16)).all()


def test_missing_folders_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--src", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --src") and "\n" not in err
    make_pairs(str(tmp_path), "train", 1)
    with pytest.raises(SystemExit):
        main(["--src", str(tmp_path), "--out", str(tmp_path / "out")])
    assert "no test/ folder" in capsys.readouterr().err
