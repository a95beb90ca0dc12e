"""Options of test.py: what to translate, at which size, in which output format, and how to score it."""
import argparse
import os
from typing import Dict, List, Optional

from options.base_options import BaseOptions, add_eval_options, convert_config
from util.checkpoint import read_options_file
from util.errors import UserError
from util.translate.output_format import OUTPUT_MODES
from util.translate.tiling import TILE_STATS
from util.translate.video import VIDEO_STATS

# Options that describe the trained networks; test.py takes them from the run's opt.json so the
# user does not repeat them (a flag given on the command line still wins).
ARCHITECTURE_KEYS = (
    "model", "input_nc", "output_nc", "ngf", "ndf", "netG", "netD", "n_layers_D", "norm",
    "init_type", "init_gain", "no_dropout", "direction", "upsample", "antialias",
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
        g.add_argument("--use_ema", type=str, default="true", choices=["true", "false"], help="translate with the generator's EMA weights when the checkpoint has them (train.py --ema_decay); false = the raw trained weights")

        g = parser.add_argument_group("any size")
        g.add_argument("--max_side", type=int, default=None,
                       help="downscale images whose longer side exceeds this before translating; the output is "
                            "resized back to the input size (default: translate at full size)")
        g.add_argument("--tile", type=int, default=None,
                       help="translate in overlapping tiles of this size (rounded down to the generator's size "
                            "multiple) to bound memory on large images (default: whole image at once)")
        g.add_argument("--tile_overlap", type=int, default=64,
                       help="overlap of neighbouring tiles in pixels, blended with a smooth window")
        g.add_argument("--tile_stats", choices=TILE_STATS, default="mosaic",
                       help="with --tile: normalisation statistics of the whole image, from one pass over a mosaic "
                            "of full-resolution pieces (mosaic, fast) or a downscaled copy (lowres, fast, less "
                            "accurate) of at most --tile_stats_side, or streamed over the tiles layer by layer "
                            "(exact, much slower)")
        g.add_argument("--tile_stats_side", type=int, default=1024,
                       help="with --tile_stats mosaic/lowres: longer side of the mosaic or downscaled copy (the whole image if smaller)")
        parser.add_argument("--output_mode", choices=OUTPUT_MODES, default="same",
                            help="same: outputs of 16-bit / grayscale inputs are written 16-bit / grayscale; "
                                 "model: always the generator's channels in 8 bits")

        g = parser.add_argument_group("video")
        g.add_argument("--video_stats", choices=VIDEO_STATS, default=None,
                       help="translate --dataroot (a video file, or a folder of frames in name order) as one clip: "
                            "normalisation statistics per frame, or frozen for the whole clip (less flicker); "
                            "a video file alone defaults to frame")
        g.add_argument("--fps", type=float, default=25.0,
                       help="frame rate of a folder of frames (a video file keeps its own)")
        # At test time images keep their size and are neither cropped nor flipped, unless asked.
        parser.set_defaults(preprocess="none", no_flip=True, dataset_mode="single", num_threads=2)
        return add_eval_options(parser, is_train=False)

    def extra_defaults(self, parser: argparse.ArgumentParser, args: Optional[List[str]]) -> Dict:
        """Read the architecture options of the trained run from <checkpoints_dir>/<name>/opt.json."""
        known, _ = parser.parse_known_args(args)
        path = os.path.join(known.checkpoints_dir, known.name, "opt.json")
        trained = read_options_file(path) or {}
        return convert_config(parser, {k: trained[k] for k in ARCHITECTURE_KEYS if k in trained}, path)

    def validate(self, opt: argparse.Namespace) -> None:
        """Check test-specific options."""
        super().validate(opt)
        if opt.dataroot is None:
            raise UserError("--dataroot is required: a folder of images (or a dataset with a test split) to translate")
        if opt.tile is not None and opt.tile_overlap >= opt.tile // 2:
            raise UserError(f"--tile_overlap must lie in [0, --tile / 2), got {opt.tile_overlap} with --tile {opt.tile}")


def size_options(opt: argparse.Namespace) -> Dict:
    """Keyword arguments of `util.translate.tiling.translate_any_size` from the any-size flags of `opt`."""
    return {"max_side": opt.max_side, "tile": opt.tile, "tile_overlap": opt.tile_overlap,
            "tile_stats": opt.tile_stats, "tile_stats_side": opt.tile_stats_side}
