"""Single-device fast paths, each behind its own flag: channels_last, torch.compile, fused Adam, cudnn.benchmark.

Pinned memory + non_blocking copies, persistent DataLoader workers and host-sync-free loss logging
are always on (train.py, models/base_model.py, util/loss_meter.py); `python -m util.benchmark
--compare` measures each path against the plain one.
"""
import argparse
import os
import shutil
import warnings
from typing import Dict, Optional

import torch

ADAM_IMPLS = ("auto", "fused", "foreach", "for_loop")


def add_speed_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `speed` flag group to `parser` and return it."""
    g = parser.add_argument_group("speed")
    g.add_argument("--channels_last", action="store_true", help="keep networks and input batches in channels_last (NHWC) memory format; faster convolutions on tensor-core GPUs")
    g.add_argument("--compile", action="store_true", help="torch.compile the networks (first iterations are slow while compiling; falls back to eager with a warning where unsupported)")
    g.add_argument("--compile_mode", type=str, default="default", choices=["default", "reduce-overhead", "max-autotune"], help="torch.compile mode when --compile")
    g.add_argument("--adam_impl", type=str, default="auto", choices=ADAM_IMPLS, help="Adam implementation: auto = fused on CUDA, torch's default elsewhere; fused / foreach / for_loop force one")
    g.add_argument("--cudnn_benchmark", type=str, default="auto", choices=["auto", "on", "off"], help="let cuDNN pick the fastest convolution per input shape: auto = on when training crops to a fixed --crop_size")
    return parser


def adam_kwargs(opt: argparse.Namespace, device: torch.device) -> Dict:
    """Keyword arguments selecting `--adam_impl` for torch.optim.Adam on `device`."""
    impl = getattr(opt, "adam_impl", "auto")
    if impl == "auto":
        return {"fused": True} if device.type == "cuda" else {}
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[impl]


def input_memory_format(opt: argparse.Namespace) -> torch.memory_format:
    """The memory format input batches are copied to: channels_last with `--channels_last`."""
    return torch.channels_last if getattr(opt, "channels_last", False) else torch.contiguous_format


def contiguous_norm_gradients(net: torch.nn.Module) -> None:
    """Hand every InstanceNorm of `net` a contiguous gradient in backward (CPU channels_last workaround).

    On the CPU (seen with torch 2.15), instance_norm's backward returns a wrong input gradient when the
    incoming gradient is channels_last, as a ConvTranspose2d after a ResnetBlock produces; the forward is
    right. A contiguous copy of that gradient gives the plain layout's result (tests/test_fast_paths.py).
    """
    def hook_output(_module, _inputs, output):
        if output.requires_grad:
            output.register_hook(lambda grad: grad.contiguous())   # fires before any in-place op that follows

    for module in net.modules():
        if isinstance(module, torch.nn.modules.instancenorm._InstanceNorm):
            module.register_forward_hook(hook_output)


def compile_unsupported_reason(device: torch.device) -> Optional[str]:
    """Why torch.compile cannot run here (None when it can): no compiler toolchain for the device."""
    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    if device.type == "cpu":
        compiler = os.environ.get("CXX") or next((c for c in ("g++", "clang++", "c++") if shutil.which(c)), None)
        if compiler is None or not shutil.which(compiler):
            return "inductor on the CPU needs a C++ compiler (g++ or clang++) on PATH"
    elif device.type == "cuda":
        try:
            from torch.utils._triton import has_triton
        except ImportError:
            return None
        if not has_triton():
            return "inductor on CUDA needs the triton package"
    return None


def apply_fast_paths(model, opt: argparse.Namespace) -> None:
    """Apply `--channels_last`, `--cudnn_benchmark` and `--compile` to the networks of `model`, in place.

    Compilation uses `nn.Module.compile`, so state_dict keys (and checkpoints) stay unchanged.
    """
    device = model.device
    if device.type == "cuda":
        benchmark = getattr(opt, "cudnn_benchmark", "auto")
        fixed_size = "crop" in getattr(opt, "preprocess", "")
        torch.backends.cudnn.benchmark = benchmark == "on" or (benchmark == "auto" and fixed_size)
    if getattr(opt, "channels_last", False):
        for net in model.nets.values():
            net.to(memory_format=torch.channels_last)
            if device.type == "cpu":
                contiguous_norm_gradients(net)
    if getattr(opt, "compile", False):
        reason = compile_unsupported_reason(device)
        if reason is not None:
            warnings.warn(f"--compile: {reason}; running the networks eagerly")
            return
        import torch._dynamo as dynamo
        dynamo.config.suppress_errors = True  # a graph that fails to compile runs eagerly, with a warning
        try:
            for net in model.nets.values():
                net.compile(mode=getattr(opt, "compile_mode", "default"))
        except RuntimeError as err:  # e.g. an unsupported Python version
            warnings.warn(f"--compile: {str(err).splitlines()[0]}; running the networks eagerly")
