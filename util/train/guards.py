"""Guards of the training loop: a graceful stop on SIGINT/SIGTERM (finish the step, save `latest`, exit 0)
and skipping optimizer steps whose loss is NaN/inf (stopping a run that keeps producing them)."""
import signal
import sys
from typing import Dict, Optional

import torch
from tqdm import tqdm

from util.errors import UserError

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulInterrupt:
    """While installed, SIGINT (Ctrl-C) and SIGTERM only set `requested` (the signal's name).

    The loop polls `requested` between steps, so a checkpoint is never half-updated by the signal.
    A second Ctrl-C while the first is being handled raises KeyboardInterrupt (the user insists).
    """

    def __init__(self):
        self.requested: Optional[str] = None
        self._previous = {}

    def install(self) -> "GracefulInterrupt":
        """Take over SIGINT and SIGTERM (main thread only); return self."""
        for signum in _SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        """Give SIGINT and SIGTERM back to the handlers that were there before `install`."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            self.restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def message(self, checkpoint: str, epoch: int, epoch_iter: int) -> str:
        """The line printed after the interrupted run saved `checkpoint` at (epoch, epoch_iter)."""
        return (f"{self.requested} received: saved {checkpoint} at epoch {epoch}, iteration {epoch_iter}; "
                f"run the same command with --continue_train to resume exactly there")


def ignore_interrupts(worker_id: int) -> None:
    """DataLoader `worker_init_fn`: workers ignore Ctrl-C so the main process can stop them cleanly.

    A terminal sends SIGINT to the whole process group; without this the workers would die with
    KeyboardInterrupt and the main process could not fetch the batches it still needs.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)

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

    def step_ok(self, loss: torch.Tensor, step_name: str, total_iters: int) -> bool:
        """Return True if the scalar `loss` is finite; otherwise count it, warn, and return False.

        This is the training loop's one host synchronisation per step (`bool()` of a device scalar).
        """
        if bool(torch.isfinite(loss)):
            self.consecutive[step_name] = 0
            return True
        count = self.consecutive[step_name] = self.consecutive.get(step_name, 0) + 1
        tqdm.write(f"warning: non-finite {step_name} loss at iteration {total_iters + 1}: step skipped "
                   f"({count} in a row, --max_nonfinite_steps {self.max_consecutive})", file=sys.stderr)
        if count >= self.max_consecutive:
            where = (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                     else "no checkpoint was saved yet")
            raise UserError(f"the {step_name} loss was NaN/inf for {count} steps in a row ("
                            f"at iteration {total_iters + 1}); {where}: lower --lr, use --amp none or bf16, "
                            f"or check the data, then resume with --continue_train")
        return False
