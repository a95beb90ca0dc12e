"""test.py on anything: tiles with whole-image statistics, --max_side, 16-bit / grayscale files, clips."""
import json
import os
from argparse import Namespace

import numpy as np
import pytest
import torch
from PIL import Image

from models import networks
from tests.helpers import write_images
from tests.helpers import run_test, run_train, user_error
import test as test_script
from util.translate.inference import translate
from util.translate.norm_stats import collect_stats
from util.translate.tiling import tile_spans, translate_tiled


def small_generator(seed=0):
    """A random ResNet generator with instance norm, ngf 8 (the 'small model' of the tiling test)."""
    torch.manual_seed(seed)
    opt = Namespace(netG="resnet_6blocks", ngf=8, norm="instance", init_type="normal", init_gain=0.02,
                    no_dropout=True, gpu_ids=[], upsample="transpose", antialias=False)
    return networks.build_generator(opt, 3, 3)


def smooth_image(height, width, seed=0):
    """(1, 3, H, W) in [-1, 1]: smooth random colour blobs plus a little noise, like a photo."""
    gen = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, height // 16 + 1, width // 16 + 1, generator=gen)
    image = torch.nn.functional.interpolate(low, size=(height, width), mode="bicubic", align_corners=False)
    return (image * 2 - 1 + 0.05 * torch.randn(1, 3, height, width, generator=gen)).clamp(-1, 1)


def test_tile_spans_cover_axis_once_with_aligned_starts():
    spans = tile_spans(200, 64, 24, 4)
    assert spans[0][0] == 0 and spans[-1][0] + spans[-1][1] == 200
    assert all(start % 4 == 0 for start, *_ in spans)
    cores = [(a, b) for *_, a, b in spans]
    assert cores[0][0] == 0 and cores[-1][1] == 200
    assert all(left[1] == right[0] for left, right in zip(cores, cores[1:]))
    assert tile_spans(40, 64, 24, 4) == [(0, 40, 0, 40)]


@torch.no_grad()
def test_tiled_matches_untiled_and_beats_per_tile_statistics():
    generator, image = small_generator(), smooth_image(188, 150)  # not multiples of 4 or of the tile
    whole = translate(generator, image)
    tiled = translate_tiled(generator, image, tile=96, overlap=48)
    assert tiled.shape == whole.shape
    error = (tiled - whole).abs()
    assert error.mean() < 0.015 and error.max() < 0.25, (error.mean(), error.max())
    # The same tiles with each tile's own statistics drift visibly.
    naive = translate_tiled(generator, image, tile=96, overlap=48, stats="lowres", stats_side=16)
    assert (naive - whole).abs().mean() > 3 * error.mean()


@torch.no_grad()
def test_mosaic_statistics_beat_a_downscaled_copy_on_images_larger_than_the_stats_side():
    generator, image = small_generator(2), smooth_image(1024, 768, seed=2)
    whole = translate(generator, image)
    errors = {mode: (translate_tiled(generator, image, tile=256, overlap=64, stats=mode, stats_side=512) - whole)
              .abs().mean().item() for mode in ("mosaic", "lowres")}
    assert errors["mosaic"] < 0.5 * errors["lowres"], errors
    assert errors["mosaic"] < 0.04, errors


@torch.no_grad()
def test_exact_streamed_statistics_equal_whole_image_statistics():
    from util.translate.tiling import whole_image_stats
    generator, image = small_generator(1), smooth_image(128, 128, seed=1)
    whole = collect_stats(generator, image)
    spans = tile_spans(128, 64, 32, 4)
    streamed = whole_image_stats(generator, image, [(ys, xs) for ys in spans for xs in spans], "exact")
    assert streamed.keys() == whole.keys()
    first = next(iter(whole))  # the first layer sees the raw input: tiles' centres cover it exactly once
    assert torch.allclose(streamed[first][0], whole[first][0], atol=1e-5)
    for layer in whole:
        assert torch.allclose(streamed[layer][0], whole[layer][0], atol=0.05)
        assert torch.allclose(streamed[layer][1], whole[layer][1], rtol=0.1, atol=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CycleGAN (one epoch) to run test.py with."""
    root = tmp_path_factory.mktemp("anything")
    write_images(root / "trainA", 2, seed=1)
    write_images(root / "trainB", 2, seed=2)
    run_train(root, root / "checkpoints", "exp")
    return root


def test_tile_and_max_side_keep_input_size(trained, tmp_path):
    write_images(tmp_path / "in", 1, size=(90, 70), seed=7)
    for flags in (["--tile", "32", "--tile_overlap", "8"], ["--max_side", "40"]):
        results = tmp_path / flags[0].strip("-")
        run_test(tmp_path / "in", trained / "checkpoints", results, "exp", *flags)
        with Image.open(results / "exp" / "test_latest" / "images" / "img_000.png") as out:
            assert out.size == (90, 70) and out.mode == "RGB"


def test_16bit_and_grayscale_inputs_keep_depth_and_mode(trained, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    ramp = (np.linspace(0, 65535, 48 * 40).reshape(40, 48)).astype(np.uint16)
    Image.fromarray(ramp).save(src / "deep.png")
    Image.fromarray(ramp).save(src / "deep.tif")
    Image.fromarray((ramp >> 8).astype(np.uint8)).save(src / "gray.png")
    # a grayscale model (1 -> 1 channels) writes 16-bit files for 16-bit inputs and 'L' for 8-bit gray
    run_train(trained, trained / "checkpoints", "gray", "--input_nc", "1", "--output_nc", "1")
    run_test(src, trained / "checkpoints", tmp_path / "res", "gray")
    out = tmp_path / "res" / "gray" / "test_latest" / "images"
    for name in ("deep.png", "deep.tif"):
        with Image.open(out / name) as img:
            assert img.mode.startswith("I;16") or img.mode == "I", img.mode
            values = np.asarray(img)
            assert values.shape == (40, 48) and values.max() > 255  # uses the 16-bit range
            # more distinct levels than 8 bits could hold: the input was not rounded to 8 bits
            assert len(np.unique(values)) > 256
    with Image.open(out / "gray.png") as img:
        assert img.mode == "L" and img.size == (48, 40)
    run_test(src, trained / "checkpoints", tmp_path / "model", "gray", "--output_mode", "model")
    with Image.open(tmp_path / "model" / "gray" / "test_latest" / "images" / "deep.png") as img:
        assert img.mode == "L"                       # the model's own channels, in 8 bits
    # a colour model keeps its colours on a gray input (e.g. colourisation): 8-bit RGB
    run_test(src, trained / "checkpoints", tmp_path / "colour", "exp")
    with Image.open(tmp_path / "colour" / "exp" / "test_latest" / "images" / "gray.png") as img:
        assert img.mode == "RGB" and len(set(img.getpixel((10, 10)))) > 1


def test_frame_folder_clip_stats_differ_from_frame_stats(trained, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    base = np.asarray(Image.open(write_images(tmp_path / "base", 1, size=(40, 32), seed=9)[0]), dtype=np.float32)
    for i in range(4):  # the same scene whose brightness and contrast pulse, as a flickering camera
        gain = 0.6 + 0.3 * (i % 2)
        Image.fromarray(np.clip(base * gain + 20 * i, 0, 255).astype(np.uint8)).save(frames / f"f{i}.png")
    measures = {}
    for mode in ("frame", "clip"):
        run_test(frames, trained / "checkpoints", tmp_path / mode, "exp", "--video_stats", mode)
        out = tmp_path / mode / "exp" / "test_latest"
        assert sorted(os.listdir(out / "images")) == [f"f{i}.png" for i in range(4)]
        with open(out / "flicker.json") as f:
            measures[mode] = json.load(f)
        assert measures[mode]["pairs"] == 3
    frames_uint8 = [np.asarray(Image.open(frames / f"f{i}.png"), dtype=np.float64) for i in range(4)]
    expected_input = np.mean([np.abs(b - a).mean() / 255 for a, b in zip(frames_uint8, frames_uint8[1:])])
    for mode in ("frame", "clip"):   # [0, 1] units: the frames' own mean absolute change
        assert measures[mode]["input_flicker"] == pytest.approx(expected_input, rel=1e-5)
    # Per-frame statistics normalise the global brightness pulse away; clip statistics keep it, as
    # they keep every real change between frames while no longer adding per-frame statistic noise.
    assert measures["clip"]["output_flicker"] > 2 * measures["frame"]["output_flicker"]


def test_video_file_round_trip_keeps_frame_rate(trained, tmp_path):
    av = pytest.importorskip("av", reason="PyAV not installed (pip install -r requirements-extra.txt)")
    from fractions import Fraction
    from util.translate.video import VideoWriter, video_fps
    clip = tmp_path / "clip.mp4"
    with VideoWriter(str(clip), Fraction(12)) as writer:
        for i in range(5):
            writer.write(smooth_image(32, 48, seed=i)[0])
    run_test(clip, trained / "checkpoints", tmp_path / "res", "exp", "--video_stats", "clip")
    out = tmp_path / "res" / "exp" / "test_latest" / "clip.mp4"
    assert video_fps(str(out)) == 12
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape == (32, 48, 3)


def test_bad_tile_options_are_one_line(trained, tmp_path, capsys):
    err = user_error(capsys, test_script.main, ["--dataroot", str(trained / "trainA"), "--name", "exp",
                                                "--checkpoints_dir", str(trained / "checkpoints"),
                                                "--tile", "64", "--tile_overlap", "40"])
    assert err == "error: --tile_overlap must lie in [0, --tile / 2), got 40 with --tile 64"
