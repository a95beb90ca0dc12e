"""GAN objectives selectable with ``--gan_mode``, and the WGAN-GP gradient penalty."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.regularizers import discriminator_outputs
from util.registry import Registry

GAN_LOSSES = Registry("GAN loss", "--gan_mode")


class GANLoss(nn.Module):
    """Base class of the GAN objectives.

    ``forward(prediction, target_is_real, for_discriminator=True)`` takes discriminator logits of
    any shape and dtype (or a list of them, one per scale of a multi-scale D: the losses are
    averaged) and returns a float32 scalar. The generator calls it on its fakes with
    ``target_is_real=True, for_discriminator=False``. `decision_boundary` is the logit between the
    real and fake labels (ADA's overfitting heuristic counts the real logits above it).
    """

    decision_boundary = 0.0

    def forward(self, prediction, target_is_real: bool, for_discriminator: bool = True) -> torch.Tensor:
        """Return the scalar loss of ``prediction`` against the real or fake label."""
        if isinstance(prediction, (list, tuple)):
            return torch.stack([self.loss(p.float(), target_is_real, for_discriminator) for p in prediction]).mean()
        return self.loss(prediction.float(), target_is_real, for_discriminator)

    def loss(self, prediction: torch.Tensor, target_is_real: bool, for_discriminator: bool) -> torch.Tensor:
        """Compute the loss on a float32 ``prediction``; subclasses implement this."""
        raise NotImplementedError


class _LabelLoss(GANLoss):
    """A GAN loss that compares predictions with a constant target label (1 real, 0 fake by default)."""

    def __init__(self, target_real_label: float = 1.0, target_fake_label: float = 0.0):
        super().__init__()
        self.real_label = target_real_label
        self.fake_label = target_fake_label

    def loss(self, prediction, target_is_real, for_discriminator):
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        return self.criterion(prediction, target)

    def criterion(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@GAN_LOSSES.register("lsgan")
class LSGANLoss(_LabelLoss):
    """Least-squares GAN: mean squared error to the label (1 real, 0 fake)."""

    decision_boundary = 0.5

    def criterion(self, prediction, target):
        return F.mse_loss(prediction, target)


@GAN_LOSSES.register("vanilla")
class VanillaGANLoss(_LabelLoss):
    """The original GAN: binary cross-entropy on logits against the label (1 real, 0 fake)."""

    def criterion(self, prediction, target):
        return F.binary_cross_entropy_with_logits(prediction, target)


@GAN_LOSSES.register("wgangp")
class WGANLoss(GANLoss):
    """Wasserstein critic loss: ``-mean(prediction)`` for real targets, ``+mean(prediction)`` for fake.

    The same for D and G (G calls it on fakes with a real target). Pair with `gradient_penalty`.
    """

    def loss(self, prediction, target_is_real, for_discriminator):
        return -prediction.mean() if target_is_real else prediction.mean()


@GAN_LOSSES.register("hinge")
class HingeGANLoss(GANLoss):
    """Hinge loss: D gets ``mean(relu(1 - real))`` and ``mean(relu(1 + fake))``; G gets ``-mean(fake)``."""

    def loss(self, prediction, target_is_real, for_discriminator):
        if not for_discriminator:
            return -prediction.mean() if target_is_real else prediction.mean()
        sign = -1.0 if target_is_real else 1.0
        return F.relu(1.0 + sign * prediction).mean()


def gradient_penalty(netD: nn.Module, real: torch.Tensor, fake: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
    """WGAN-GP penalty ``weight * mean((||grad D(x)||_2 - 1) ** 2)`` at random real/fake interpolations.

    ``real`` and ``fake`` are ``(N, ...)`` batches of the same shape (detached here); each sample gets
    its own mixing coefficient. Returns a float32 scalar that is differentiable w.r.t. netD's
    parameters. Runs with autocast disabled so the double backward is in full precision.
    """
    real = real.detach().float()
    fake = fake.detach().float()
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = sum(o.float().sum() for o in discriminator_outputs(netD(interpolates)))   # every scale of a multi-scale D
        (grad,) = torch.autograd.grad(outputs=out, inputs=interpolates, create_graph=True)
        # The epsilon keeps the norm differentiable where the gradient is exactly zero.
        grad_norm = (grad.reshape(grad.shape[0], -1) + 1e-16).norm(2, dim=1)
        return ((grad_norm - 1.0) ** 2).mean() * weight
