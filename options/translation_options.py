"""test.py's flags for translating anything: any size, tiles, bit depth, video (issue 7)."""
import argparse

from util.errors import UserError
from util.source_format import add_format_options
from util.tiling import add_size_options, check_size_options
from util.video import add_video_options


def add_translation_options(parser: argparse.ArgumentParser) -> None:
    """Add the any-size, output-format and video flags to test.py's `parser`."""
    add_size_options(parser)
    add_format_options(parser)
    add_video_options(parser)


def check_translation_options(opt: argparse.Namespace) -> None:
    """Raise `UserError` for impossible settings of those flags."""
    check_size_options(opt)
    if opt.fps <= 0:
        raise UserError(f"--fps must be positive, got {opt.fps}")
