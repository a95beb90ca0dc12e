"""Checkpoint I/O for a run folder: one dict that holds everything needed to resume, written atomically;
retention of numbered checkpoints; the run's saved options; weights of the reference implementation.

    ckpt = Checkpointer("checkpoints/monet_cyclegan")
    ckpt.save(training_state(...), "latest")      # <run_dir>/latest.pt, via a temp file and a rename
    state = ckpt.load("latest")                   # weights_only=True, one-line errors
    ckpt.prune(keep=5)                            # only the 5 newest <epoch>.pt stay
"""
import json
import os
import random
import re
from typing import Dict, List, Optional

import numpy as np
import torch

from util.architecture_hint import probable_option
from util.errors import UserError

CHECKPOINT_VERSION = 1


_EPOCH_FILE = re.compile(r"^(\d+)\.pt$")


class Checkpointer:
    """The checkpoint files of one run folder `run_dir` (<checkpoints_dir>/<name>).

    `path(label)` names <run_dir>/<label>.pt (label 'latest' or an epoch number); `save` writes
    atomically, `load` reads safely, `prune` applies --keep_checkpoints, `options` reads opt.json,
    `reference_path` / `load_reference` handle the reference implementation's <epoch>_net_<name>.pth.
    """

    def __init__(self, run_dir: str):
        self.run_dir = run_dir

    def path(self, label: str) -> str:
        """<run_dir>/<label>.pt."""
        return os.path.join(self.run_dir, f"{label}.pt")

    def save(self, state: Dict, label: str) -> str:
        """Write `state` as <run_dir>/<label>.pt atomically (see `save_atomic`); returns the path."""
        path = self.path(label)
        save_atomic(state, path)
        return path

    def load(self, label: str) -> Dict:
        """Read <run_dir>/<label>.pt (see `load_checkpoint`)."""
        return load_checkpoint(self.path(label))

    def epoch_checkpoints(self) -> List[str]:
        """Paths of the numbered checkpoints <run_dir>/<epoch>.pt, oldest epoch first."""
        if not os.path.isdir(self.run_dir):
            return []
        found = [(int(m.group(1)), name) for name in os.listdir(self.run_dir) if (m := _EPOCH_FILE.match(name))]
        return [os.path.join(self.run_dir, name) for _, name in sorted(found)]

    def prune(self, keep: int) -> List[str]:
        """Delete all but the `keep` newest numbered checkpoints (keep 0 = delete none); return the deleted paths.

        `latest.pt` and any other file are never touched.
        """
        if keep <= 0:
            return []
        doomed = self.epoch_checkpoints()[:-keep]
        for path in doomed:
            os.remove(path)
        return doomed

    def options(self) -> Optional[Dict]:
        """The run's saved options (<run_dir>/opt.json) as a dict, or None when the file does not exist."""
        return read_options_file(os.path.join(self.run_dir, "opt.json"))

    def reference_path(self, epoch: str, net_name: str) -> str:
        """<run_dir>/<epoch>_net_<net_name>.pth, as the reference implementation names its files."""
        return os.path.join(self.run_dir, f"{epoch}_net_{net_name}.pth")

    @staticmethod
    def load_reference(path: str) -> Dict[str, torch.Tensor]:
        """Read a bare network state dict (weights_only) and normalise it to our key names.

        Drops a DataParallel 'module.' prefix; raises `UserError` if the file is not a dict of tensors.
        """
        state = load_checkpoint(path)
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise UserError(f"{path} is not a network state dict (a mapping of names to tensors)")
        return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def read_options_file(path: str) -> Optional[Dict]:
    """The JSON object of options in `path` (a run's opt.json), or None when there is no such file.

    Raises `UserError` naming the file when it is empty, not JSON, or not an object.
    """
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            options = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read {path}: {err}; restore it from a backup or delete it (test.py then "
                        f"needs the architecture flags)") from None
    if not isinstance(options, dict):
        raise UserError(f"{path} does not hold a JSON object of options; restore or delete it")
    return options


def save_atomic(state: Dict, path: str) -> None:
    """Write `state` with torch.save to a temporary file next to `path`, then rename it over `path`.

    A crash during the write leaves the previous file at `path` untouched; a failed write (disk full,
    read-only folder) raises `UserError` and leaves it untouched too.
    """
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        os.makedirs(directory, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise UserError(f"cannot write checkpoint {path}: {err.strerror or err}; free disk space or make "
                        f"{directory} writable (earlier checkpoints there are intact), then --continue_train") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str) -> Dict:
    """Load a checkpoint dict on the CPU with `weights_only=True`; raise `UserError` if it cannot be read."""
    if not os.path.isfile(path):
        raise UserError(f"no checkpoint at {path}: train first, or pick another --name/--epoch/--checkpoints_dir")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say which, not a pickle traceback
        raise UserError(f"cannot load checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}") from None


def rng_state() -> Dict:
    """States of Python's, NumPy's and torch's (CPU and CUDA) random generators, as safe-to-load types."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict) -> None:
    """Restore the generators saved by `rng_state`."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_state(model, schedulers: Dict, scalers: Dict, options: Dict,
                   epoch: int, epoch_iter: int, total_iters: int) -> Dict:
    """Everything a resumed run needs: networks, optimizers, schedulers, scalers, pools, other model states
    (`model.states`: ADA's p, R1's counters), position, RNGs, options.

    `options` is the run's option dict (`vars(opt)`); `epoch`/`epoch_iter` is where training continues:
    the epoch number and the batches already done in it.
    """
    return {
        "version": CHECKPOINT_VERSION,
        "opt": dict(options),
        "epoch": epoch,
        "epoch_iter": epoch_iter,
        "total_iters": total_iters,
        "nets": {name: net.state_dict() for name, net in model.nets.items()},
        "optimizers": {name: o.state_dict() for name, o in model.optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "scalers": {name: s.state_dict() for name, s in scalers.items()},
        "pools": {name: p.state_dict() for name, p in model.pools.items()},
        "states": {name: s.state_dict() for name, s in model.states.items()},
        "rng": rng_state(),
    }


def load_network(net: torch.nn.Module, state_dict: Dict, name: str, path: str) -> None:
    """Load `state_dict` into `net`; on a mismatch raise `UserError` naming the keys and the likely cause."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shape_errors = [k for k, v in state_dict.items() if k in expected and expected[k].shape != v.shape]
    if missing or unexpected or shape_errors:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mismatched shape", shape_errors)):
            if keys:
                parts.append(f"{label}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}")
        option = probable_option(name, expected, state_dict)
        raise UserError(f"network {name} in {path} does not fit the built architecture ({'; '.join(parts)}); "
                        f"probably {option} differs from the trained run: pass the value it was trained with")
    net.load_state_dict(state_dict)


def restore_training_state(state: Dict, model, schedulers: Dict, scalers: Dict, path: str) -> Dict:
    """Load a `training_state` dict into the live objects; return its position {epoch, epoch_iter, total_iters}."""
    for name, net in model.nets.items():
        if name not in state["nets"]:
            raise UserError(f"checkpoint {path} has no network {name}: it was saved by another --model")
        load_network(net, state["nets"][name], name, path)
    for name, optimizer in model.optimizers.items():
        optimizer.load_state_dict(state["optimizers"][name])
    for name, scheduler in schedulers.items():
        scheduler.load_state_dict(state["schedulers"][name])
    for name, scaler in scalers.items():
        scaler.load_state_dict(state["scalers"][name])
    for name, pool in model.pools.items():
        pool.load_state_dict(state["pools"][name], model.device)
    for name, extra in model.states.items():
        if name in state.get("states", {}):   # checkpoints from before these options keep the initial state
            extra.load_state_dict(state["states"][name])
    set_rng_state(state["rng"])
    return {k: state[k] for k in ("epoch", "epoch_iter", "total_iters")}

