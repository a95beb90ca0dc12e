"""benchmarks/recipes.py's train-and-score step on a tiny paired dataset (no facades needed)."""
import os

import pytest

from benchmarks.recipes import PIX2PIX, train_and_score


@pytest.mark.parametrize("direction, results_subfolder", [("AtoB", "test_latest"), ("BtoA", "test_latest_BtoA")])
def test_train_and_score_reads_the_metrics_of_test_py_folder_for_the_direction(aligned_root, tmp_path, direction,
                                                                               results_subfolder):
    flags = [*PIX2PIX, "--direction", direction, "--dataroot", str(aligned_root), "--n_epochs", "1",
             "--n_epochs_decay", "0", "--ngf", "4", "--ndf", "4"]
    row = train_and_score("r", flags, str(tmp_path / "work"), ["--dataroot", str(aligned_root), "--direction", direction])
    assert row["iterations"] == 4                                      # 4 training pairs, batch 1, 1 epoch
    assert row["images"] == os.path.join(str(tmp_path / "work"), "results", "r", results_subfolder, "images")
    assert row["metrics"]["count"] == 2 and row["metrics"]["l1"] > 0   # scored both test pairs
