"""Training controls: val/* and --monitor with best-k checkpoints, early stopping, EMA, accumulation,
clipping, and the debug kit (max_steps, fast_dev_run, overfit_batches, deterministic, profile)."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from models.loading import load_generator
from options.test_options import TestOptions
from tests.helpers import run_test, run_train, tensorboard_events, user_error
from util.train.ema import GeneratorEMA
from util.train.monitor import Monitor

P2P = ["--model", "pix2pix", "--norm", "instance", "--no_dropout", "--no_flip", "--serial_batches"]
VAL = ["--feature_extractor", "random_conv", "--kid_subsets", "2"]


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def max_diff(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def test_monitor_keeps_the_k_best_and_counts_patience():
    monitor = Monitor("val/l1", "min", top_k=2, patience=2, min_delta=0.05)
    decisions = [monitor.observe(v, epoch, epoch * 10) for epoch, v in enumerate([0.5, 0.4, 0.6, 0.38, 0.37], 1)]
    assert [d.save_label is not None for d in decisions] == [True, True, False, True, True]
    assert decisions[3].delete == [decisions[0].save_label]          # 0.5 dropped out of the top 2
    assert [e["value"] for e in monitor.entries] == [0.37, 0.38]
    # 0.38 and 0.37 beat 0.4 by less than min_delta: no improvement for patience, 0.6 neither
    assert monitor.best["value"] == 0.4 and [d.stop for d in decisions] == [False, False, False, True, True]
    assert "best-e5-i50-val_l1=0.37" == monitor.entries[0]["label"]
    assert not Monitor("val/psnr", "max", top_k=1).observe(float("nan"), 1, 1).save_label


def test_ema_follows_the_warmup_formula_and_copies_buffers():
    net = nn.BatchNorm1d(2)
    ema = GeneratorEMA({"G": net}, decay=0.5)
    with torch.no_grad():
        net.weight.fill_(3.0)
        net.running_mean.fill_(7.0)
    ema.update({"G": net})                             # decay min(0.5, 1/10) = 0.1: 0.1 * 1 + 0.9 * 3
    assert torch.allclose(ema.nets["G"].weight, torch.full((2,), 2.8))
    assert torch.equal(ema.nets["G"].running_mean, torch.full((2,), 7.0))
    assert ema.current_decay() == pytest.approx(2 / 11)
    assert net.weight.requires_grad and not ema.nets["G"].weight.requires_grad


def test_best_k_checkpoints_index_and_test_epoch_best(aligned_root, tmp_path):
    ckpt = tmp_path / "ckpt"
    run_train(aligned_root, ckpt, "p", *P2P, *VAL, "--n_epochs", "3", "--eval_freq", "1",
              "--monitor", "val/l1", "--save_top_k", "2", "--ema_decay", "0.9")
    run_dir = ckpt / "p"
    index = json.loads((run_dir / "best_k.json").read_text())
    _, _, acc = tensorboard_events(str(run_dir / "tb"))
    logged = sorted(e.value for e in acc.Scalars("val/l1"))
    assert len(logged) == 3 and [e["value"] for e in index["checkpoints"]] == pytest.approx(logged[:2], rel=1e-6)
    best_files = sorted(n for n in os.listdir(run_dir) if n.startswith("best-"))
    assert best_files == sorted(e["label"] + ".pt" for e in index["checkpoints"])      # the third was deleted
    best = index["checkpoints"][0]
    assert f"-e{best['epoch']}-" in best["label"] and load(run_dir / f"{best['label']}.pt")["monitor"]["entries"]

    run_test(aligned_root, ckpt, tmp_path / "res", "p", "--epoch", "best")
    assert len(os.listdir(tmp_path / "res" / "p" / "test_best" / "images")) == 2
    args = ["--dataroot", str(aligned_root), "--checkpoints_dir", str(ckpt), "--name", "p", "--gpu_ids", "-1"]
    state = load(run_dir / f"{best['label']}.pt")
    ema_g = load_generator(TestOptions().parse([*args, "--epoch", "best"]), torch.device("cpu")).state_dict()
    raw_g = load_generator(TestOptions().parse([*args, "--epoch", "best", "--use_ema", "false"]), torch.device("cpu")).state_dict()
    assert max_diff(ema_g, state["ema"]["nets"]["G"]) == 0 and max_diff(raw_g, state["nets"]["G"]) == 0
    assert max_diff(ema_g, raw_g) > 0                # test.py translates with the EMA weights by default


def test_early_stopping_names_the_best_checkpoint(aligned_root, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    run_train(aligned_root, ckpt, "p", *P2P, *VAL, "--n_epochs", "6", "--eval_freq", "1", "--monitor", "val/l1",
              "--save_top_k", "1", "--early_stop_patience", "2", "--early_stop_min_delta", "1e9")
    out = capsys.readouterr().out
    best = json.loads((ckpt / "p" / "best_k.json").read_text())["checkpoints"][0]
    assert "early stopping: val/l1 did not improve by more than 1e+09 in 2 evaluations" in out
    assert (f"best checkpoint {ckpt / 'p' / best['label']}.pt (val/l1 {best['value']:.6g} at epoch {best['epoch']}, "
            f"iteration {best['total_iters']})") in out
    latest = load(ckpt / "p" / "latest.pt")
    assert latest["epoch"] == 4 and latest["total_iters"] == 12            # stopped after epoch 3 of 6
    assert latest["monitor"]["bad_observations"] == 2


def test_accumulation_of_k_micro_batches_trains_like_one_batch_k_times_larger(aligned_root, tmp_path):
    common = [*P2P, "--pool_size", "0", "--n_epochs", "2"]
    run_train(aligned_root, tmp_path / "a", "r", *common, "--batch_size", "4")
    run_train(aligned_root, tmp_path / "b", "r", *common, "--batch_size", "2", "--accum_steps", "2")
    run_train(aligned_root, tmp_path / "c", "r", *common, "--batch_size", "2")           # no accumulation
    big, accumulated, small = (load(tmp_path / d / "r" / "latest.pt") for d in "abc")
    assert accumulated["total_iters"] == 4 and accumulated["optimizers"]["G"]["state"][0]["step"] == 2
    # Convolution biases in front of an instance norm have a zero true gradient: Adam turns the rounding
    # noise of their gradients into full-size steps, so only the weights are compared.
    weights = {net: [k for k in big["nets"][net] if k.endswith("weight")] for net in ("G", "D")}
    for net, keys in weights.items():
        assert max_diff({k: big["nets"][net][k] for k in keys}, accumulated["nets"][net]) < 1e-4, net
    assert max_diff({k: big["nets"]["G"][k] for k in weights["G"]}, small["nets"]["G"]) > 1e-3   # the test has teeth


def test_clip_grad_norm_logs_the_norm_and_limits_the_update(aligned_root, tmp_path):
    common = [*P2P, "--max_dataset_size", "2"]
    run_train(aligned_root, tmp_path, "init", *common, "--lr", "1e-30")   # same seed: the initial weights
    run_train(aligned_root, tmp_path, "free", *common)
    run_train(aligned_root, tmp_path, "clip", *common, "--clip_grad_norm", "1e-12")
    scalars, _, acc = tensorboard_events(str(tmp_path / "clip" / "tb"))
    assert {"grad_norm/G", "grad_norm/D"} <= scalars
    assert all(e.value > 1e-6 for e in acc.Scalars("grad_norm/G"))                  # logged before clipping
    init, free, clip = (load(tmp_path / n / "latest.pt")["nets"]["G"] for n in ("init", "free", "clip"))
    # Adam divides by sqrt(v) + eps: gradients clipped to a norm of 1e-12 give steps far below lr
    assert max_diff(clip, init) < 0.01 * max_diff(free, init)


def test_max_steps_and_resume_reproduce_monitor_ema_and_weights(unaligned_root, tmp_path, capsys):
    flags = ["--max_dataset_size", "4", "--n_epochs", "2", "--pool_size", "2", "--eval_every", "3", *VAL,
             "--target_dir", str(unaligned_root / "testB"), "--monitor", "val/l1", "--save_top_k", "2",
             "--ema_decay", "0.9", "--no_dropout"]
    run_train(unaligned_root, tmp_path / "straight", "r", *flags)
    run_train(unaligned_root, tmp_path / "split", "r", *flags, "--max_steps", "5")
    assert "--max_steps 5 reached" in capsys.readouterr().out
    assert load(tmp_path / "split" / "r" / "latest.pt")["total_iters"] == 5
    run_train(unaligned_root, tmp_path / "split", "r", *flags, "--continue_train")
    a, b = (load(tmp_path / d / "r" / "latest.pt") for d in ("straight", "split"))
    assert a["total_iters"] == b["total_iters"] == 8
    assert a["monitor"] == b["monitor"] and len(a["monitor"]["entries"]) == 2
    for net in a["nets"]:
        assert max_diff(a["nets"][net], b["nets"][net]) == 0, net
    for net in ("G_A", "G_B"):
        assert max_diff(a["ema"]["nets"][net], b["ema"]["nets"][net]) == 0, net
    assert a["ema"]["updates"] == 8
    index = [json.loads((tmp_path / d / "r" / "best_k.json").read_text()) for d in ("straight", "split")]
    assert index[0] == index[1]


def test_fast_dev_run_touches_every_path_in_a_temporary_folder(aligned_root, tmp_path, capsys):
    run_train(aligned_root, tmp_path / "ckpt", "p", *P2P, *VAL, "--fast_dev_run", "--n_epochs", "5")
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("fast_dev_run:"))
    assert "2 iterations" in line and "validation, " in line and "latest.pt" in line and "opt.json" in line
    temp = line.rsplit(" ", 1)[-1]
    assert not os.path.exists(temp) and not (tmp_path / "ckpt").exists()


def test_overfit_batches_drives_the_l1_loss_towards_zero(tmp_path, capsys):
    y, x = np.mgrid[0:32, 0:32]
    os.makedirs(tmp_path / "data" / "train")
    for i in range(3):   # smooth A|B pairs (B = inverted A): a map a tiny generator can memorise
        a = np.stack([(x * 8 + i * 40) % 256, (y * 8) % 256, ((x + y) * 4) % 256], -1).astype(np.uint8)
        Image.fromarray(np.concatenate([a, 255 - a], 1)).save(tmp_path / "data" / "train" / f"{i}.png")
    run_train(tmp_path / "data", tmp_path, "o", *P2P, "--overfit_batches", "1", "--n_epochs", "100", "--lr", "0.002",
              "--save_latest_freq", "1000", "--save_epoch_freq", "1000")
    assert "dataset: 1 training images" in capsys.readouterr().out
    _, _, acc = tensorboard_events(str(tmp_path / "o" / "tb"))
    l1 = [e.value / 100 for e in acc.Scalars("epoch_loss/G_L1")]   # --lambda_L1 100
    assert l1[-1] < 0.06 and l1[-1] < 0.15 * l1[0], (l1[0], l1[-1])


def test_deterministic_runs_give_byte_identical_weights(aligned_root, tmp_path):
    try:
        for name in ("a", "b"):
            run_train(aligned_root, tmp_path, name, *P2P, "--deterministic", "--max_dataset_size", "2")
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    a, b = (open(tmp_path / n / "latest.pt", "rb").read() for n in ("a", "b"))
    nets = [load(tmp_path / n / "latest.pt")["nets"] for n in ("a", "b")]
    assert all(torch.equal(nets[0][k][p], nets[1][k][p]) for k in nets[0] for p in nets[0][k]) and len(a) == len(b)


def test_profile_summary_histograms_and_discriminator_outputs(aligned_root, tmp_path, capsys):
    run_train(aligned_root, tmp_path, "p", *P2P, "--profile", "2", "--histogram_freq", "2")
    out = capsys.readouterr().out
    trace = json.loads((tmp_path / "p" / "profile_trace.json").read_text())
    assert trace["traceEvents"] and "profile of 2 iterations" in out and "Self CPU" in out
    summary = next(line for line in out.splitlines() if line.startswith("G "))
    assert float(summary.split()[-1]) > 0                                 # generator GFLOPs at the crop size
    assert int(summary.split()[1].replace(",", "")) > 1000                # its parameter count
    scalars, _, acc = tensorboard_events(str(tmp_path / "p" / "tb"))
    assert {"D/real_mean", "D/fake_mean"} <= scalars
    assert any(t.startswith("weights/G/") for t in acc.Tags()["histograms"])
    assert any(t.startswith("grads/D/") for t in acc.Tags()["histograms"])


def test_control_option_errors(aligned_root, tmp_path, capsys):
    err = user_error(capsys, run_train, aligned_root, tmp_path, "x", *P2P, "--save_top_k", "2")
    assert "--monitor" in err
    err = user_error(capsys, run_train, aligned_root, tmp_path, "x", *P2P, "--monitor", "val/l1")
    assert "--eval_freq" in err and "--eval_every" in err
    err = user_error(capsys, run_train, aligned_root, tmp_path, "x", *P2P, "--accum_steps", "0")
    assert "--accum_steps" in err
    run_train(aligned_root, tmp_path, "x", *P2P, "--max_dataset_size", "1")
    err = user_error(capsys, run_test, aligned_root, tmp_path, tmp_path / "res", "x", "--epoch", "best")
    assert "--epoch best" in err and "best_k.json" in err


def test_limit_train_batches_shortens_every_epoch(aligned_root, tmp_path):
    run_train(aligned_root, tmp_path, "l", *P2P, "--limit_train_batches", "1", "--n_epochs", "2")
    latest = load(tmp_path / "l" / "latest.pt")
    assert latest["total_iters"] == 2 and latest["epoch"] == 3 and latest["optimizers"]["G"]["state"][0]["step"] == 2


def test_monitor_max_mode_ranks_higher_values_first():
    monitor = Monitor("val/psnr", "max", top_k=2)
    drops = [monitor.observe(v, 1, i).delete for i, v in enumerate([10.0, 12.0, 11.0])]
    assert [e["value"] for e in monitor.entries] == [12.0, 11.0] and drops[2] == ["best-e1-i0-val_psnr=10"]
