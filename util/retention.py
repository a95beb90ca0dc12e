"""Deleting old numbered epoch checkpoints (--keep_checkpoints)."""
import os
import re
from typing import List

_EPOCH_FILE = re.compile(r"^(\d+)\.pt$")


def epoch_checkpoints(run_dir: str) -> List[str]:
    """Paths of the numbered checkpoints <run_dir>/<epoch>.pt, oldest epoch first."""
    found = [(int(m.group(1)), name) for name in os.listdir(run_dir) if (m := _EPOCH_FILE.match(name))]
    return [os.path.join(run_dir, name) for _, name in sorted(found)]


def prune_epoch_checkpoints(run_dir: str, keep: int) -> List[str]:
    """Delete all but the `keep` newest numbered checkpoints (keep 0 = delete none); return the deleted paths.

    `latest.pt` and any other file are never touched.
    """
    if keep <= 0:
        return []
    doomed = epoch_checkpoints(run_dir)[:-keep]
    for path in doomed:
        os.remove(path)
    return doomed
