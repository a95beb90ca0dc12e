"""Shared test set-up: run from the repo root, one CPU thread, tiny dataset fixtures.

Tests import their helpers one way only: `from tests.helpers import ...`.
"""
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
torch.set_num_threads(1)

from tests.helpers import write_images  # noqa: E402  (needs ROOT on sys.path)


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
