"""The best-k checkpoint index of a run folder: <run_dir>/best_k.json, written by train.py --save_top_k and
read by test.py / export.py --epoch best.

    {"monitor": "val/l1", "mode": "min",
     "checkpoints": [{"label": "best-e3-i120-val_l1=0.1234", "value": 0.1234, "epoch": 3, "total_iters": 120}, ...]}

Entries are ordered best first; each label names <run_dir>/<label>.pt beside latest.pt.
"""
import json
import os
import re
from typing import Dict, List, Optional

from util.errors import UserError

INDEX_FILE = "best_k.json"


def best_label(metric: str, value: float, epoch: int, total_iters: int) -> str:
    """File stem of a best-k checkpoint: carries the epoch, the iteration and the monitored value."""
    return f"best-e{epoch}-i{total_iters}-{re.sub(r'[^A-Za-z0-9_.-]', '_', metric)}={value:.6g}"


def write_index(run_dir: str, monitor: str, mode: str, entries: List[Dict]) -> str:
    """Write <run_dir>/best_k.json atomically (temp file + rename) with `entries` ordered best first."""
    path = os.path.join(run_dir, INDEX_FILE)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"monitor": monitor, "mode": mode, "checkpoints": entries}, f, indent=2)
    os.replace(tmp, path)
    return path


def read_index(run_dir: str) -> Optional[Dict]:
    """The parsed best_k.json of `run_dir`, or None when there is none; `UserError` if unreadable."""
    path = os.path.join(run_dir, INDEX_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            index = json.load(f)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {path}: {err}; delete it or retrain with --save_top_k") from None
    if not isinstance(index, dict) or not isinstance(index.get("checkpoints"), list):
        raise UserError(f"{path} has no list of checkpoints; delete it or retrain with --save_top_k")
    return index


def resolve_epoch(run_dir: str, epoch: str) -> str:
    """The checkpoint label for --epoch `epoch`: 'best' becomes the best entry of best_k.json, others pass through."""
    if epoch != "best":
        return epoch
    index = read_index(run_dir)
    if not index or not index["checkpoints"]:
        raise UserError(f"--epoch best: no best-k checkpoints in {run_dir} ({INDEX_FILE} missing or empty); "
                        f"train with --monitor and --save_top_k, or pass --epoch latest")
    return index["checkpoints"][0]["label"]
