"""Export a trained generator as a standalone model and check it against PyTorch on real images.

    python export.py --name monet_cyclegan --format torchscript   # or onnx, pt2
    python export.py --name monet_cyclegan --format onnx --dataroot ./my_photos

The model (dynamic batch, height and width; input and output (N, C, H, W) in [-1, 1]) goes to
<checkpoints_dir>/<name>/export/<epoch>_<direction>.<suffix>. The check translates up to --num_check
images (default: the test split of the dataset the model was trained on) with PyTorch and with the
exported model and reports the largest absolute difference, also in <model>.check.json beside the model.
"""
import argparse
import json
import os
import sys

import torch
from torch import nn

from datasets import create_dataset
from datasets.source import resolve_source
from models.loading import load_generator
from options.test_options import TestOptions
from util.checkpoint import read_options_file
from util.device import select_device
from util.errors import UserError, exit_on_user_error
from util.output_files import write_text
from util.translate.export import EXPORTERS, export_generator, load_exported
from util.translate.inference import min_side, translate


class ExportOptions(TestOptions):
    """Export a trained generator (TorchScript, ONNX or torch.export) and check it on real images."""

    def initialize(self, parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        """test.py's flags plus --format, --export_dir, --num_check."""
        parser = super().initialize(parser)
        g = parser.add_argument_group("export")
        g.add_argument("--format", choices=EXPORTERS.names(), default="torchscript",
                       help="torchscript (.ts.pt), onnx (.onnx, needs onnx + onnxruntime) or pt2 (torch.export)")
        g.add_argument("--export_dir", type=str, default=None,
                       help="where the model goes (default: <checkpoints_dir>/<name>/export)")
        g.add_argument("--num_check", type=int, default=4,
                       help="compare exported and PyTorch outputs on this many images from --dataroot")
        return parser

    def extra_defaults(self, parser, args):
        """The trained run's architecture, and its dataroot so the check has real images by default."""
        defaults = super().extra_defaults(parser, args)
        known, _ = parser.parse_known_args(args)
        dataroot = (read_options_file(os.path.join(known.checkpoints_dir, known.name, "opt.json")) or {}).get("dataroot")
        if dataroot and os.path.exists(dataroot):
            defaults["dataroot"] = dataroot
        return defaults

    def validate(self, opt: argparse.Namespace) -> None:
        """As test.py; --dataroot names the images to check on."""
        if opt.dataroot is None:
            raise UserError("--dataroot is required: images to check the exported model on "
                            "(the training dataroot was not found)")
        super().validate(opt)


def check_images(opt: argparse.Namespace):
    """Up to `opt.num_check` (1, C, H, W) images in [-1, 1] from `opt.dataroot`, as test.py reads them."""
    source = resolve_source(opt.dataroot, opt.dataset_mode, opt.phase, opt.direction)
    opt.dataroot, opt.dataset_mode = source.dataroot, source.dataset_mode
    dataset = create_dataset(opt)
    return [dataset[i]["A"][None] for i in range(min(opt.num_check, len(dataset)))]


def parity(generator: nn.Module, runner, images) -> float:
    """Largest absolute difference between PyTorch's and the exported model's outputs over `images`."""
    worst = 0.0
    with torch.no_grad():
        for image in images:
            expected = translate(generator, image)
            got = runner(image)
            if got.shape != expected.shape:
                raise UserError(f"exported model returned shape {tuple(got.shape)} for input "
                                f"{tuple(image.shape)}; expected {tuple(expected.shape)}")
            worst = max(worst, (got.float() - expected.float()).abs().max().item())
    return worst


@exit_on_user_error
def main(argv=None) -> dict:
    """Export the model named by `argv` (default: sys.argv[1:]); returns the check's result."""
    opt = ExportOptions().parse(argv)
    opt.gpu_ids = "-1"  # exports are made and checked on the CPU
    generator = load_generator(opt, select_device(opt.gpu_ids))
    for module in generator.modules():
        if isinstance(module, nn.Dropout):
            module.eval()  # an exported model must be deterministic
    images = check_images(opt)
    least = min_side(getattr(generator, "size_multiple", 1))
    for image in images:
        if min(image.shape[-2:]) < least:
            raise UserError(f"an image under --dataroot {opt.dataroot} is {image.shape[-1]}x{image.shape[-2]} px: the export "
                            f"check needs images of at least {least} px a side; remove it or point --dataroot elsewhere")
    out_dir = opt.export_dir or os.path.join(opt.checkpoints_dir, opt.name, "export")
    path = export_generator(generator, opt.format, images[0], out_dir, f"{opt.epoch}_{opt.direction}")
    worst = parity(generator, load_exported(opt.format, path), images)
    result = {"format": opt.format, "path": path, "images": len(images), "max_abs_diff": worst,
              "sizes": [list(image.shape[-2:]) for image in images]}
    write_text(os.path.splitext(path)[0] + ".check.json", json.dumps(result, indent=2))
    print(f"exported {path}; on {len(images)} images from {opt.dataroot} the max abs difference "
          f"to PyTorch is {worst:.2e}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
