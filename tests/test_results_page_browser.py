"""The results page in a real browser: headless Chromium screenshots show the images rendered."""
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from util.html import write_results_page

COLOURS = {"input": (230, 20, 20), "output": (20, 200, 40), "target": (30, 40, 220)}


@pytest.fixture(scope="session")
def chromium():
    """Path of the Debian `chromium` binary; installed with apt-get when missing (root only), else skip."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    for command in (["apt-get", "install", "-y", "chromium"], ["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode == 0 and shutil.which("chromium"):
            return shutil.which("chromium")
    pytest.skip(f"apt-get install chromium failed: {done.stderr.strip().splitlines()[-1:]}")


def screenshot(chromium_path, page, png, tmp_path, size=(900, 700)):
    """Render the file `page` in headless Chromium into `png`; returns the screenshot as an (H, W, 3) array."""
    command = [chromium_path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
               f"--window-size={size[0]},{size[1]}", "file://" + os.path.abspath(page)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert os.path.isfile(png), f"no screenshot: {done.stderr[-500:]}"
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def coloured_pixels(shot, colour, tolerance=12):
    """Number of screenshot pixels within `tolerance` of `colour` in every channel."""
    return int((np.abs(shot - np.array(colour)) <= tolerance).all(-1).sum())


def write_rows(root, count, missing=()):
    """Solid-colour 48x48 input/output/target images for `count` rows (files in `missing` not written)."""
    rows = []
    for i in range(count):
        row = {"name": f"img_{i}.png", "metrics": {"psnr": 20.0 + i}}
        for column, colour in COLOURS.items():
            row[column] = f"{column}s/img_{i}.png"
            if column not in missing:
                os.makedirs(root / f"{column}s", exist_ok=True)
                Image.new("RGB", (48, 48), colour).save(root / row[column])
        rows.append(row)
    return rows


def test_results_page_images_render_in_chromium(chromium, tmp_path):
    rows = write_rows(tmp_path, 3)
    pages = write_results_page(str(tmp_path / "index.html"), "browser check", rows, list(COLOURS),
                               summary={"psnr": 21.0, "fid": 1.5}, page_size=2)
    assert len(pages) == 2
    shot = screenshot(chromium, pages[0], tmp_path / "page1.png", tmp_path)
    for column, colour in COLOURS.items():   # two 48x48 images of each colour on page 1
        assert coloured_pixels(shot, colour) >= 2 * 48 * 48 * 0.9, f"{column} images did not render"
    second = screenshot(chromium, pages[1], tmp_path / "page2.png", tmp_path)
    assert 48 * 48 * 0.9 <= coloured_pixels(second, COLOURS["output"]) < 2 * 48 * 48 * 0.9


def test_a_missing_image_is_detected_in_the_screenshot(chromium, tmp_path):
    rows = write_rows(tmp_path, 1, missing=("output",))          # broken-image icon instead of green
    page = write_results_page(str(tmp_path / "index.html"), "broken", rows, list(COLOURS))[0]
    shot = screenshot(chromium, page, tmp_path / "shot.png", tmp_path)
    assert coloured_pixels(shot, COLOURS["input"]) >= 48 * 48 * 0.9
    assert coloured_pixels(shot, COLOURS["output"]) < 100
