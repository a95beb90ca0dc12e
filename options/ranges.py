"""The declared range of every numeric option, checked once after parsing (command line and --config alike).

Every `int`/`float` option of train.py, test.py and export.py (models' and datasets' own flags included)
has an entry here; tests/test_reliability_hostile.py fails for a numeric option without one. `None` (an
option's "not set" default) is always accepted.
"""
import argparse
from dataclasses import dataclass
from typing import Optional, Tuple

from util.errors import UserError


@dataclass(frozen=True)
class Range:
    """Allowed values: `low` <= value (or < with `low_open`), value <= `high`, or one of `values`."""

    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    values: Tuple = ()

    def contains(self, value) -> bool:
        """True if `value` is allowed."""
        if self.values:
            return value in self.values
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """The rule in words, e.g. 'at least 1'."""
        if self.values:
            return "one of " + ", ".join(map(str, self.values))
        low = f"more than {self.low}" if self.low_open else f"at least {self.low}"
        if self.high is None:
            return low
        return f"{low} and at most {self.high}"


AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, low_open=True)
CHANNELS = Range(values=(1, 3))

RANGES = {
    # sizes and counts
    "batch_size": AT_LEAST_1, "load_size": Range(2), "crop_size": Range(2), "max_dataset_size": AT_LEAST_1,
    "num_threads": AT_LEAST_0, "input_nc": CHANNELS, "output_nc": CHANNELS, "ngf": AT_LEAST_1, "ndf": AT_LEAST_1,
    "n_layers_D": Range(1, 6), "netF_nc": AT_LEAST_1, "num_patches": AT_LEAST_1, "pool_size": AT_LEAST_0,
    "seed": Range(0, 2 ** 32 - 1),
    # training length, schedule and optimizer
    "n_epochs": AT_LEAST_0, "n_epochs_decay": AT_LEAST_0, "epoch_count": AT_LEAST_1, "lr": POSITIVE,
    "beta1": Range(0, 0.999), "lr_decay_iters": AT_LEAST_1, "init_gain": POSITIVE,
    # loss weights and temperatures
    "lambda_A": AT_LEAST_0, "lambda_B": AT_LEAST_0, "lambda_identity": AT_LEAST_0, "lambda_L1": AT_LEAST_0,
    "lambda_GAN": AT_LEAST_0, "lambda_NCE": AT_LEAST_0, "nce_T": POSITIVE,
    # logging, checkpoints, evaluation
    "print_freq": AT_LEAST_1, "display_freq": AT_LEAST_1, "save_latest_freq": AT_LEAST_1,
    "save_epoch_freq": AT_LEAST_1, "keep_checkpoints": AT_LEAST_0, "max_nonfinite_steps": AT_LEAST_1,
    "eval_freq": AT_LEAST_0, "eval_num": AT_LEAST_1, "kid_subset_size": Range(2), "kid_subsets": AT_LEAST_1,
    "html_page_size": AT_LEAST_1,
    # recipe options (models/augment.py, regularizers.py, networks/multiscale.py, perceptual.py)
    "num_D": Range(1, 6), "lambda_feat": AT_LEAST_0, "lambda_vgg": AT_LEAST_0, "lambda_r1": AT_LEAST_0,
    "r1_every": AT_LEAST_1, "ada_target": Range(0, 0.999), "ada_speed": POSITIVE,
    # training controls (options/control_options.py)
    "eval_every": AT_LEAST_0, "save_top_k": AT_LEAST_0, "early_stop_patience": AT_LEAST_0,
    "early_stop_min_delta": AT_LEAST_0, "ema_decay": Range(0, 0.999999), "accum_steps": AT_LEAST_1,
    "clip_grad_norm": AT_LEAST_0, "max_steps": AT_LEAST_0, "fast_dev_run": AT_LEAST_0,
    "limit_train_batches": AT_LEAST_0, "overfit_batches": AT_LEAST_0, "profile": AT_LEAST_0,
    "histogram_freq": AT_LEAST_0,
    # test.py and export.py
    "num_test": AT_LEAST_1, "max_side": Range(16), "tile": Range(16), "tile_overlap": AT_LEAST_0,
    "tile_stats_side": Range(16), "fps": POSITIVE, "num_check": AT_LEAST_1,
}


def numeric_actions(parser: argparse.ArgumentParser):
    """The actions of `parser` whose values are numbers (type int or float)."""
    return [a for a in parser._actions if a.type in (int, float)]


def check_ranges(parser: argparse.ArgumentParser, opt: argparse.Namespace) -> None:
    """Raise `UserError` for the first numeric option of `opt` outside its declared range (see `RANGES`)."""
    for action in numeric_actions(parser):
        value = getattr(opt, action.dest, None)
        rule = RANGES.get(action.dest)
        if value is not None and rule is not None and not rule.contains(value):
            raise UserError(f"--{action.dest} must be {rule.describe()}, got {value}")
