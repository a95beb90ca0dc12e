"""Checkpoint I/O for a run folder: one dict that holds everything needed to resume, written atomically;
retention of numbered checkpoints; the run's saved options; weights of the reference implementation.

    ckpt = Checkpointer("checkpoints/monet_cyclegan")
    ckpt.save(training_state(...), "latest")      # <run_dir>/latest.pt, via a temp file and a rename
    state = ckpt.load("latest")                   # weights_only=True, one-line errors
    ckpt.prune(keep=5)                            # only the 5 newest <epoch>.pt stay
"""
import fcntl
import json
import os
import random
import re
import time
from typing import IO, Dict, List, Optional

import numpy as np
import torch

from util.architecture_hint import probable_option
from util.errors import UserError
from util.output_files import output_file, prepare_output_dir

CHECKPOINT_VERSION = 1


_EPOCH_FILE = re.compile(r"^(\d+)\.pt$")
_HELD_LOCKS: Dict[str, IO] = {}  # run folders this process trains in; their locks last as long as the process


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
        """Read <run_dir>/<label>.pt (see `load_checkpoint`); raise `UserError` unless it holds a dict of networks."""
        path = self.path(label)
        state = load_checkpoint(path)
        if not isinstance(state, dict) or not isinstance(state.get("nets"), dict) or \
                not all(isinstance(v, dict) for v in state["nets"].values()):
            raise UserError(f"{path} is not a checkpoint of this suite (no 'nets' dict of network weights); "
                            f"pick another --epoch, or restore the file")
        return state

    def epoch_checkpoints(self) -> List[str]:
        """Paths of the numbered checkpoints <run_dir>/<epoch>.pt, oldest epoch first."""
        if not os.path.isdir(self.run_dir):
            return []
        found = [(int(m.group(1)), name) for name in os.listdir(self.run_dir) if (m := _EPOCH_FILE.match(name))]
        return [os.path.join(self.run_dir, name) for _, name in sorted(found)]

    def prune(self, keep: int, current_epoch: Optional[int] = None) -> List[str]:
        """Delete all but the `keep` newest numbered checkpoints (keep 0 = delete none); return the deleted paths.

        Retention follows the current run's timeline: with `current_epoch` (the epoch just saved), files of
        later epochs, left by an older timeline that this run resumed from before, neither count nor go.
        `latest.pt` and any other file are never touched.
        """
        if keep <= 0:
            return []
        timeline = [p for p in self.epoch_checkpoints()
                    if current_epoch is None or int(os.path.basename(p)[:-3]) <= current_epoch]
        doomed = timeline[:-keep]
        for path in doomed:
            os.remove(path)
        return doomed

    def claim(self, resume: bool, overwrite: bool) -> None:
        """Take the run folder for this process's training run, before anything is written to it.

        Locks <run_dir>/.lock (a second train.py with the same --name is refused; the lock goes with the
        process). A fresh run (not `resume`) in a folder holding checkpoints is refused, unless
        `overwrite`, which moves the old run's files aside into <run_dir>-replaced-<time>/.
        """
        prepare_output_dir(self.run_dir, "--checkpoints_dir/--name")
        real = os.path.realpath(self.run_dir)
        if real not in _HELD_LOCKS:
            lock = open(os.path.join(self.run_dir, ".lock"), "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                raise UserError(f"another train.py is writing to {self.run_dir}: wait for it to finish, stop it, "
                                f"or choose another --name") from None
            _HELD_LOCKS[real] = lock
        if resume or not (os.path.isfile(self.path("latest")) or self.epoch_checkpoints()):
            return
        if not overwrite:
            raise UserError(f"{self.run_dir} holds the checkpoints of another run: resume it with --continue_train, "
                            f"choose another --name, or pass --overwrite to move the old run aside")
        aside = f"{self.run_dir}-replaced-{time.strftime('%Y%m%d-%H%M%S')}"
        os.makedirs(aside)
        for name in os.listdir(self.run_dir):
            if name != ".lock":
                os.replace(os.path.join(self.run_dir, name), os.path.join(aside, name))
        print(f"--overwrite: the old run's files are in {aside}")

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
    """Write `state` with torch.save through `util.output_files.output_file` (a temporary file, fsynced, renamed).

    A crash during the write leaves the previous file at `path` untouched; a failed write (disk full,
    read-only folder, torch's wrapped write errors) raises `UserError` and leaves it untouched too.
    """
    with output_file(path, what="checkpoint ") as tmp:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())


def load_checkpoint(path: str) -> Dict:
    """Load a checkpoint dict on the CPU with `weights_only=True`; raise `UserError` if it cannot be read."""
    if not os.path.isfile(path):
        raise UserError(f"no checkpoint at {path}: train first, or pick another --name/--epoch/--checkpoints_dir")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or foreign file: say which, not a pickle traceback
        first_line = (str(err).splitlines() or ["the file is empty or truncated"])[0]
        raise UserError(f"cannot load checkpoint {path}: {type(err).__name__}: {first_line}; pick another "
                        f"--epoch, or restore the file") from None


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
    """Load a `training_state` dict into the live objects; return its position {epoch, epoch_iter, total_iters}.

    Raises `UserError` when `state` lacks the training state (e.g. a weights-only file) or it does not fit.
    """
    missing = [k for k in ("epoch", "epoch_iter", "total_iters", "optimizers", "schedulers", "scalers", "pools", "rng")
               if k not in state]
    if missing:
        raise UserError(f"checkpoint {path} has no training state ({', '.join(missing)} missing), so it cannot be "
                        f"resumed: start a fresh run (--overwrite) or pick another --epoch")
    for name, net in model.nets.items():
        if name not in state["nets"]:
            raise UserError(f"checkpoint {path} has no network {name}: it was saved by another --model")
        load_network(net, state["nets"][name], name, path)
    try:
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
    except (KeyError, ValueError, TypeError, IndexError, RuntimeError) as err:
        raise UserError(f"checkpoint {path}: its training state does not fit this run ({type(err).__name__}: "
                        f"{err}); resume with the options it was trained with, or start a fresh run (--overwrite)") from None
    return {k: state[k] for k in ("epoch", "epoch_iter", "total_iters")}

