"""DDP on the CPU (gloo) through torchrun: same weights as one process with the same global batch, and resume."""
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from tests.helpers import write_images
from tests.helpers import ROOT_DIR, assert_same_networks, build_nets, checkpoint_nets as nets, run_train

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(),
                                reason="torch.distributed with the gloo backend is not available")

# pool 0 and no dropout make an iteration a deterministic function of the weights and the batch;
# a step schedule keeps the lr constant whether a run is told to stop after epoch 1 or 2. Batched calls
# are off: they make the per-call batches differ between 1 x 2 and 2 x 1 images, and the ~1e-7 float
# differences of that grow past the tolerance within 4 Adam steps (as a 1e-8 weight perturbation of the
# plain path does); tests/test_batched_calls.py checks the batching itself.
FLAGS = ["--batched_calls", "off", "--load_size", "32", "--crop_size", "32", "--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8",
         "--pool_size", "0", "--norm", "instance", "--gpu_ids", "-1", "--num_threads", "0", "--seed", "0",
         "--n_epochs_decay", "0", "--lr_policy", "step", "--lr_decay_iters", "100", "--print_freq", "1", "--display_freq", "100", "--save_epoch_freq", "1"]


def torchrun(root, checkpoints, name, *extra):
    """Train with 2 CPU processes of batch 1 via `python -m torch.distributed.run`; return the completed process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT_DIR}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT_DIR, "train.py"), "--dataroot", str(root), "--checkpoints_dir", str(checkpoints),
           "--name", name, "--batch_size", "1", *FLAGS, *extra]
    result = subprocess.run(cmd, cwd=ROOT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_two_processes_match_one_process_and_resume(tmp_path):
    root = tmp_path / "data"
    write_images(root / "trainA", 4, size=(32, 32), seed=1)
    write_images(root / "trainB", 4, size=(32, 32), seed=2)
    ckpt = tmp_path / "checkpoints"

    # One process, batch 2, two epochs (2 iterations each): the reference.
    run_train(root, ckpt, "single", *FLAGS, "--batch_size", "2", "--n_epochs", "2")
    # Two processes x batch 1: one epoch, then resumed for the second.
    first = torchrun(root, ckpt, "ddp", "--n_epochs", "1")
    run_dir = ckpt / "ddp"
    built = build_nets("--dataroot", root, *FLAGS)
    assert_same_networks(nets(ckpt / "single" / "1.pt"), nets(run_dir / "1.pt"), built)
    torchrun(root, ckpt, "ddp", "--n_epochs", "2", "--continue_train")
    assert_same_networks(nets(ckpt / "single" / "2.pt"), nets(run_dir / "2.pt"), built)

    # Training moved the weights, so matching is not trivial.
    start, end = nets(run_dir / "1.pt")["G_A"], nets(run_dir / "2.pt")["G_A"]
    assert any(not torch.equal(start[k], end[k]) for k in start)
    # Rank 0 alone logs and saves: one options print, one TensorBoard folder, no DDP prefixes.
    assert first.stdout.count("----------------- Options") == 1
    assert len(list((run_dir / "tb").glob("events.out.tfevents.*"))) == 2
    assert not any(k.startswith("module.") for net in nets(run_dir / "latest.pt").values() for k in net)
    assert sorted(p.name for p in run_dir.glob("*.pt")) == ["1.pt", "2.pt", "latest.pt"]


def test_recipe_options_under_ddp_match_one_process(tmp_path):
    """R1 (double backward through DDP), a spectral-norm multi-scale D: 2 x batch 1 equals 1 x batch 2."""
    root = tmp_path / "data"
    write_images(root / "trainA", 4, size=(32, 32), seed=1)
    write_images(root / "trainB", 4, size=(32, 32), seed=2)
    ckpt = tmp_path / "checkpoints"
    recipe = ["--lambda_r1", "1", "--r1_every", "1", "--netD", "multiscale", "--num_D", "2", "--n_layers_D", "2",
              "--d_norm", "spectral", "--n_epochs", "1"]
    run_train(root, ckpt, "single", *FLAGS, *recipe, "--batch_size", "2")
    torchrun(root, ckpt, "ddp", *recipe)
    built = build_nets("--dataroot", root, *FLAGS, *recipe)
    assert_same_networks(nets(ckpt / "single" / "1.pt"), nets(ckpt / "ddp" / "1.pt"), built)
    assert torch.load(ckpt / "ddp" / "1.pt", weights_only=True)["states"]["r1"]["steps"] == {"D_A": 2, "D_B": 2}


def test_two_processes_share_early_stopping_best_k_and_ema_decisions(tmp_path):
    root = tmp_path / "data"
    for split, seed in (("trainA", 1), ("trainB", 2), ("testA", 3), ("testB", 4)):
        write_images(root / split, 4 if split.startswith("train") else 2, size=(32, 32), seed=seed)
    ckpt = tmp_path / "checkpoints"
    # validation every iteration; nothing beats the first value by 1e9, so patience 1 stops at iteration 2
    # torchrun rejects "--monitor" as an ambiguous abbreviation of its --monitor-interval: a --config file passes it
    config = tmp_path / "monitor.json"
    config.write_text('{"monitor": "val/l1"}')
    controls = ["--n_epochs", "3", "--eval_every", "1", "--config", str(config), "--save_top_k", "1",
                "--early_stop_patience", "1", "--early_stop_min_delta", "1e9", "--ema_decay", "0.9",
                "--feature_extractor", "random_conv", "--kid_subsets", "2", "--target_dir", str(root / "testB")]
    run_train(root, ckpt, "single", *FLAGS, "--batch_size", "2", *controls)
    result = torchrun(root, ckpt, "ddp", *controls)
    assert result.stdout.count("early stopping: val/l1") == 1       # rank 0 decided, every rank stopped
    single, ddp = (torch.load(ckpt / n / "latest.pt", weights_only=True) for n in ("single", "ddp"))
    assert single["total_iters"] == ddp["total_iters"] == 2
    assert [e["total_iters"] for e in ddp["monitor"]["entries"]] == [e["total_iters"] for e in single["monitor"]["entries"]]
    assert ddp["monitor"]["best"]["value"] == pytest.approx(single["monitor"]["best"]["value"], abs=1e-5)
    assert ddp["monitor"]["bad_observations"] == single["monitor"]["bad_observations"] == 1
    built = build_nets("--dataroot", root, *FLAGS)
    assert_same_networks(single["ema"]["nets"], ddp["ema"]["nets"], {n: built[n] for n in ("G_A", "G_B")})
    assert (ckpt / "ddp" / (ddp["monitor"]["entries"][0]["label"] + ".pt")).is_file()
