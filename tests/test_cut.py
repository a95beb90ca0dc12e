"""CUT / FastCUT: the PatchNCE loss, the patch-sampling heads, and short train -> resume -> test runs."""
import json
import os

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import run_test, run_train, tensorboard_events, user_error
import train as train_script
from models.networks.feature_heads import F_HEADS
from models.patchnce import patch_nce_loss
from options.train_options import TrainOptions


def unit(*shape, seed=0):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------- PatchNCE
def test_patch_nce_equals_cross_entropy_computed_by_hand():
    q, k = unit(2, 5, 8, seed=1), unit(2, 5, 8, seed=2)
    loss = patch_nce_loss(q, k, temperature=0.07)
    assert loss.shape == (10,) and loss.dtype == torch.float32
    expected = []
    for n in range(2):
        for i in range(5):
            logits = [q[n, i] @ k[n, i]] + [q[n, i] @ k[n, j] if j != i else torch.tensor(-10.0) for j in range(5)]
            logits = torch.stack(logits) / 0.07
            expected.append(-(logits[0] - torch.logsumexp(logits, 0)))
    torch.testing.assert_close(loss, torch.stack(expected))


def test_patch_nce_negatives_from_whole_minibatch():
    q, k = unit(2, 3, 4, seed=3), unit(2, 3, 4, seed=4)
    loss = patch_nce_loss(q, k, 0.5, negatives_from_minibatch=True)
    qf, kf = q.reshape(6, 4), k.reshape(6, 4)
    sim = (qf @ kf.T).masked_fill(torch.eye(6, dtype=torch.bool), -10.0)
    logits = torch.cat(((qf * kf).sum(1, keepdim=True), sim), 1) / 0.5
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.zeros(6, dtype=torch.long), reduction="none"))
    assert not torch.allclose(loss, patch_nce_loss(q, k, 0.5))  # more negatives, another loss


def test_matching_features_give_lower_loss_than_shuffled_and_only_the_query_gets_gradients():
    k = unit(1, 64, 16, seed=5)
    q = k.clone().requires_grad_(True)
    key = k.clone().requires_grad_(True)
    matched = patch_nce_loss(q, key).mean()
    shuffled = patch_nce_loss(k, k[:, torch.randperm(64, generator=torch.Generator().manual_seed(0))]).mean()
    assert matched < 0.01 < 1.0 < shuffled
    matched.backward()
    assert q.grad is not None and key.grad is None


def test_patch_nce_under_autocast_is_float32():
    q, k = unit(1, 8, 4, seed=6).bfloat16(), unit(1, 8, 4, seed=7).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = patch_nce_loss(q, k)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, patch_nce_loss(q.float(), k.float()))


# ---------------------------------------------------------------------- feature heads
def test_sampled_patch_ids_are_shared_between_query_and_key():
    feats = [torch.randn(2, 3, 6, 5), torch.randn(2, 7, 3, 4)]
    head = F_HEADS.build("sample", 16)
    keys, ids = head(feats, num_patches=4)
    assert [i.shape for i in ids] == [(4,), (4,)] and len(set(ids[0].tolist())) == 4
    queries, ids_again = head([f * 3 for f in feats], 4, ids)   # scaled features: same after normalising
    for key, query, a, b in zip(keys, queries, ids, ids_again):
        assert torch.equal(a, b)
        torch.testing.assert_close(query, key)
    manual = F.normalize(feats[1].flatten(2)[:, :, ids[1]].transpose(1, 2), dim=-1)
    torch.testing.assert_close(keys[1], manual)
    everything, all_ids = head(feats, 0)
    assert everything[0].shape == (2, 30, 3) and torch.equal(all_ids[1], torch.arange(12))


def test_mlp_head_is_built_for_the_tapped_channel_counts():
    head = F_HEADS.build("mlp_sample", 16).build([3, 7])
    assert [m[0].in_features for m in head.mlps] == [3, 7]
    out, _ = head([torch.randn(2, 3, 6, 5), torch.randn(2, 7, 3, 4)], 4)
    assert [o.shape for o in out] == [(2, 4, 16), (2, 4, 16)]
    torch.testing.assert_close(out[1].norm(dim=-1), torch.ones(2, 4))


# ---------------------------------------------------------------------- options
def test_fastcut_defaults_differ_from_cut_and_flags_still_win():
    base = ["--dataroot", "x", "--gpu_ids", "-1"]
    cut = TrainOptions().parse(base + ["--model", "cut"])
    fast = TrainOptions().parse(base + ["--model", "fastcut", "--nce_idt", "true", "--flip_equivariance", "false"])
    assert (cut.nce_idt, cut.lambda_NCE, cut.flip_equivariance, cut.n_epochs, cut.n_epochs_decay) == (True, 1.0, False, 200, 200)
    assert (fast.nce_idt, fast.lambda_NCE, fast.flip_equivariance, fast.n_epochs, fast.n_epochs_decay) == (True, 10.0, False, 150, 50)
    assert cut.pool_size == 0 and cut.no_dropout and cut.nce_layers == "0,4,8,12,16" and cut.netF == "mlp_sample"


# ---------------------------------------------------------------------- end to end
COMMON = ["--max_dataset_size", "2", "--lr_policy", "step", "--lr_decay_iters", "100", "--num_patches", "32",
          "--netF_nc", "16"]


def test_cut_trains_saves_resumes_netF_and_translates(unaligned_root, tmp_path):
    straight, resumed, results = tmp_path / "straight", tmp_path / "resumed", tmp_path / "results"
    run_train(unaligned_root, straight, "cut", "--model", "cut", *COMMON, "--n_epochs", "2")
    run_train(unaligned_root, resumed, "cut", "--model", "cut", *COMMON, "--n_epochs", "1")
    run_train(unaligned_root, resumed, "cut", "--model", "cut", *COMMON, "--n_epochs", "2", "--continue_train")
    a, b = load(straight / "cut" / "latest.pt"), load(resumed / "cut" / "latest.pt")
    assert set(b["nets"]) == {"G", "D", "F"} and set(b["optimizers"]) == {"G", "D"}
    assert [b["nets"]["F"][f"mlps.{i}.0.weight"].shape[1] for i in range(5)] == [3, 16, 32, 32, 16]  # ngf 8, 6 blocks: 16 is the first upsampling
    # the G optimizer steps G and F: one Adam state per parameter, all 4 iterations carried across the resume
    g_state = b["optimizers"]["G"]["state"]
    assert len(g_state) == len(b["nets"]["G"]) + len(b["nets"]["F"])
    assert {int(s["step"]) for s in g_state.values()} == {4}
    for net in ("G", "D", "F"):
        for key, value in a["nets"][net].items():
            assert torch.equal(value, b["nets"][net][key]), f"{net}.{key} differs after resume"
    scalars, images, _ = tensorboard_events(str(resumed / "cut" / "tb"))
    assert {"loss/D", "loss/G_GAN", "loss/NCE", "loss/NCE_Y", "lr/G", "lr/D"} <= scalars and "visuals" in images

    run_test(unaligned_root, resumed, results, "cut")
    names = sorted(os.listdir(results / "cut" / "test_latest" / "images"))
    assert names == sorted(os.listdir(unaligned_root / "testA"))


def test_fastcut_trains_with_bf16_autocast_and_translates(unaligned_root, tmp_path):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    run_train(unaligned_root, ckpt, "fast", "--model", "fastcut", *COMMON, "--amp", "bf16", "--netF", "sample")
    state = load(ckpt / "fast" / "latest.pt")
    assert state["total_iters"] == 2 and state["nets"]["F"] == {}
    saved = json.loads((ckpt / "fast" / "opt.json").read_text())
    assert saved["nce_idt"] is False and saved["flip_equivariance"] is True and saved["lambda_NCE"] == 10.0
    scalars, _, acc = tensorboard_events(str(ckpt / "fast" / "tb"))
    assert "loss/NCE" in scalars and "loss/NCE_Y" not in scalars
    assert all(torch.isfinite(torch.tensor(e.value)) for e in acc.Scalars("loss/NCE"))
    run_test(unaligned_root, ckpt, results, "fast", "--num_test", "1")
    assert os.listdir(results / "fast" / "test_latest" / "images") == ["img_000.png"]
    with pytest.raises(SystemExit):
        run_test(unaligned_root, ckpt, results, "fast", "--direction", "BtoA")


def test_cut_user_mistakes_are_one_line_errors(unaligned_root, tmp_path, capsys):
    base = ["--dataroot", str(unaligned_root), "--checkpoints_dir", str(tmp_path), "--gpu_ids", "-1",
            "--num_threads", "0", "--model", "cut", "--ngf", "8", "--ndf", "8"]
    err = user_error(capsys, train_script.main, base + ["--netG", "unet_128"])
    assert "--netG" in err and "resnet" in err
    err = user_error(capsys, train_script.main, base + ["--nce_layers", "0,99"])
    assert "--nce_layers" in err
    err = user_error(capsys, train_script.main, base + ["--nce_idt", "maybe"])
    assert "--nce_idt" in err
