"""Render a small unpaired dataset whose A -> B mapping is known exactly, for smoke tests and demos.

    python -m datasets.make_sample --out datasets/sample --size 64 --n_train 200 --n_test 20 --seed 0

Domain A: procedurally drawn scenes (blue gradient sky, green-brown ground, circles, rectangles and
triangles in a small palette of colours, all jittered). Domain B: other scenes of the same kind passed through `to_domain_b`, a fixed
per-pixel colour transform. testB holds to_domain_b(testA) under the same file names, so a
trained A -> B generator can be scored against ground truth.
"""
import argparse
import glob
import math
import os
from typing import List, Optional

import numpy as np
from PIL import Image, ImageDraw

from util.errors import UserError, exit_on_user_error

_SUPERSAMPLE = 2  # draw at 2x and downsample so shape edges are anti-aliased


def _hue_rotation(degrees: float) -> np.ndarray:
    """3x3 matrix rotating RGB colours by ``degrees`` around the grey axis (greys are unchanged)."""
    a = math.radians(degrees)
    cross = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    return math.cos(a) * np.eye(3) + (1 - math.cos(a)) / 3 * np.ones((3, 3)) + math.sin(a) / math.sqrt(3) * cross


# The fixed A -> B colour map: hue rotation by 100 degrees, then a warm tint (scale + offset), then gamma.
B_MATRIX = np.diag([1.08, 0.97, 0.80]) @ _hue_rotation(100.0)
B_OFFSET = np.array([0.06, 0.02, -0.03])
B_GAMMA = 0.8

README = """Synthetic unpaired image-translation dataset (written by python -m datasets.make_sample).

trainA/  {n_train} scenes of domain A: blue gradient sky and green-brown ground with filled
         circles, rectangles and triangles in a small jittered palette ({size}x{size} PNG, seed {seed}).
trainB/  {n_train} OTHER scenes of the same kind mapped to domain B (unpaired with trainA).
testA/   {n_test} new domain-A scenes.
testB/   to_domain_b(testA) with the same file names: the ground truth for A -> B.

to_domain_b is a fixed per-pixel colour map: with x = RGB / 255,
    y = clip(M @ x + offset, 0, 1) ** {gamma}, B = round(255 * y),
where M is a 100-degree hue rotation followed by a warm tint diag(1.08, 0.97, 0.80) and
offset = (0.06, 0.02, -0.03). See datasets/make_sample.py.
"""


def to_domain_b(img: Image.Image) -> Image.Image:
    """Map an RGB image to domain B with the fixed per-pixel colour transform; returns an RGB image."""
    x = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    y = np.clip(x @ B_MATRIX.T + B_OFFSET, 0.0, 1.0) ** B_GAMMA
    return Image.fromarray(np.round(y * 255.0).astype(np.uint8))


# Domain A draws from fixed colour families (blue skies, green-brown ground, a small palette of shape
# colours), so that its colour distribution is lopsided: only the true colour map carries it onto domain
# B's, which is what lets an unpaired model find that map (a uniform RGB cube would look almost the same
# after many different hue rotations).
_SKY_TOP, _SKY_BOTTOM = (70, 120, 210), (170, 205, 245)
_GROUND_TOP, _GROUND_BOTTOM = (90, 150, 60), (110, 80, 40)
_PALETTE = ((220, 40, 40), (245, 200, 40), (245, 245, 240), (40, 40, 50), (240, 130, 30))


def _jitter(rng: np.random.Generator, colour: tuple, amount: int) -> tuple:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def _vertical_gradient(draw: ImageDraw.ImageDraw, box: tuple, top: tuple, bottom: tuple) -> None:
    x0, y0, x1, y1 = box
    for y in range(y0, y1):
        t = (y - y0) / max(y1 - y0 - 1, 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
        draw.line([(x0, y), (x1 - 1, y)], fill=colour)


def render_scene(rng: np.random.Generator, size: int) -> Image.Image:
    """Draw one random scene of ``size`` x ``size`` pixels using only ``rng``; returns an RGB image."""
    big = size * _SUPERSAMPLE
    img = Image.new("RGB", (big, big))
    draw = ImageDraw.Draw(img)
    horizon = int(big * rng.uniform(0.35, 0.7))
    _vertical_gradient(draw, (0, 0, big, horizon), _jitter(rng, _SKY_TOP, 30), _jitter(rng, _SKY_BOTTOM, 30))
    _vertical_gradient(draw, (0, horizon, big, big), _jitter(rng, _GROUND_TOP, 30), _jitter(rng, _GROUND_BOTTOM, 30))
    for _ in range(int(rng.integers(3, 7))):
        colour = _jitter(rng, _PALETTE[int(rng.integers(len(_PALETTE)))], 20)
        cx, cy = rng.uniform(0, big, size=2)
        r = rng.uniform(0.06, 0.2) * big
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        elif kind == 1:
            w, h = r * rng.uniform(0.5, 1.5, size=2)
            draw.rectangle([cx - w, cy - h, cx + w, cy + h], fill=colour)
        else:
            angles = rng.uniform(0, 2 * math.pi) + np.array([0.0, 2.1, 4.2]) + rng.uniform(-0.3, 0.3, size=3)
            draw.polygon([(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles], fill=colour)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def _write_split(folder: str, images: List[Image.Image]) -> None:
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.png")):  # keep reruns with smaller counts exact
        os.remove(stale)
    for i, img in enumerate(images):
        img.save(os.path.join(folder, f"{i:06d}.png"))


def make_sample(out: str, size: int, n_train: int, n_test: int, seed: int) -> None:
    """Write trainA/, trainB/, testA/, testB/ and README.txt under ``out`` (see the module docstring)."""
    rng_train_a, rng_train_b, rng_test = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    test_a = [render_scene(rng_test, size) for _ in range(n_test)]
    splits = {
        "trainA": [render_scene(rng_train_a, size) for _ in range(n_train)],
        "trainB": [to_domain_b(render_scene(rng_train_b, size)) for _ in range(n_train)],
        "testA": test_a,
        "testB": [to_domain_b(img) for img in test_a],
    }
    for name, images in splits.items():
        _write_split(os.path.join(out, name), images)
    with open(os.path.join(out, "README.txt"), "w") as f:
        f.write(README.format(n_train=n_train, n_test=n_test, size=size, seed=seed, gamma=B_GAMMA))


@exit_on_user_error
def main(argv: Optional[List[str]] = None) -> None:
    """Command-line entry point; ``argv`` defaults to ``sys.argv[1:]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="datasets/sample", help="output folder")
    parser.add_argument("--size", type=int, default=64, help="image width and height in pixels")
    parser.add_argument("--n_train", type=int, default=200, help="images in each of trainA and trainB")
    parser.add_argument("--n_test", type=int, default=20, help="images in each of testA and testB")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.size < 4 or args.n_train < 1 or args.n_test < 1:
        raise UserError("--size must be >= 4 and --n_train / --n_test >= 1")
    make_sample(args.out, args.size, args.n_train, args.n_test, args.seed)
    print(f"wrote {args.n_train} trainA + {args.n_train} trainB + {args.n_test} testA + {args.n_test} testB "
          f"{args.size}x{args.size} PNGs (testB = to_domain_b(testA)) and README.txt to {args.out}")


if __name__ == "__main__":
    main()
