"""Averaging loss terms over a logging window without syncing the GPU every step."""
from typing import Dict

import torch


class LossMeter:
    """Accumulates named scalar losses as device tensors; `means()` pulls them to the host once."""

    def __init__(self):
        self.sums: Dict[str, torch.Tensor] = {}
        self.counts: Dict[str, int] = {}

    def add(self, losses: Dict[str, torch.Tensor]) -> None:
        """Add one value per name (scalar tensors; they are detached)."""
        for name, value in losses.items():
            value = value.detach().float()
            self.sums[name] = self.sums[name] + value if name in self.sums else value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> Dict[str, float]:
        """Mean of each name since the last `reset`, as Python floats."""
        return {name: (total / self.counts[name]).item() for name, total in self.sums.items()}

    def reset(self) -> None:
        """Forget everything added so far."""
        self.sums.clear()
        self.counts.clear()
