"""Skipping optimizer steps whose loss is NaN/inf, and stopping a run that keeps producing them."""
import sys
from typing import Dict, Optional

import torch
from tqdm import tqdm

from util.errors import UserError


class NonFiniteGuard:
    """Decides per training step whether its loss is finite enough to back-propagate.

    `max_consecutive` non-finite losses in a row for one step (e.g. the generators' update in
    `max_consecutive` consecutive iterations) end training with a `UserError` that points at the
    last checkpoint saved (whose weights predate the trouble, since skipped steps change nothing).
    """

    def __init__(self, max_consecutive: int, last_checkpoint: Optional[str] = None):
        self.max_consecutive = max_consecutive
        self.last_checkpoint = last_checkpoint
        self.consecutive: Dict[str, int] = {}   # per TrainStep name
        self.skipped = 0

    def step_ok(self, loss: torch.Tensor, step_name: str, total_iters: int) -> bool:
        """Return True if the scalar `loss` is finite; otherwise count it, warn, and return False.

        This is the training loop's one host synchronisation per step (`bool()` of a device scalar).
        """
        if bool(torch.isfinite(loss)):
            self.consecutive[step_name] = 0
            return True
        count = self.consecutive[step_name] = self.consecutive.get(step_name, 0) + 1
        self.skipped += 1
        tqdm.write(f"warning: non-finite {step_name} loss at iteration {total_iters + 1}: step skipped "
                   f"({count} in a row, --max_nonfinite_steps {self.max_consecutive})", file=sys.stderr)
        if count >= self.max_consecutive:
            where = (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                     else "no checkpoint was saved yet")
            raise UserError(f"the {step_name} loss was NaN/inf for {count} steps in a row ("
                            f"at iteration {total_iters + 1}); {where}: lower --lr, use --amp none or bf16, "
                            f"or check the data, then resume with --continue_train")
        return False
