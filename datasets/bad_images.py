"""--skip_bad_images bookkeeping: one warning line per unreadable file, and counts for the summaries."""
import sys
from typing import Dict, Optional, Set

from tqdm import tqdm

from util.image_io import BadImageError

SKIPPED_KEY = "skipped_images"  # per sample: how many unreadable files were skipped to produce it
_warned: Set[str] = set()       # per process (DataLoader workers each keep their own)


def warn_skipped(err: BadImageError) -> None:
    """Print one `warning:` line for the unreadable file in `err`, the first time this process meets it."""
    if err.path not in _warned:
        _warned.add(err.path)
        tqdm.write(f"warning: skipping unreadable image {err.path}: {err.reason} (--skip_bad_images)", file=sys.stderr)


class SkippedImageTally:
    """Sums the `SKIPPED_KEY` counts of training batches, per epoch and for the whole run."""

    def __init__(self):
        self.epoch = 0
        self.total = 0

    def add(self, batch: Dict) -> None:
        """Count the replaced samples of one collated batch (a CPU tensor; no device sync)."""
        if SKIPPED_KEY in batch:
            self.epoch += int(batch[SKIPPED_KEY].sum())

    def end_epoch(self, epoch: int) -> Optional[str]:
        """Close the epoch; return its summary line, or None if nothing was skipped."""
        count, self.epoch = self.epoch, 0
        self.total += count
        return f"epoch {epoch}: skipped unreadable images {count} times (--skip_bad_images)" if count else None

    def run_summary(self) -> Optional[str]:
        """The end-of-run summary line, or None if nothing was skipped."""
        return (f"skipped unreadable images {self.total} times in this run (the warnings name the files)"
                if self.total else None)
