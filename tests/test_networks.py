"""Shapes, initialisation and registry behaviour of models.networks."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn

from models.networks import (
    DISCRIMINATORS,
    GENERATORS,
    INITS,
    NORMS,
    ResnetGenerator,
    build_discriminator,
    build_generator,
    get_norm_layer,
    init_weights,
)
from util.errors import UserError

# Smallest input each generator accepts, and a (batch, ngf) that keeps the test fast.
GENERATOR_CASES = {
    "resnet_9blocks": (32, 2, 8),
    "resnet_6blocks": (32, 2, 8),
    "unet_128": (128, 2, 8),
    "unet_256": (256, 1, 4),
}


def test_every_generator_has_a_case():
    assert sorted(GENERATOR_CASES) == GENERATORS.names()


@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("name", sorted(GENERATOR_CASES))
def test_generator_forward_keeps_size(name, norm):
    size, batch, ngf = GENERATOR_CASES[name]
    net = GENERATORS.build(name, 3, 2, ngf, get_norm_layer(norm), use_dropout=True)
    assert size % net.size_multiple == 0
    with torch.no_grad():
        out = net(torch.randn(batch, 3, size, size))
    assert out.shape == (batch, 2, size, size)
    assert torch.isfinite(out).all() and out.abs().max() <= 1


@pytest.mark.parametrize("name", ["unet_128", "resnet_6blocks"])
def test_generator_backward_despite_inplace_activations(name):
    size = GENERATOR_CASES[name][0]
    net = GENERATORS.build(name, 3, 3, 4, get_norm_layer("batch"), use_dropout=True)
    x = torch.randn(1, 3, size, size, requires_grad=True)
    net(x).mean().backward()
    assert torch.isfinite(x.grad).all()


def test_generators_declare_the_size_multiple_they_need():
    norm = get_norm_layer("none")
    assert GENERATORS.build("resnet_9blocks", 3, 3, 4, norm).size_multiple == 4
    assert GENERATORS.build("unet_128", 3, 3, 4, norm).size_multiple == 128
    assert GENERATORS.build("unet_256", 3, 3, 4, norm).size_multiple == 256


@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("name", DISCRIMINATORS.names())
def test_every_discriminator_gives_finite_patch_logits(name, norm):
    net = DISCRIMINATORS.build(name, 6, 8, 3, get_norm_layer(norm))
    with torch.no_grad():
        out = net(torch.randn(2, 6, 96, 96))
    # multiscale: 70x70 PatchGANs on 96, 48 and 24 px (a list, finest first)
    expected = {"basic": [(10, 10)], "n_layers": [(10, 10)], "pixel": [(96, 96)], "multiscale": [(10, 10), (4, 4), (1, 1)]}[name]
    outs = out if isinstance(out, list) else [out]
    assert [o.shape for o in outs] == [(2, 1, *size) for size in expected]
    assert all(torch.isfinite(o).all() for o in outs)


def test_patchgan_on_256_gives_30x30():
    net = DISCRIMINATORS.build("basic", 3, 4, 3, get_norm_layer("instance"))
    with torch.no_grad():
        assert net(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


def test_basic_ignores_n_layers_but_n_layers_uses_it():
    norm = get_norm_layer("batch")
    basic = DISCRIMINATORS.build("basic", 3, 8, 5, norm)
    deeper = DISCRIMINATORS.build("n_layers", 3, 8, 4, norm)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert basic(x).shape == (2, 1, 6, 6)
        assert deeper(x).shape == (2, 1, 2, 2)


def test_conv_bias_follows_norm():
    def conv_biases(norm):
        net = DISCRIMINATORS.build("basic", 3, 8, 3, get_norm_layer(norm))
        return [m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d)]

    # The first and last convs always have a bias; the normalised ones only without batch norm.
    assert conv_biases("batch") == [True, False, False, False, True]
    assert conv_biases("instance") == [True] * 5
    assert conv_biases("none") == [True] * 5


def test_norm_registry_builds_the_documented_layers():
    assert isinstance(get_norm_layer("none")(8), nn.Identity)
    inorm = get_norm_layer("instance")(8)
    assert isinstance(inorm, nn.InstanceNorm2d) and not inorm.affine and not inorm.track_running_stats
    bnorm = get_norm_layer("batch")(8)
    assert isinstance(bnorm, nn.BatchNorm2d) and bnorm.affine and bnorm.track_running_stats


def test_resnet_forward_features_channels():
    ngf, size = 4, 32
    net = ResnetGenerator(3, 3, ngf, get_norm_layer("instance"), n_blocks=9)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        feats = net.forward_features(x, [16, 0, 4, 12, 8])
    shapes = [tuple(f.shape) for f in feats]
    q = size // 4
    assert shapes == [
        (2, 3, size + 6, size + 6),
        (2, 2 * ngf, size // 2, size // 2),
        (2, 4 * ngf, q, q),
        (2, 4 * ngf, q, q),
        (2, 4 * ngf, q, q),
    ]
    assert torch.equal(feats[0], nn.functional.pad(x, (3, 3, 3, 3), mode="reflect"))


def test_resnet_forward_features_stops_at_last_layer():
    net = ResnetGenerator(3, 3, 4, get_norm_layer("none"), n_blocks=2)
    calls = []
    for layer in net.model:
        layer.register_forward_hook(lambda *_: calls.append(1))
    net.forward_features(torch.randn(1, 3, 8, 8), [4])
    assert len(calls) == 5
    with pytest.raises(ValueError):
        net.forward_features(torch.randn(1, 3, 8, 8), [len(net.model)])


def _big_conv():
    return nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(128))


def test_normal_init_sets_conv_std_and_bn_around_one():
    net = init_weights(_big_conv(), "normal", 0.02)
    conv, bn = net
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert conv.bias.abs().max() == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.3)
    assert bn.bias.abs().max() == 0


def test_init_xavier_and_kaiming_scale_with_fan():
    fan_in, fan_out = 64 * 9, 128 * 9
    conv = init_weights(_big_conv(), "xavier", 0.5)[0]
    assert conv.weight.std().item() == pytest.approx(0.5 * (2 / (fan_in + fan_out)) ** 0.5, rel=0.05)
    conv = init_weights(_big_conv(), "kaiming", 0.02)[0]
    assert conv.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)


def test_orthogonal_init_rows_are_orthogonal_with_gain():
    conv = init_weights(_big_conv(), "orthogonal", 0.5)[0]
    rows = conv.weight.reshape(128, -1)
    assert torch.allclose(rows @ rows.T, 0.25 * torch.eye(128), atol=1e-4)


def test_init_covers_transposed_convs_and_returns_net():
    net = ResnetGenerator(3, 3, 4, get_norm_layer("batch"), n_blocks=1)
    assert init_weights(net, "normal", 0.0) is net
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            assert m.weight.abs().max() == 0


@pytest.mark.parametrize(
    "call",
    [
        lambda: GENERATORS.get("resnet_7blocks"),
        lambda: DISCRIMINATORS.build("patch", 3),
        lambda: get_norm_layer("group"),
        lambda: init_weights(nn.Linear(2, 2), "uniform"),
    ],
)
def test_unknown_names_list_valid_ones(call):
    with pytest.raises(UserError) as err:
        call()
    registry = next(r for r in (GENERATORS, DISCRIMINATORS, NORMS, INITS) if r.option in str(err.value))
    for name in registry.names():
        assert name in str(err.value)


def _opt(**overrides):
    opt = dict(
        input_nc=3, output_nc=1, ngf=4, ndf=4, netG="resnet_6blocks", netD="basic", n_layers_D=3,
        norm="instance", init_type="normal", init_gain=0.02, no_dropout=True, upsample="transpose", antialias=False, d_norm="none",
    )
    opt.update(overrides)
    return SimpleNamespace(**opt)


def test_builders_follow_the_options_shapes_and_dropout():
    netG = build_generator(_opt())
    netD = build_discriminator(_opt(), 4)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        fake = netG(x)
        assert fake.shape == (2, 1, 32, 32)
        assert netD(torch.cat([x, fake], 1)).shape == (2, 1, 2, 2)
    assert not any(isinstance(m, nn.Dropout) for m in netG.modules())
    assert any(isinstance(m, nn.Dropout) for m in build_generator(_opt(no_dropout=False)).modules())
    with pytest.raises(UserError, match="--netG"):
        build_generator(_opt(netG="nope"))
    with pytest.raises(UserError, match="--init_type"):
        build_discriminator(_opt(init_type="nope"), 3)
