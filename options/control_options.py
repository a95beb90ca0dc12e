"""Training controls of train.py: validation every N iterations, --monitor with best-k checkpoints and early
stopping, generator EMA, gradient accumulation and clipping, and the debug kit (fast_dev_run, limits,
overfitting, determinism, profiling, histograms)."""
import argparse
import os
import tempfile

from util.errors import UserError

MONITOR_PREFIXES = ("val/", "epoch_loss/")


def add_control_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the training-control flags to `parser` (train.py only)."""
    g = parser.add_argument_group("monitor, best-k checkpoints, early stopping")
    g.add_argument("--eval_every", type=int, default=0, help="iterations between held-out evaluations (val/*), besides --eval_freq epochs (0 = off)")
    g.add_argument("--monitor", type=str, default="", help="scalar that picks the best checkpoints and drives early stopping: val/<metric> (e.g. val/l1, val/fid; needs --eval_freq or --eval_every) or epoch_loss/<term> ('' = off)")
    g.add_argument("--monitor_mode", type=str, default="min", choices=["min", "max"], help="whether a lower (min) or higher (max) --monitor value is better")
    g.add_argument("--save_top_k", type=int, default=0, help="keep the K best checkpoints by --monitor as best-e<epoch>-i<iter>-<metric>=<value>.pt, listed in best_k.json (test.py --epoch best picks the first); 0 = none")
    g.add_argument("--early_stop_patience", type=int, default=0, help="stop after this many --monitor evaluations in a row without an improvement of more than --early_stop_min_delta (0 = never)")
    g.add_argument("--early_stop_min_delta", type=float, default=0.0, help="smallest change of --monitor that counts as an improvement for early stopping")

    g = parser.add_argument_group("EMA, accumulation, clipping")
    g.add_argument("--ema_decay", type=float, default=0.0, help="keep an exponential moving average of the generators with this decay (e.g. 0.999; warm-up min(D, (1+n)/(10+n)); BatchNorm buffers copied); validated, saved, and used by test.py/export.py unless --use_ema false (0 = off)")
    g.add_argument("--accum_steps", type=int, default=1, help="micro-batches of --batch_size per optimizer update (gradient accumulation); the forward pass is recomputed per optimizer step when above 1")
    g.add_argument("--clip_grad_norm", type=float, default=0.0, help="clip each optimizer's gradient norm to this value (after GradScaler unscaling); the norm before clipping is logged as grad_norm/<optimizer> (0 = off)")

    g = parser.add_argument_group("debugging")
    g.add_argument("--max_steps", type=int, default=0, help="stop after this many training iterations in total, saving latest.pt at the exact position (0 = no limit)")
    g.add_argument("--fast_dev_run", type=int, nargs="?", const=2, default=0, help="smoke test: N iterations (default 2) through every code path (logging, visuals, validation when a held-out split exists, saving) in a temporary folder that is deleted, then a summary and exit 0")
    g.add_argument("--limit_train_batches", type=int, default=0, help="iterations per epoch at most (0 = the whole dataset)")
    g.add_argument("--overfit_batches", type=int, default=0, help="train on the same first N batches every epoch: --max_dataset_size N*batch_size, --serial_batches, --no_flip (random crops stay; the loss should approach 0; 0 = off)")
    g.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms, cuDNN deterministic and not benchmarking, CUBLAS workspace config: repeated runs give identical weights")
    g.add_argument("--profile", type=int, default=0, help="run torch.profiler over this many iterations (after one warm-up): profile_trace.json (Chrome trace) in the run folder and a table of the top operators (0 = off)")
    g.add_argument("--histogram_freq", type=int, default=0, help="iterations between TensorBoard histograms of every network's weights and gradients (0 = off)")
    return parser


def validate_control_options(opt: argparse.Namespace) -> None:
    """Raise `UserError` for training-control values that cannot work together (ranges: options/ranges.py);
    apply --fast_dev_run's settings."""
    if opt.monitor and not opt.monitor.startswith(MONITOR_PREFIXES):
        raise UserError(f"--monitor {opt.monitor}: watch a val/<metric> (e.g. val/l1) or epoch_loss/<term> scalar")
    if opt.monitor.startswith("val/") and opt.eval_freq == 0 and opt.eval_every == 0 and not opt.fast_dev_run:
        raise UserError(f"--monitor {opt.monitor} needs validation: pass --eval_freq N (epochs) or --eval_every N (iterations)")
    if (opt.save_top_k or opt.early_stop_patience) and not opt.monitor:
        raise UserError("--save_top_k and --early_stop_patience need --monitor (e.g. --monitor val/l1 --eval_freq 1)")
    if opt.overfit_batches:   # the same first images every epoch, in order and unflipped
        opt.max_dataset_size = min(opt.max_dataset_size, opt.overfit_batches * opt.batch_size)
        opt.serial_batches, opt.no_flip = True, True
    if opt.fast_dev_run:
        apply_fast_dev_run(opt)


def apply_fast_dev_run(opt: argparse.Namespace) -> None:
    """--fast_dev_run N: N iterations, every logging path each iteration, validation at the end where a
    held-out split exists, and checkpoints in a fresh temporary folder (train.py deletes it)."""
    held_out = os.path.join(opt.dataroot, opt.eval_phase if opt.dataset_mode == "aligned" else opt.eval_phase + "A")
    opt.checkpoints_dir = tempfile.mkdtemp(prefix="fast_dev_run_")
    opt.log_dir = None
    opt.max_steps = opt.fast_dev_run
    opt.print_freq = opt.display_freq = opt.save_latest_freq = 1
    opt.continue_train = False
    if os.path.isdir(held_out):
        opt.eval_every, opt.eval_num = opt.fast_dev_run, min(opt.eval_num, 2)
    elif opt.monitor.startswith("val/"):
        raise UserError(f"--fast_dev_run with --monitor {opt.monitor}: no held-out split {held_out}; add one or pass --eval_phase")


def monitor_options(opt: argparse.Namespace) -> dict:
    """Keyword arguments of `util.train.monitor.Monitor` from the monitor flags of `opt`."""
    return {"name": opt.monitor, "mode": opt.monitor_mode, "top_k": opt.save_top_k,
            "patience": opt.early_stop_patience, "min_delta": opt.early_stop_min_delta}
