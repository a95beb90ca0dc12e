"""--monitor: one logged scalar watched across evaluations, for best-k checkpoints and early stopping.

`Monitor.observe` is called on the main process with each new value; it returns what the loop must do
(save a best-k checkpoint, delete one that dropped out, stop). Its state goes into every checkpoint so a
resumed run takes the same decisions as an uninterrupted one.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from util.best_k import best_label


@dataclass
class Decision:
    """What to do after one observation: save <label>.pt (None: nothing), delete these labels, stop training."""

    save_label: Optional[str] = None
    delete: List[str] = field(default_factory=list)
    stop: bool = False


class Monitor:
    """Tracks the best value of the scalar `name` (e.g. 'val/l1'), lower or higher being better (`mode`).

    `top_k` > 0 keeps the `top_k` best checkpoints (entries ordered best first, as in best_k.json);
    `patience` > 0 asks to stop after that many observations in a row without an improvement of more
    than `min_delta` on the best value. Non-finite values never count as an improvement.
    """

    def __init__(self, name: str,          # --monitor: TensorBoard tag, e.g. val/l1
                 mode: str = "min",        # --monitor_mode: min or max is better
                 top_k: int = 0,           # --save_top_k: best checkpoints kept (0 = none)
                 patience: int = 0,        # --early_stop_patience: observations without improvement (0 = never stop)
                 min_delta: float = 0.0):  # --early_stop_min_delta: smallest change that counts as an improvement
        self.name, self.mode, self.top_k, self.patience, self.min_delta = name, mode, top_k, patience, min_delta
        self.best: Optional[Dict] = None   # {"value", "epoch", "total_iters"}
        self.bad_observations = 0
        self.entries: List[Dict] = []      # best-k: {"label", "value", "epoch", "total_iters"}, best first

    def _better(self, a: float, b: float, margin: float = 0.0) -> bool:
        return a < b - margin if self.mode == "min" else a > b + margin

    def observe(self, value: float, epoch: int, total_iters: int) -> Decision:
        """Take one new value of the monitored scalar, seen at (epoch, total_iters); return the `Decision`."""
        decision = Decision()
        finite = math.isfinite(value)
        if finite and (self.best is None or self._better(value, self.best["value"], self.min_delta)):
            self.best = {"value": value, "epoch": epoch, "total_iters": total_iters}
            self.bad_observations = 0
        else:
            self.bad_observations += 1
        if self.top_k > 0 and finite and (len(self.entries) < self.top_k or self._better(value, self.entries[-1]["value"])):
            decision.save_label = best_label(self.name, value, epoch, total_iters)
            self.entries.append({"label": decision.save_label, "value": value, "epoch": epoch, "total_iters": total_iters})
            # a stable sort: among equal values the earlier checkpoint stays ahead
            self.entries.sort(key=lambda e: e["value"] if self.mode == "min" else -e["value"])
            decision.delete = [e["label"] for e in self.entries[self.top_k:]]
            self.entries = self.entries[:self.top_k]
        decision.stop = self.patience > 0 and self.bad_observations >= self.patience
        return decision

    def stop_message(self, best_path: Optional[str]) -> str:
        """The line printed when early stopping ends the run: the best checkpoint (`best_path`, the first
        best-k entry) with its value, or the best value seen when no checkpoints are kept."""
        best = self.entries[0] if best_path and self.entries else self.best
        where = f"best checkpoint {best_path}" if best_path else "no best checkpoint kept (use --save_top_k)"
        value = (f"{self.name} {best['value']:.6g} at epoch {best['epoch']}, iteration {best['total_iters']}"
                 if best else f"no finite {self.name}")
        return (f"early stopping: {self.name} did not improve by more than {self.min_delta:g} in {self.patience} "
                f"evaluations; {where} ({value})")

    def state_dict(self) -> Dict:
        """The monitor's state (plain Python values, safe for weights_only loading)."""
        return {"name": self.name, "best": self.best, "bad_observations": self.bad_observations,
                "entries": list(self.entries)}

    def load_state_dict(self, state: Dict) -> None:
        """Restore `state_dict()`'s values; a checkpoint that watched another scalar leaves the monitor fresh."""
        if state.get("name") != self.name:
            return
        self.best, self.bad_observations, self.entries = state["best"], state["bad_observations"], list(state["entries"])
