"""Graceful stop on SIGINT/SIGTERM: the training loop finishes its step, saves `latest` and exits 0."""
import signal
from typing import Optional

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
