"""The data-efficiency and image-quality options: DiffAugment/ADA, multi-scale D with feature matching,
spectral norm, R1, resize-conv / anti-aliased sampling and the VGG loss (tiny sizes, CPU)."""
import json
import os

import pytest
import torch
import torch.nn as nn

from models import create_model, losses
from models.augment import AUGMENTS, DiscriminatorAugment
from models.networks import GENERATORS, build_discriminator, build_generator, get_norm_layer, init_weights
from models.networks.multiscale import FeatureMatchingLoss, MultiscaleDiscriminator
from models.networks.sampling import Blur
from models.perceptual import VGGLoss
from models.regularizers import LazyR1, r1_penalty
from options.train_options import TrainOptions
from tests.helpers import build_nets, checkpoint_nets, run_test, run_train, tensorboard_events, user_error, write_images
from util.errors import UserError

AUG = ["--diffaug", "color,translation,cutout"]


def tiny_model(*flags, model="pix2pix"):
    """A training model built from the command line on the CPU (no data needed)."""
    opt = TrainOptions().parse(["--dataroot", "unused", "--gpu_ids", "-1", "--model", model, "--ngf", "8", "--ndf", "8",
                                "--netG", "resnet_6blocks", "--crop_size", "32", *flags])
    return create_model(opt, torch.device("cpu"))


@pytest.fixture
def aligned(tmp_path):
    write_images(tmp_path / "al" / "train", 4, size=(64, 32))
    return tmp_path / "al"


@pytest.fixture
def unaligned(tmp_path):
    write_images(tmp_path / "un" / "trainA", 4, size=(40, 36))
    write_images(tmp_path / "un" / "trainB", 4, size=(40, 36), seed=1)
    return tmp_path / "un"


# ---------------------------------------------------------------- DiffAugment / ADA
def test_augment_applies_the_same_draw_to_every_batch_and_is_differentiable():
    torch.manual_seed(0)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    fake = real.clone().requires_grad_(True)
    out_real, out_fake = DiscriminatorAugment("color,translation,cutout")(real, fake)
    assert out_real.shape == real.shape
    torch.testing.assert_close(out_real, out_fake)           # same input -> same augmented image
    assert (out_real - real).abs().mean() > 0.05             # and it did change the images
    per_sample = [(out_real[i] - real[i]).abs().mean() for i in range(4)]
    assert len({round(float(v), 4) for v in per_sample}) == 4   # each sample its own draw
    out_fake.sum().backward()
    assert fake.grad.abs().sum() > 0                         # G learns through the augmentation


def test_augment_ops_do_what_they_say():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    shifted = AUGMENTS.get("translation").apply(x, (torch.tensor([[[1]]]), torch.tensor([[[0]]])))
    torch.testing.assert_close(shifted[0, 0, :-1], x[0, 0, 1:])        # content moved up one row
    assert (shifted[0, 0, -1] == 0).all()                              # zeros came in
    mask = AUGMENTS.get("cutout").draw(64, 8, 8, "cpu")
    assert mask.shape == (64, 1, 8, 8) and mask.min() == 0
    assert ((1 - mask).sum(dim=(1, 2, 3)) <= 16).all()                 # at most a 4x4 square per image
    assert DiscriminatorAugment("")(x)[0] is x                          # off: untouched
    with pytest.raises(UserError, match="color, cutout, translation"):
        DiscriminatorAugment("colour")


def test_discriminator_sees_the_same_augmentation_on_real_and_fake():
    torch.manual_seed(0)
    model = tiny_model(*AUG)
    seen = []

    class Recorder(nn.Module):
        def forward(self, x):
            seen.append(x.detach().clone())
            return x.mean(dim=1, keepdim=True)

    real = torch.rand(2, 3, 32, 32) * 2 - 1
    model.real_A, model.real_B, model.fake_B = real.flip(3), real, real.clone()
    model.nets["D"] = Recorder()
    terms = model.discriminator_losses()
    assert set(terms) == {"D"}
    real_seen, fake_seen = seen
    torch.testing.assert_close(real_seen, fake_seen)
    assert not torch.allclose(real_seen, torch.cat((model.real_A, real), 1))


class ConstantD(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full((x.shape[0], 1, 2, 2), self.value)


def test_ada_moves_p_by_the_heuristic_and_its_state_round_trips():
    aug = DiscriminatorAugment("translation", ada_target=0.6, ada_speed=80, ada_interval=2)
    assert aug.p == 0.0
    real = torch.zeros(4, 3, 8, 8)
    for _ in range(4):                              # D is sure every real is real: r_t = 1 > 0.6
        aug.observe(ConstantD(3.0), real, 0.0)
    assert aug.p == pytest.approx(2 * 4 * 2 / 80)   # two updates of images * interval / speed
    aug.observe(ConstantD(-1.0), real, 0.0)
    aug.observe(ConstantD(-1.0), real, 0.0)         # r_t = -1 < 0.6: back down by one step
    assert aug.p == pytest.approx(0.1)
    other = DiscriminatorAugment("translation", ada_target=0.6)
    other.load_state_dict(aug.state_dict())
    assert (other.p, other.calls) == (aug.p, aug.calls)
    assert DiscriminatorAugment("translation").p == 1.0   # plain DiffAugment always augments


def test_ada_p_is_logged_saved_and_restored_on_resume(unaligned, tmp_path):
    flags = ["--model", "cycle_gan", *AUG, "--ada_target", "0.6", "--ada_speed", "40", "--lambda_identity", "0",
             "--n_epochs", "2", "--save_epoch_freq", "1"]
    run_train(unaligned, tmp_path / "ck", "straight", *flags)
    straight = torch.load(tmp_path / "ck" / "straight" / "latest.pt", weights_only=True)
    assert straight["states"]["augment"]["calls"] == 16   # 8 iterations x (D_A + D_B)
    scalars, _, acc = tensorboard_events(str(tmp_path / "ck" / "straight" / "tb"))
    assert "aug/p" in scalars
    assert acc.Scalars("aug/p")[-1].value == pytest.approx(straight["states"]["augment"]["p"])
    # Resume from the checkpoint written after epoch 1, once as saved and once with p set to 0.5 in it.
    epoch1 = torch.load(tmp_path / "ck" / "straight" / "1.pt", weights_only=True)
    for name, p in (("resumed", None), ("resumed_p", 0.5)):
        os.makedirs(tmp_path / "ck" / name)
        if p is not None:
            epoch1["states"]["augment"]["p"] = p
        torch.save(epoch1, tmp_path / "ck" / name / "1.pt")
        run_train(unaligned, tmp_path / "ck", name, *flags, "--continue_train", "--epoch", "1")
    resumed = torch.load(tmp_path / "ck" / "resumed" / "latest.pt", weights_only=True)
    assert resumed["states"] == straight["states"]
    for name, state in straight["nets"].items():
        for key, value in state.items():
            torch.testing.assert_close(value, resumed["nets"][name][key], msg=f"{name}.{key}")
    _, _, acc = tensorboard_events(str(tmp_path / "ck" / "resumed_p" / "tb"))
    assert acc.Scalars("aug/p")[0].value == 0.5           # the first step after resuming runs with the saved p


# ---------------------------------------------------------------- R1
def test_r1_equals_a_hand_computation_on_a_tiny_d():
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -2.0, 0.5]).reshape(1, 3, 1, 1))
    x = torch.randn(2, 3, 4, 5)
    # D(x) = sum_c w_c x_c per pixel: the gradient of its sum is w at every pixel -> ||grad||^2 = H*W*||w||^2
    penalty = r1_penalty(conv, x)
    assert penalty.item() == pytest.approx(4 * 5 * (1 + 4 + 0.25))
    penalty.backward()                                   # d/dw (H*W*||w||^2) = 2*H*W*w: it trains D
    torch.testing.assert_close(conv.weight.grad.flatten(), 2 * 20 * torch.tensor([1.0, -2.0, 0.5]))

    class Square(nn.Module):
        def forward(self, x):
            return [(x ** 2).sum(dim=(1, 2, 3), keepdim=True), x.sum(dim=(1, 2, 3), keepdim=True)]

    # two "scales": grad = 2x + 1, so R1 = mean_i sum (2x + 1)^2
    expected = ((2 * x + 1) ** 2).sum(dim=(1, 2, 3)).mean()
    assert r1_penalty(Square(), x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_lazy_r1_applies_every_k_steps_scaled_by_k():
    conv = nn.Conv2d(3, 1, 1, bias=False)
    x = torch.randn(2, 3, 4, 4)
    lazy = LazyR1(weight=10.0, every=3)
    values = [lazy("D", conv, x).item() for _ in range(6)]
    full = r1_penalty(conv, x).item()
    assert values[0] == values[1] == values[3] == values[4] == 0.0
    assert values[2] == pytest.approx(0.5 * 10 * 3 * full) and values[5] == pytest.approx(values[2])
    assert lazy.state_dict() == {"steps": {"D": 6}}


# ---------------------------------------------------------------- discriminators
def test_spectral_norm_bounds_the_largest_singular_value():
    net = build_discriminator(TrainOptions().parse(["--dataroot", "x", "--ndf", "8", "--d_norm", "spectral"]), 3)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5 and all(hasattr(m, "parametrizations") for m in convs)
    with torch.no_grad():
        for m in convs:
            m.parametrizations.weight.original.mul_(100)     # far above 1 before normalisation
        for _ in range(100):                                 # one power iteration per training forward
            net(torch.randn(1, 3, 32, 32))
    for m in convs:
        original = torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), ord=2)
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert original > 5 and sigma == pytest.approx(1.0, abs=1e-2)


def test_multiscale_outputs_gan_loss_and_size_check():
    net = MultiscaleDiscriminator(6, ndf=4, n_layers=2, norm_layer=get_norm_layer("instance"), num_D=3)
    x = torch.randn(2, 6, 64, 64)
    outs = net(x)
    assert [tuple(o.shape) for o in outs] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]
    loss = losses.GAN_LOSSES.build("lsgan")
    assert loss(outs, True).item() == pytest.approx(torch.stack([loss(o, True) for o in outs]).mean().item())
    with pytest.raises(UserError, match="--num_D 3: the coarsest scale is 8 px"):
        net(torch.randn(1, 6, 32, 32))
    feats = net.features(x)
    assert len(feats) == 3 and all(len(f) == 4 for f in feats)     # 3 LeakyReLUs + logits per scale
    torch.testing.assert_close(feats[1][-1], outs[1])


def test_feature_matching_is_zero_for_equal_inputs_and_trains_g_only():
    net = MultiscaleDiscriminator(3, ndf=4, n_layers=2, norm_layer=get_norm_layer("instance"), num_D=2)
    fm = FeatureMatchingLoss(net)
    real = torch.randn(2, 3, 32, 32)
    assert fm(net, real, real.clone()).item() == 0.0
    fake = (real + 0.5 * torch.randn_like(real)).requires_grad_(True)
    value = fm(net, real, fake)
    assert value.item() > 0
    value.backward()
    assert fake.grad.abs().sum() > 0
    with pytest.raises(UserError, match="--netD basic, n_layers or multiscale"):
        FeatureMatchingLoss(build_nets("--dataroot", "x", "--netD", "pixel", "--ndf", "4", "--ngf", "4")["D_A"])


# ---------------------------------------------------------------- generators
@pytest.mark.parametrize("net_name", ["resnet_6blocks", "unet_128"])
def test_resize_conv_removes_the_transposed_convolutions(net_name):
    opt = TrainOptions().parse(["--dataroot", "x", "--netG", net_name, "--ngf", "4", "--upsample", "resize_conv"])
    net = build_generator(opt)
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    assert sum(isinstance(m, nn.Upsample) for m in net.modules()) == (2 if net_name.startswith("resnet") else 7)
    with torch.no_grad():
        assert net(torch.randn(1, 3, 128, 128)).shape == (1, 3, 128, 128)


def test_antialias_blurs_every_resolution_change_and_keeps_layer_indices():
    plain = build_nets("--dataroot", "x", "--model", "cut", "--ngf", "4", "--netG", "resnet_6blocks")["G"]
    opt = TrainOptions().parse(["--dataroot", "x", "--netG", "resnet_6blocks", "--ngf", "4", "--antialias"])
    smooth = build_generator(opt)
    assert sum(isinstance(m, Blur) for m in smooth.modules()) == 4          # 2 down + 2 up
    assert len(smooth.model) == len(plain.model)                           # CUT's --nce_layers still point at the same layers
    assert sum(p.numel() for p in smooth.parameters()) == sum(p.numel() for p in plain.parameters())
    blur = Blur()
    flat = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(blur(flat), flat)                           # a low-pass filter keeps constants
    checker = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2 * 2.0 - 1
    assert blur(checker.reshape(1, 1, 8, 8)).abs().max() < 1e-6                 # the period-2 pattern is removed


def test_default_generators_keep_the_old_state_dict_and_old_runs_load(unaligned, tmp_path):
    opt = TrainOptions().parse(["--dataroot", "x", "--ngf", "4"])
    built = build_generator(opt).state_dict()
    old = init_weights(GENERATORS.build("resnet_9blocks", 3, 3, 4, get_norm_layer("instance"), False)).state_dict()
    assert {k: v.shape for k, v in built.items()} == {k: v.shape for k, v in old.items()}
    # a run from before these options: its opt.json has none of them
    run_train(unaligned, tmp_path / "ck", "old")
    path = tmp_path / "ck" / "old" / "opt.json"
    options = json.loads(path.read_text())
    for key in ("upsample", "antialias", "diffaug", "ada_target", "ada_speed", "num_D", "d_norm", "lambda_r1", "r1_every"):
        del options[key]
    path.write_text(json.dumps(options))
    run_test(unaligned / "trainA", tmp_path / "ck", tmp_path / "results", "old")
    assert len(os.listdir(tmp_path / "results" / "old" / "test_latest" / "images")) == 4


# ---------------------------------------------------------------- VGG
def test_vgg_loss_mechanics_with_a_random_vgg():
    torch.manual_seed(0)
    vgg = VGGLoss("random")
    real = torch.rand(1, 3, 32, 32) * 2 - 1
    assert vgg(real, real.clone()).item() == 0.0
    fake = torch.zeros(1, 1, 32, 32, requires_grad=True)               # grayscale is repeated to 3 channels
    value = vgg(fake, real)
    value.backward()
    assert value.item() > 0 and fake.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in vgg.parameters())          # VGG itself stays frozen


def test_missing_vgg_weights_is_one_line(capsys, aligned, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch_home"))
    err = user_error(capsys, run_train, aligned, tmp_path / "ck", "vgg", "--model", "pix2pix", "--lambda_vgg", "1")
    assert err.startswith("error: --lambda_vgg needs VGG19 weights") and "--vgg_weights PATH" in err and "\n" not in err


def test_recipe_option_errors(capsys, aligned, tmp_path):
    err = user_error(capsys, run_train, aligned, tmp_path / "ck", "x", "--model", "pix2pix", "--ada_target", "0.6")
    assert "--diffaug" in err
    err = user_error(capsys, run_train, aligned, tmp_path / "ck", "x", "--model", "pix2pix", "--diffaug", "flip")
    assert "unknown augmentation 'flip' (--diffaug): choose one of color, cutout, translation" in err
    err = user_error(capsys, run_train, aligned, tmp_path / "ck", "x", "--model", "pix2pix", "--netD", "multiscale")
    assert "--crop_size" in err and "--num_D" in err


# ---------------------------------------------------------------- end to end: every term is logged
def test_every_new_loss_term_is_logged_and_finite_pix2pix_bf16(aligned, tmp_path):
    run_train(aligned, tmp_path / "ck", "p", "--model", "pix2pix", "--netD", "multiscale", "--num_D", "2", "--n_layers_D", "2",
              "--lambda_feat", "10", "--lambda_vgg", "1", "--vgg_weights", "random", "--lambda_r1", "1", "--r1_every", "1",
              "--d_norm", "spectral", "--upsample", "resize_conv", "--antialias", *AUG, "--amp", "bf16")
    scalars, _, acc = tensorboard_events(str(tmp_path / "ck" / "p" / "tb"))
    for term in ("G_GAN", "G_L1", "G_feat", "G_VGG", "D", "D_R1"):
        values = [e.value for e in acc.Scalars(f"loss/{term}")]
        assert len(values) == 4 and all(torch.isfinite(torch.tensor(values))), term
        assert max(values) > 0, term
    assert "aug/p" not in scalars                    # only with --ada_target
    nets = checkpoint_nets(tmp_path / "ck" / "p" / "latest.pt")
    assert any("parametrizations.weight.original" in k for k in nets["D"])
    # test.py rebuilds the resize-conv, anti-aliased generator from the run's opt.json
    run_test(aligned, tmp_path / "ck", tmp_path / "results", "p", "--phase", "train")
    assert len(os.listdir(tmp_path / "results" / "p" / "train_latest" / "images")) == 4


@pytest.mark.parametrize("model", ["cycle_gan", "cut"])
def test_r1_terms_logged_per_discriminator(model, unaligned, tmp_path):
    run_train(unaligned, tmp_path / "ck", model, "--model", model, "--lambda_r1", "1", "--r1_every", "2", *AUG,
              *(["--num_patches", "16"] if model == "cut" else []))
    scalars, _, acc = tensorboard_events(str(tmp_path / "ck" / model / "tb"))
    names = ["D_A_R1", "D_B_R1"] if model == "cycle_gan" else ["D_R1"]
    for name in names:
        values = [e.value for e in acc.Scalars(f"loss/{name}")]
        assert values[0] == 0.0 and values[1] > 0, name      # lazy: every second D step
