"""What the discriminators see, augmented: DiffAugment (Zhao et al., 2020) policies selectable with
``--diffaug``, applied with a probability p that ``--ada_target`` adapts (StyleGAN2-ADA, Karras et al., 2020).

Every operation is differentiable, so the generator learns through the augmented fakes, and one call
augments several batches with the *same* random draws (sample i of each batch gets the same shift,
cutout and colour change), so a discriminator compares real and fake images under one transformation.
Images are in [-1, 1], as in the DiffAugment reference.
"""
import math
from typing import Callable, Dict, List, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F

from util.registry import Registry


class AugmentOp:
    """One augmentation: `draw(n, h, w, device)` returns random parameters for n samples, and
    `apply(x, params)` transforms an ``(n, C, h, w)`` batch with them (same shape back)."""

    def __init__(self, draw: Callable, apply: Callable):
        self.draw = draw
        self.apply = apply


AUGMENTS = Registry("augmentation", "--diffaug")


def _register(name: str, draw: Callable, apply: Callable) -> None:
    AUGMENTS.register(name)(AugmentOp(draw, apply))


def _channel_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=1, keepdim=True)


def _draw_color(n, h, w, device):
    return torch.rand(3, n, 1, 1, 1, device=device)


def _apply_color(x, r):
    x = x + (r[0].to(x.dtype) - 0.5)                                            # brightness
    x = (x - _channel_mean(x)) * (r[1].to(x.dtype) * 2) + _channel_mean(x)      # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r[2].to(x.dtype) + 0.5) + mean                         # contrast


def _draw_translation(n, h, w, device, ratio=0.125):
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    return (torch.randint(-sh, sh + 1, (n, 1, 1), device=device), torch.randint(-sw, sw + 1, (n, 1, 1), device=device))


def _apply_translation(x, shifts):
    n, _, h, w = x.shape
    b, gy, gx = torch.meshgrid(torch.arange(n, device=x.device), torch.arange(h, device=x.device),
                               torch.arange(w, device=x.device), indexing="ij")
    # Index into a 1-pixel zero border: pixels shifted in from outside the image are zeros.
    gy = torch.clamp(gy + shifts[0] + 1, 0, h + 1)
    gx = torch.clamp(gx + shifts[1] + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[b, gy, gx].permute(0, 3, 1, 2)


def _draw_cutout(n, h, w, device, ratio=0.5):
    size = (int(h * ratio + 0.5), int(w * ratio + 0.5))
    oy = torch.randint(0, h + (1 - size[0] % 2), (n, 1, 1), device=device)
    ox = torch.randint(0, w + (1 - size[1] % 2), (n, 1, 1), device=device)
    b, gy, gx = torch.meshgrid(torch.arange(n, device=device), torch.arange(size[0], device=device),
                               torch.arange(size[1], device=device), indexing="ij")
    gy = torch.clamp(gy + oy - size[0] // 2, 0, h - 1)
    gx = torch.clamp(gx + ox - size[1] // 2, 0, w - 1)
    mask = torch.ones(n, h, w, device=device)
    mask[b, gy, gx] = 0
    return mask.unsqueeze(1)


def _apply_cutout(x, mask):
    return x * mask.to(x.dtype)


_register("color", _draw_color, _apply_color)
_register("translation", _draw_translation, _apply_translation)
_register("cutout", _draw_cutout, _apply_cutout)


def parse_policy(policy: str) -> List[str]:
    """'color,translation' -> ['color', 'translation'] ('' -> []); raise `UserError` for unknown names."""
    names = [part.strip() for part in str(policy).split(",") if part.strip()]
    for name in names:
        AUGMENTS.get(name)
    return names


class DiscriminatorAugment:
    """Augments the batches a discriminator sees; `__call__(*batches)` returns them augmented alike.

    ``policy`` lists AUGMENTS names ('' = off: batches come back unchanged and no random number is
    drawn). Each operation is applied to a sample with probability `p`: 1 for plain DiffAugment; with
    ``ada_target`` > 0, p starts at 0 and `observe` moves it by ``sign(r_t - ada_target) * images /
    ada_speed`` every ``ada_interval`` calls, where r_t = E[sign(D(real) - boundary)] is the
    overfitting heuristic of StyleGAN2-ADA. `state_dict`/`load_state_dict` carry p across a resume.
    """

    def __init__(self, policy: str = "", ada_target: float = 0.0, ada_speed: float = 500_000, ada_interval: int = 4):
        self.ops = [AUGMENTS.get(name) for name in parse_policy(policy)]
        self.ada_target = ada_target
        self.ada_speed = ada_speed
        self.ada_interval = ada_interval
        self.p = 0.0 if ada_target > 0 else 1.0
        self.calls = 0
        self.last_r = float("nan")

    @property
    def adaptive(self) -> bool:
        """Whether p adapts (--ada_target > 0)."""
        return bool(self.ops) and self.ada_target > 0

    def __call__(self, *batches: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Augment ``(N, C_k, H, W)`` batches (equal N, H, W) with the same random draws; returns a tuple."""
        if not self.ops or self.p <= 0:
            return batches
        n, _, h, w = batches[0].shape
        device = batches[0].device
        out = list(batches)
        for op in self.ops:
            params = op.draw(n, h, w, device)
            if self.p < 1:
                keep = (torch.rand(n, 1, 1, 1, device=device) >= self.p)
                out = [torch.where(keep, x, op.apply(x, params)) for x in out]
            else:
                out = [op.apply(x, params) for x in out]
        return tuple(out)

    def observe(self, net: Callable, real: torch.Tensor, boundary: float) -> None:
        """ADA: every `ada_interval`-th call, score the (augmented) real batch with ``net`` and adjust p.

        ``boundary`` is the logit that separates 'real' from 'fake' for the GAN loss (0 for logits,
        0.5 for lsgan). A no-op without --ada_target. Averaged over the processes under DDP.
        """
        if not self.adaptive:
            return
        self.calls += 1
        if self.calls % self.ada_interval:
            return
        with torch.no_grad():
            out = net(real)
            logits = torch.cat([o.float().flatten() for o in (out if isinstance(out, (list, tuple)) else [out])])
            stat = torch.stack([torch.sign(logits - boundary).mean(), torch.tensor(float(real.shape[0]), device=logits.device)])
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(stat)
                stat[0] /= dist.get_world_size()
        r, images = stat.tolist()
        self.last_r = r
        step = math.copysign(1.0, r - self.ada_target) * images * self.ada_interval / self.ada_speed
        self.p = min(max(self.p + step, 0.0), 1.0)

    def state_dict(self) -> Dict:
        """{'p', 'calls'}: what a resumed run needs."""
        return {"p": self.p, "calls": self.calls}

    def load_state_dict(self, state: Dict) -> None:
        """Restore what `state_dict` returned."""
        self.p = float(state["p"])
        self.calls = int(state["calls"])

