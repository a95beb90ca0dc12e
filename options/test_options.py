"""Options of test.py."""
import argparse
import json
import os
from typing import Dict, List, Optional

from options.base_options import BaseOptions
from options.translation_options import add_translation_options, check_translation_options
from util.errors import UserError
from util.evaluation import add_eval_options

# Options that describe the trained networks; test.py takes them from the run's opt.json so the
# user does not repeat them (a flag given on the command line still wins).
ARCHITECTURE_KEYS = (
    "model", "input_nc", "output_nc", "ngf", "ndf", "netG", "netD", "n_layers_D", "norm",
    "init_type", "init_gain", "no_dropout", "direction",
)


class TestOptions(BaseOptions):
    """Translate a folder of images (or a dataset's test split) with a trained model."""

    is_train = False

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """Add the shared flags, then the test flags, and set test-time defaults."""
        parser = super().initialize(parser)
        g = parser.add_argument_group("testing")
        g.add_argument("--results_dir", type=str, default="./results", help="translated images go to <results_dir>/<name>/<phase>_<epoch>/")
        g.add_argument("--phase", type=str, default="test", help="data split when --dataroot is a dataset: <dataroot>/<phase>A, <dataroot>/<phase>")
        g.add_argument("--num_test", type=int, default=None, help="translate at most this many images (default: all)")
        g.add_argument("--eval", action="store_true", help="run networks in eval mode (BatchNorm running statistics, no dropout)")
        add_translation_options(parser)
        # At test time images keep their size and are neither cropped nor flipped, unless asked.
        parser.set_defaults(preprocess="none", no_flip=True, dataset_mode="single", num_threads=2)
        return add_eval_options(parser, is_train=False)

    def extra_defaults(self, parser: argparse.ArgumentParser, args: Optional[List[str]]) -> Dict:
        """Read the architecture options of the trained run from <checkpoints_dir>/<name>/opt.json."""
        known, _ = parser.parse_known_args(args)
        path = os.path.join(known.checkpoints_dir, known.name, "opt.json")
        if not os.path.isfile(path):
            return {}
        with open(path) as f:
            trained = json.load(f)
        return {k: trained[k] for k in ARCHITECTURE_KEYS if k in trained}

    def validate(self, opt: argparse.Namespace) -> None:
        """Check test-specific options."""
        super().validate(opt)
        if opt.dataroot is None:
            raise UserError("--dataroot is required: a folder of images (or a dataset with a test split) to translate")
        if opt.num_test is not None and opt.num_test < 1:
            raise UserError(f"--num_test must be at least 1, got {opt.num_test}")
        check_translation_options(opt)
