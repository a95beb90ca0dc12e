"""GAN losses, the gradient penalty and the image pool."""
import math
import random

import pytest
import torch
import torch.nn as nn

from models.image_pool import ImagePool
from models.losses import GAN_LOSSES, gradient_penalty
from util.errors import UserError


def _loss(mode, value, real, for_d=True, dtype=torch.float32):
    pred = torch.full((2, 1, 3, 3), value, dtype=dtype)
    return GAN_LOSSES.build(mode)(pred, real, for_d).item()


def test_lsgan_is_squared_distance_to_the_label():
    assert _loss("lsgan", 0.5, True) == pytest.approx(0.25)
    assert _loss("lsgan", 0.5, False) == pytest.approx(0.25)
    assert _loss("lsgan", 1.0, True) == pytest.approx(0.0)
    assert _loss("lsgan", 1.0, False) == pytest.approx(1.0)


def test_vanilla_is_binary_cross_entropy_on_logits():
    assert _loss("vanilla", 0.0, True) == pytest.approx(math.log(2))
    assert _loss("vanilla", 0.0, False) == pytest.approx(math.log(2))
    assert _loss("vanilla", 3.0, True) == pytest.approx(math.log1p(math.exp(-3.0)))


def test_hinge_margins_for_d_and_negated_score_for_g():
    assert _loss("hinge", 2.0, True) == pytest.approx(0.0)
    assert _loss("hinge", 0.5, True) == pytest.approx(0.5)
    assert _loss("hinge", -0.5, False) == pytest.approx(0.5)
    assert _loss("hinge", -2.0, False) == pytest.approx(0.0)
    assert _loss("hinge", 2.0, True, for_d=False) == pytest.approx(-2.0)


def test_wgangp_signs():
    assert _loss("wgangp", 1.5, True) == pytest.approx(-1.5)
    assert _loss("wgangp", 1.5, False) == pytest.approx(1.5)
    assert _loss("wgangp", 1.5, True, for_d=False) == pytest.approx(-1.5)


@pytest.mark.parametrize("mode", GAN_LOSSES.names())
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_losses_compute_in_float32(mode, dtype):
    pred = torch.randn(2, 1, 3, 3).to(dtype).requires_grad_(True)
    loss = GAN_LOSSES.build(mode)(pred, True)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    loss.backward()
    assert pred.grad.dtype == dtype


def test_unknown_gan_mode():
    with pytest.raises(UserError, match="--gan_mode") as err:
        GAN_LOSSES.get("wgan")
    for name in ("hinge", "lsgan", "vanilla", "wgangp"):
        assert name in str(err.value)


class _Linear(nn.Module):
    """D(x) = <w, x> per sample."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


def test_gradient_penalty_is_zero_for_unit_gradients_and_quadratic_beyond():
    real, fake = torch.randn(4, 2, 3, 3), torch.randn(4, 2, 3, 3)
    w = torch.randn(2, 3, 3)
    unit = gradient_penalty(_Linear(w / w.norm()), real, fake)
    assert unit.item() == pytest.approx(0.0, abs=1e-6)
    netD = _Linear(3 * w / w.norm())
    penalty = gradient_penalty(netD, real, fake, weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * 4.0, rel=1e-5)
    penalty.backward()
    # d/dv 10 (|v| - 1)^2 = 20 (|v| - 1) v / |v| with |v| = 3: the penalty trains D's weights
    torch.testing.assert_close(netD.w.grad, 20 * 2 * netD.w.detach() / 3, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_matches_a_jacobian_computation_for_a_conv_discriminator():
    netD = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    real, fake = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    torch.manual_seed(7)
    penalty = gradient_penalty(netD, real, fake, weight=10.0)
    torch.manual_seed(7)   # the same mixing coefficients, drawn as gradient_penalty draws them
    alpha = torch.rand(2, 1, 1, 1)
    expected = []
    for i in range(2):
        x = alpha[i] * real[i:i + 1] + (1 - alpha[i]) * fake[i:i + 1]
        jacobian = torch.autograd.functional.jacobian(lambda y: netD(y).sum(), x)
        expected.append((jacobian.flatten().norm() - 1) ** 2)
    assert penalty.item() == pytest.approx(10 * torch.stack(expected).mean().item(), rel=1e-5)


def test_pool_size_zero_returns_input():
    images = torch.randn(3, 3, 4, 4)
    assert ImagePool(0).query(images) is images


def _batches(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, 4, 4, generator=gen) for _ in range(n)]


def test_pool_returns_only_given_images():
    random.seed(0)
    pool = ImagePool(3)
    seen = []
    for batch in _batches(10):
        seen += list(batch)
        out = pool.query(batch)
        assert out.shape == batch.shape
        for image in out:
            assert any(torch.equal(image, s) for s in seen)
    assert len(pool.images) == 3


def test_pool_fills_first_then_mixes():
    random.seed(1)
    pool = ImagePool(4)
    first = _batches(2, seed=1)
    for batch in first:
        assert torch.equal(pool.query(batch), batch)
    outs = [pool.query(b) for b in _batches(20, seed=2)]
    assert any(not torch.equal(o, b) for o, b in zip(outs, _batches(20, seed=2)))


def test_pool_output_is_detached_and_storage_is_a_copy():
    pool = ImagePool(2)
    images = torch.randn(2, 3, 4, 4, requires_grad=True)
    out = pool.query(images)
    assert not out.requires_grad
    with torch.no_grad():
        images.zero_()
    assert pool.images[0].abs().sum() > 0


def test_pool_state_dict_round_trip():
    random.seed(3)
    pool = ImagePool(3)
    batches = _batches(8, seed=3)
    for batch in batches[:4]:
        pool.query(batch)
    state = pool.state_dict()
    assert state["pool_size"] == 3 and state["images"].shape == (3, 3, 4, 4)
    rng_state = random.getstate()
    expected = [pool.query(b) for b in batches[4:]]

    restored = ImagePool(0)
    restored.load_state_dict(state, torch.device("cpu"))
    assert torch.equal(torch.stack(restored.images), state["images"])
    random.setstate(rng_state)
    for batch, want in zip(batches[4:], expected):
        assert torch.equal(restored.query(batch), want)


def test_empty_pool_state_dict():
    state = ImagePool(5).state_dict()
    assert state == {"pool_size": 5, "images": None}
    pool = ImagePool(0)
    pool.load_state_dict(state)
    assert pool.pool_size == 5 and pool.images == []
