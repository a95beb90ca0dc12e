"""benchmarks/quality.py on a dataset folder: the iteration budget, the scores and the side-by-side picture."""
import json

import pytest
import torch

from benchmarks.quality import budget_flags, main, natural_key, training_images
from util.image_io import read_image


@pytest.mark.parametrize("iters, images, flags", [
    (400, 400, ["--n_epochs", "1", "--n_epochs_decay", "0", "--max_dataset_size", "400"]),
    (1000, 400, ["--n_epochs", "2", "--n_epochs_decay", "1", "--max_dataset_size", "334"]),
    (50, 400, ["--n_epochs", "1", "--n_epochs_decay", "0", "--max_dataset_size", "50"]),
    (8, 4, ["--n_epochs", "1", "--n_epochs_decay", "1", "--max_dataset_size", "4"]),
])
def test_budget_flags_give_whole_epochs_close_to_the_budget(iters, images, flags):
    assert budget_flags(iters, images) == flags


def test_training_images_counts_pairs(aligned_root):
    assert training_images(str(aligned_root)) == 4


def test_training_images_counts_the_larger_domain(unaligned_root):
    assert training_images(str(unaligned_root)) == 6


def test_natural_order_of_numbered_files():
    assert sorted(["10.png", "2.png", "b.png", "1.png"], key=natural_key) == ["1.png", "2.png", "10.png", "b.png"]


@pytest.mark.parametrize("direction, results_subfolder", [("AtoB", "test_latest"), ("BtoA", "test_latest_BtoA")])
def test_benchmark_on_an_aligned_folder_scores_labels_and_writes_the_picture(aligned_root, tmp_path, direction,
                                                                             results_subfolder):
    out, picture = tmp_path / "q.json", tmp_path / "side.png"
    main(["--dataroot", str(aligned_root), "--model", "pix2pix", "--direction", direction, "--iters", "3",
          "--name", "q", "--work_dir", str(tmp_path / "work"), "--out", str(out), "--picture", str(picture),
          "--picture_rows", "2", "--feature_extractor", "random_conv", "--label_palette", "auto",
          "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load_size", "32", "--crop_size", "32"])
    report = json.loads(out.read_text())
    assert report["train_iterations"] == 3 and report["test_images"] == 2 and report["direction"] == direction
    assert report["train_options"]["max_dataset_size"] == 3 and report["train_options"]["ngf"] == 4
    assert report["results_page"].endswith(f"{results_subfolder}/index.html")   # test.py's folder for this direction
    trained = report["trained"]
    assert {"psnr", "ssim", "l1", "fid", "kid", "label_pixel_acc", "label_miou"} <= set(trained)
    assert 0 <= trained["label_pixel_acc"] <= 1 and trained["count"] == 2
    grid = read_image(str(picture)).unit(3)
    assert grid.shape == (3, 2 * 128, 3 * 128)                        # 2 rows of input | output | truth
    results = tmp_path / "work" / "results" / "q" / results_subfolder
    first_input = read_image(str(results / "inputs" / "img_000.png")).unit(3)
    tile = torch.nn.functional.interpolate(first_input[None], size=(128, 128), mode="bilinear", antialias=True,
                                           align_corners=False)[0]
    assert (grid[:, :128, :128] - tile).abs().max() < 2 / 255      # row 1, column 1 is the first input
