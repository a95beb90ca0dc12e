"""Standalone exports of a generator (TorchScript, ONNX, torch.export) with dynamic height and width.

The exported model takes (N, C, H, W) float images in [-1, 1]. TorchScript and ONNX models take any
H, W (at least the generator's size multiple): they pad to that multiple with reflection and crop the
output back, as test.py does. The torch.export (.pt2) program takes H, W that are multiples of it (the
multiple is stored in the file as extra file 'size_multiple'); pad first, as `Pt2Exporter.load` does.
ONNX needs the optional packages `onnx` and `onnxruntime` (requirements-extra.txt).
"""
import os
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from util.errors import UserError
from util.output_files import output_file, prepare_output_dir
from util.translate.inference import pad_to_multiple, padding_for
from util.registry import Registry

EXPORTERS = Registry("export format", "--format")

Runner = Callable[[torch.Tensor], torch.Tensor]


class PaddedGenerator(nn.Module):
    """Wraps a generator: (N, C, H, W) of any H, W >= `multiple` -> (N, C_out, H, W)."""

    def __init__(self, generator: nn.Module, multiple: int):
        super().__init__()
        self.generator = generator
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad bottom/right to the multiple (reflect), run the generator, crop back."""
        height, width = x.shape[-2], x.shape[-1]
        pad_h, pad_w = padding_for(height, width, self.multiple)
        y = self.generator(F.pad(x, [0, pad_w, 0, pad_h], mode="reflect"))
        return y[:, :, :height, :width]


class Exporter:
    """One export format: `export(model, example, path)` writes the file, `load(path)` returns a runner."""

    suffix = ""

    def export(self, model: PaddedGenerator, example: torch.Tensor, path: str) -> None:
        raise NotImplementedError

    def load(self, path: str) -> Runner:
        raise NotImplementedError


@EXPORTERS.register("torchscript")
class TorchScriptExporter(Exporter):
    """TorchScript: the generator traced (convolutions only, so any size works), the padding scripted."""

    suffix = ".ts.pt"

    def export(self, model, example, path):
        traced = torch.jit.trace(model.generator, F.pad(example, [0, 0, 0, 0]), check_trace=False)
        torch.jit.save(torch.jit.script(PaddedGenerator(traced, model.multiple)), path)

    def load(self, path):
        return torch.jit.load(path, map_location="cpu")


@EXPORTERS.register("pt2")
class Pt2Exporter(Exporter):
    """torch.export program (.pt2) of the bare generator: H and W are any multiples of its size multiple.

    torch.export cannot keep "pad by (-H) mod multiple" symbolic (it specialises on whether the pad is
    zero), so the caller pads, as `load` does with `util.translate.inference.translate`.
    """

    suffix = ".pt2"

    def export(self, model, example, path):
        padded, _ = pad_to_multiple(example, model.multiple)
        rows, cols = torch.export.Dim("rows", max=1 << 13), torch.export.Dim("cols", max=1 << 13)
        shapes = {"x": {2: model.multiple * rows, 3: model.multiple * cols}}
        program = torch.export.export(model.generator, (padded,), dynamic_shapes=shapes)
        torch.export.save(program, path, extra_files={"size_multiple": str(model.multiple)})

    def load(self, path):
        extra = {"size_multiple": ""}
        module = torch.export.load(path, extra_files=extra).module()
        multiple = int(extra["size_multiple"])

        def run(x: torch.Tensor) -> torch.Tensor:
            padded, (height, width) = pad_to_multiple(x, multiple)
            return module(padded)[..., :height, :width]
        return run


@EXPORTERS.register("onnx")
class OnnxExporter(Exporter):
    """ONNX (opset 17) with dynamic batch, height and width; checked with onnxruntime."""

    suffix = ".onnx"

    def export(self, model, example, path):
        _require("onnx")
        torch.onnx.export(model, (example,), path, input_names=["image"], output_names=["translated"],
                          dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                        "translated": {0: "batch", 2: "height", 3: "width"}},
                          opset_version=17, dynamo=False)

    def load(self, path):
        ort = _require("onnxruntime")
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(session.run(None, {"image": x.detach().cpu().numpy()})[0])
        return run


def _require(package: str):
    """Import the optional `package` or raise a one-line `UserError` saying how to install it."""
    try:
        return __import__(package)
    except ImportError:
        raise UserError(f"--format onnx needs the optional packages onnx and onnxruntime: "
                        f"pip install -r requirements-extra.txt (missing: {package})") from None


def export_generator(generator: nn.Module, fmt: str, example: torch.Tensor, out_dir: str, name: str) -> str:
    """Export `generator` (on the CPU) in format `fmt` to <out_dir>/<name><suffix>; returns the path."""
    exporter = EXPORTERS.get(fmt)()
    path = os.path.join(prepare_output_dir(out_dir, "--export_dir"), name + exporter.suffix)
    model = PaddedGenerator(generator.cpu(), getattr(generator, "size_multiple", 1))
    with torch.no_grad(), output_file(path) as tmp:
        exporter.export(model, example.cpu(), tmp)
    return path


def load_exported(fmt: str, path: str) -> Runner:
    """Load a file written by `export_generator` in format `fmt`; returns a callable on CPU tensors."""
    return EXPORTERS.get(fmt)().load(path)
