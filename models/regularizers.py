"""R1 gradient penalty on real images (Mescheder et al., 2018) with StyleGAN2's lazy regularisation."""
from typing import Callable, Dict

import torch


def discriminator_outputs(out) -> list:
    """A discriminator's output as a list of logit tensors (one per scale; a single tensor becomes [tensor])."""
    return list(out) if isinstance(out, (list, tuple)) else [out]


def r1_penalty(net: Callable, real: torch.Tensor) -> torch.Tensor:
    """E_i ||d/dx_i sum(D(x_i))||^2 over the ``(N, C, H, W)`` batch ``real``: a float32 scalar.

    The logits of every patch (and every scale of a multi-scale D) are summed before differentiating.
    The graph is kept (``create_graph``), so the result trains D's parameters; autocast is off so
    the double backward runs in full precision.
    """
    real = real.detach().float().requires_grad_(True)
    with torch.autocast(device_type=real.device.type, enabled=False):
        total = sum(o.float().sum() for o in discriminator_outputs(net(real)))
        (grad,) = torch.autograd.grad(total, real, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


class LazyR1:
    """``--lambda_r1 gamma --r1_every k``: the term gamma/2 * k * `r1_penalty` every k-th step of each D, 0 between.

    Multiplying by k keeps the average penalty that of regularising every step (StyleGAN2's lazy
    regularisation). `__call__(name, net, real)` returns the term for discriminator ``name``; the
    per-discriminator step counters are saved with `state_dict` so a resumed run keeps the rhythm.
    """

    def __init__(self, weight: float, every: int):
        self.weight = weight
        self.every = every
        self.steps: Dict[str, int] = {}

    def __call__(self, name: str, net: Callable, real: torch.Tensor) -> torch.Tensor:
        """The R1 term of discriminator ``name`` on the real batch it sees this step (a scalar)."""
        self.steps[name] = self.steps.get(name, 0) + 1
        if self.steps[name] % self.every:
            return torch.zeros((), device=real.device)
        return 0.5 * self.weight * self.every * r1_penalty(net, real)

    def state_dict(self) -> Dict:
        """{'steps': {discriminator name: steps so far}}."""
        return {"steps": dict(self.steps)}

    def load_state_dict(self, state: Dict) -> None:
        """Restore what `state_dict` returned."""
        self.steps = {k: int(v) for k, v in state["steps"].items()}
