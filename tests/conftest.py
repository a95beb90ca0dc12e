"""Shared test set-up: run from the repo root, one CPU thread, tiny helpers for image folders."""
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(1)


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


@pytest.fixture
def unaligned_root(tmp_path):
    """A tiny unpaired dataset: trainA (6 images), trainB (5), testA (3)."""
    write_images(tmp_path / "trainA", 6, seed=1)
    write_images(tmp_path / "trainB", 5, seed=2)
    write_images(tmp_path / "testA", 3, size=(44, 30), seed=3)
    write_images(tmp_path / "testB", 3, size=(44, 30), seed=4)
    return tmp_path


@pytest.fixture
def aligned_root(tmp_path):
    """A tiny paired dataset: train/ and test/ with 4 side-by-side A|B images of 64x32."""
    write_images(tmp_path / "train", 4, size=(64, 32), seed=5)
    write_images(tmp_path / "test", 2, size=(64, 32), seed=6)
    return tmp_path
