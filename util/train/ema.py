"""--ema_decay: an exponential moving average of the generators' weights, kept beside the trained ones.

After every update: ema = d * ema + (1 - d) * weights for every parameter, with the warm-up
d = min(--ema_decay, (1 + n) / (10 + n)) after n updates, so early averages are not dominated by the
random initialisation. Buffers (BatchNorm running statistics) are copied from the trained network, not
averaged: there is no recalibration pass. Every DDP rank holds identical weights after a step, so every
rank computes the same average.
"""
import copy
from typing import Dict

import torch
from torch import nn


class GeneratorEMA:
    """Averaged copies of the networks `nets` (name -> module, e.g. the generators), in their mode."""

    def __init__(self, nets: Dict[str, nn.Module], decay: float):
        self.decay = decay
        self.updates = 0
        self.nets = {name: copy.deepcopy(net).requires_grad_(False) for name, net in nets.items()}

    def current_decay(self) -> float:
        """The decay of the next update (the warm-up value until it reaches --ema_decay)."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, nets: Dict[str, nn.Module]) -> None:
        """Move each average towards the current weights of the network of the same name in `nets`."""
        decay = self.current_decay()
        for name, average in self.nets.items():
            trained = nets[name]
            for ema_p, p in zip(average.parameters(), trained.parameters()):
                ema_p.lerp_(p.detach(), 1 - decay)
            for ema_b, b in zip(average.buffers(), trained.buffers()):
                ema_b.copy_(b)
        self.updates += 1

    def state_dict(self) -> Dict:
        """{'decay', 'updates', 'nets': {name: state_dict}}: saved in checkpoints, read by models/loading.py."""
        return {"decay": self.decay, "updates": self.updates,
                "nets": {name: net.state_dict() for name, net in self.nets.items()}}

    def load_state_dict(self, state: Dict) -> None:
        """Restore `state_dict()`'s averages and update count."""
        self.updates = state["updates"]
        for name, net in self.nets.items():
            net.load_state_dict(state["nets"][name])
