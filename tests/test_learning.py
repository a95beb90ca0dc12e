"""Training really learns: on the sample dataset the cycle loss falls and test.py output approaches the answer."""
import os

from datasets.make_sample import make_sample
from tests.helpers import run_test, run_train, tensorboard_events
from util.eval.metrics import compare_folders


def test_short_cycle_gan_training_lowers_cycle_loss(tmp_path):
    data = tmp_path / "sample"
    make_sample(str(data), size=32, n_train=24, n_test=4, seed=0)
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_train(data, ckpt, "learn", "--n_epochs", "5", "--n_epochs_decay", "0", "--lr", "0.0005", "--pool_size", "0",
              "--print_freq", "24")
    _, _, acc = tensorboard_events(str(ckpt / "learn" / "tb"))
    for name in ("cycle_A", "cycle_B"):
        per_epoch = [event.value for event in acc.Scalars(f"epoch_loss/{name}")]
        assert len(per_epoch) == 5
        assert per_epoch[-1] < 0.9 * per_epoch[0], f"{name} did not fall: {per_epoch}"

    run_test(data, ckpt, results, "learn", "--eval")
    images = results / "learn" / "test_latest" / "images"
    assert len(os.listdir(images)) == 4
    score = compare_folders(str(images), str(data / "testB"))
    untranslated = compare_folders(str(data / "testA"), str(data / "testB"))   # doing nothing: about 10.5 dB
    assert score["count"] == 4 and score["psnr"] > untranslated["psnr"] + 2.0
