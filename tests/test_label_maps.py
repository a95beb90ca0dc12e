"""Label maps scored as segmentations: known answers for perfect, shuffled and JPEG-noisy outputs."""
import glob
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from util.errors import UserError
from util.eval.label_maps import (NAMED_PALETTES, LabelScores, palette_from_targets, score_label_maps,
                                      snap_to_palette)

PALETTE = np.array([(0, 0, 222), (1, 48, 253), (253, 80, 2), (192, 254, 64)], dtype=np.uint8)
FACADES = os.path.normpath(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "facades"))


def block_label_map(size=256, seed=0):
    """(size, size, 3) label map of 16x16 blocks with random classes from PALETTE; also the classes."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice(len(PALETTE), size=(size // 16, size // 16), p=[0.4, 0.3, 0.2, 0.1])
    classes = np.kron(blocks, np.ones((16, 16), dtype=np.int64))
    return PALETTE[classes], classes


def jpeg(image, quality=75):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_snap_to_palette_nearest_colour():
    image = np.array([[[0, 0, 200], [250, 90, 10]], [[190, 250, 60], [0, 60, 240]]], dtype=np.uint8)
    assert snap_to_palette(image, PALETTE).tolist() == [[0, 2], [3, 1]]
    assert snap_to_palette(torch.from_numpy(image), torch.from_numpy(PALETTE)).dtype == torch.int64


def test_perfect_output_scores_one():
    target, classes = block_label_map()
    scores = LabelScores(len(PALETTE))
    scores.update(snap_to_palette(target, PALETTE), classes)
    assert scores.scores() == {"label_pixel_acc": 1.0, "label_class_acc": 1.0, "label_miou": 1.0}


def test_shuffled_output_scores_what_class_frequencies_predict():
    rng = np.random.default_rng(1)
    target, classes = block_label_map(512, seed=1)
    shuffled = target.reshape(-1, 3)[rng.permutation(target.shape[0] * target.shape[1])].reshape(target.shape)
    scores = LabelScores(len(PALETTE))
    scores.update(snap_to_palette(shuffled, PALETTE), snap_to_palette(target, PALETTE))
    p = np.bincount(classes.ravel(), minlength=len(PALETTE)) / classes.size
    result = scores.scores()
    # A random permutation keeps the class counts: P(pred = k | target = k) = p_k.
    assert result["label_pixel_acc"] == pytest.approx((p ** 2).sum(), abs=0.01)
    assert result["label_class_acc"] == pytest.approx(p.mean(), abs=0.01)
    assert result["label_miou"] == pytest.approx(np.mean(p ** 2 / (2 * p - p ** 2)), abs=0.01)
    assert result["label_pixel_acc"] < 0.4


def test_class_accuracy_and_iou_over_present_classes():
    scores = LabelScores(3)
    scores.update(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]))   # class 2 absent everywhere
    assert scores.pixel_accuracy() == pytest.approx(0.75)
    assert scores.class_accuracy() == pytest.approx((2 / 3 + 1) / 2)
    assert scores.mean_iou() == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert scores.confusion.tolist() == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_jpeg_noisy_targets_snap_back_and_palette_is_recovered():
    target, classes = block_label_map(256, seed=2)
    noisy = jpeg(target, quality=75)
    assert (noisy != target).any()
    correct = snap_to_palette(noisy, PALETTE).numpy() == classes
    assert correct.mean() > 0.97          # JPEG (with chroma subsampling) blurs only class borders
    inside = np.ones(16, dtype=bool)
    inside[:3] = inside[-3:] = False       # pixels at least 3 px from a 16x16 block border
    mask = inside[np.arange(256) % 16]
    assert correct[np.ix_(mask, mask)].all()
    found = palette_from_targets([noisy, jpeg(block_label_map(256, seed=3)[0])])
    assert len(found) == len(PALETTE)
    # every true colour has a found colour within a few units, and vice versa
    distance = np.linalg.norm(found[:, None].astype(float) - PALETTE[None].astype(float), axis=2)
    assert distance.min(0).max() < 6 and distance.min(1).max() < 6
    # lossless targets: exactly the distinct colours
    exact = palette_from_targets([torch.from_numpy(target)])
    assert sorted(map(tuple, exact.tolist())) == sorted(map(tuple, PALETTE.tolist()))


def test_score_label_maps_files_and_named_palette(tmp_path):
    colours = NAMED_PALETTES["cityscapes"]
    assert colours.shape == (19, 3) and tuple(colours[0]) == (128, 64, 128) and tuple(colours[18]) == (119, 11, 32)
    assert NAMED_PALETTES["facades"].shape == (12, 3)
    rng = np.random.default_rng(4)
    classes = np.kron(rng.integers(0, 19, size=(8, 8)), np.ones((8, 8), dtype=np.int64))
    target = colours[classes]
    pred = target.copy()
    pred[:32] = colours[(classes[:32] + 1) % 19]    # top half wrong everywhere
    Image.fromarray(target).save(tmp_path / "t.png")
    Image.fromarray(pred).save(tmp_path / "p.png")
    result = score_label_maps([str(tmp_path / "p.png")], [str(tmp_path / "t.png")], palette="cityscapes")
    assert result["label_pixel_acc"] == pytest.approx(0.5)
    assert result["label_classes"] == 19
    perfect = score_label_maps([str(tmp_path / "t.png")], [str(tmp_path / "t.png")], palette="cityscapes")
    assert perfect["label_miou"] == 1.0
    with pytest.raises(UserError, match="unknown label palette"):
        score_label_maps([str(tmp_path / "p.png")], [str(tmp_path / "t.png")], palette="nope")
    with pytest.raises(UserError, match="does not exist"):
        score_label_maps([str(tmp_path / "missing.png")], [str(tmp_path / "t.png")])


@pytest.mark.skipif(not os.path.isdir(os.path.join(FACADES, "test")), reason=f"facades data not found at {FACADES}")
def test_facades_labels_give_about_twelve_colours():
    files = sorted(glob.glob(os.path.join(FACADES, "test", "*.jpg")))[:60]
    labels = [np.asarray(Image.open(f).convert("RGB"))[:, 256:] for f in files]
    found = palette_from_targets(labels)
    assert 10 <= len(found) <= 13
    named = NAMED_PALETTES["facades"].astype(float)
    distance = np.linalg.norm(found[:, None].astype(float) - named[None], axis=2)
    assert distance.min(1).max() < 12    # every found colour is one of the named ones
    # a real label map uses several of the named classes
    snapped = snap_to_palette(labels[0], NAMED_PALETTES["facades"])
    assert len(torch.unique(snapped)) >= 3
