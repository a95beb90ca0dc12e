"""Options of train.py."""
import argparse

import models
from models.base_model import ADAM_IMPLS
from options.base_options import BaseOptions, add_eval_options
from options.recipe_options import add_recipe_options, validate_recipe_options
from options.control_options import add_control_options, validate_control_options
from util.errors import UserError


class TrainOptions(BaseOptions):
    """Train an image-to-image translation model (CycleGAN, pix2pix, ...) on a folder of images."""

    is_train = True

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the shared flags, then the training flags."""
        parser = super().initialize(parser)
        g = parser.add_argument_group("training")
        g.add_argument("--phase", type=str, default="train", help="data split to train on: <dataroot>/<phase>A etc.")
        g.add_argument("--n_epochs", type=int, default=100, help="epochs at the initial learning rate")
        g.add_argument("--n_epochs_decay", type=int, default=100, help="epochs over which the learning rate decays (linear policy)")
        g.add_argument("--epoch_count", type=int, default=1, help="number of the first epoch (set from the checkpoint with --continue_train)")
        g.add_argument("--continue_train", action="store_true", help="resume from the checkpoint chosen by --epoch in <checkpoints_dir>/<name>")
        g.add_argument("--overwrite", action="store_true", help="start a fresh run in a folder that holds another run's checkpoints, moving the old files aside to <name>-replaced-<time>/")
        g.add_argument("--lr", type=float, default=0.0002, help="Adam learning rate")
        g.add_argument("--beta1", type=float, default=0.5, help="Adam beta1")
        g.add_argument("--gan_mode", type=str, default="lsgan", choices=models.losses.GAN_LOSSES.names(), help="GAN objective")
        g.add_argument("--pool_size", type=int, default=50, help="image pool of past fakes shown to the discriminator (0 = no pool)")
        g.add_argument("--lr_policy", type=str, default="linear", choices=models.schedulers.SCHEDULERS.names(), help="learning rate schedule: linear = constant for n_epochs then linear decay to 0")
        g.add_argument("--lr_decay_iters", type=int, default=50, help="step policy: multiply the lr by 0.1 every this many epochs")
        g.add_argument("--amp", type=str, default="none", choices=["none", "auto", "fp16", "bf16"], help="mixed precision: fp16 (autocast + GradScaler), bf16 (autocast, no scaling), or auto = bf16 where the device computes it natively (CUDA with bf16, CPUs with avx512_bf16/AMX), none elsewhere")

        g = parser.add_argument_group("logging and checkpoints")
        g.add_argument("--print_freq", type=int, default=100, help="iterations between loss read-outs (progress bar and TensorBoard)")
        g.add_argument("--display_freq", type=int, default=400, help="iterations between TensorBoard image grids")
        g.add_argument("--save_latest_freq", type=int, default=5000, help="iterations between saves of the 'latest' checkpoint")
        g.add_argument("--save_epoch_freq", type=int, default=5, help="epochs between numbered checkpoints")
        g.add_argument("--log_dir", type=str, default=None, help="TensorBoard log folder (default: <checkpoints_dir>/<name>/tb)")
        g.add_argument("--keep_checkpoints", type=int, default=0, help="keep only the newest N numbered epoch checkpoints (0 = keep all; latest.pt is always kept)")
        g.add_argument("--max_nonfinite_steps", type=int, default=20, help="stop training after this many consecutive steps with a NaN/inf loss (each such step is skipped)")

        g = parser.add_argument_group("speed")
        g.add_argument("--channels_last", action="store_true", help="keep networks and input batches in channels_last (NHWC) memory format; faster convolutions on tensor-core GPUs")
        g.add_argument("--compile", action="store_true", help="torch.compile the networks (first iterations are slow while compiling; falls back to eager with a warning where unsupported)")
        g.add_argument("--compile_mode", type=str, default="default", choices=["default", "reduce-overhead", "max-autotune"], help="torch.compile mode when --compile")
        g.add_argument("--adam_impl", type=str, default="auto", choices=ADAM_IMPLS, help="Adam implementation: auto = fused on CUDA, torch's default elsewhere; fused / foreach / for_loop force one")
        g.add_argument("--batched_calls", type=str, default="auto", choices=["auto", "off"], help="auto = run calls of one network that share weights as one call on the concatenated batch (CycleGAN's translation+identity+reconstruction, D on real+fake, CUT's encoder passes) where that is exact: --norm instance or none, not batch (batch statistics would mix); off = one call per image set, as in the reference")
        g.add_argument("--cudnn_benchmark", type=str, default="auto", choices=["auto", "on", "off"], help="let cuDNN pick the fastest convolution per input shape: auto = on when training crops to a fixed --crop_size")
        add_recipe_options(parser)
        return add_control_options(add_eval_options(parser, is_train=True))

    def validate(self, opt: argparse.Namespace) -> None:
        """Check training-specific option combinations."""
        super().validate(opt)
        validate_recipe_options(opt)
        if opt.dataroot is None:
            raise UserError("--dataroot is required: the folder holding trainA/ and trainB/ (or train/ for aligned data)")
        if opt.n_epochs + opt.n_epochs_decay < 1:
            raise UserError("--n_epochs plus --n_epochs_decay must be at least 1")
        if not opt.continue_train and opt.epoch_count > opt.n_epochs + opt.n_epochs_decay:
            raise UserError(f"--epoch_count {opt.epoch_count} is past the last epoch ({opt.n_epochs + opt.n_epochs_decay} = "
                            f"--n_epochs + --n_epochs_decay): nothing would be trained; lower it or train longer")
        validate_control_options(opt)


def speed_options(opt: argparse.Namespace) -> dict:
    """Keyword arguments of `util.train.fast_paths.apply_fast_paths` from the speed flags of `opt`."""
    return {"channels_last": opt.channels_last, "compile": opt.compile, "compile_mode": opt.compile_mode,
            "cudnn_benchmark": opt.cudnn_benchmark, "fixed_size": "crop" in opt.preprocess}
