"""Single-device fast paths, each behind its own flag: channels_last, torch.compile, fused Adam, cudnn.benchmark.

Pinned memory + non_blocking copies, persistent DataLoader workers and host-sync-free loss logging
are always on (train.py, models/base_model.py, util/train/meters.py); `python -m benchmarks.speed
--compare` measures each path against the plain one.
"""
import os
import shutil
import warnings
from typing import Dict, Optional

import torch

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


def apply_fast_paths(nets: Dict[str, torch.nn.Module], device: torch.device,
                     channels_last: bool = False,       # --channels_last: NHWC weights (inputs: see BaseModel.set_input)
                     compile: bool = False,             # --compile: nn.Module.compile every network
                     compile_mode: str = "default",     # --compile_mode
                     cudnn_benchmark: str = "auto",     # --cudnn_benchmark auto|on|off
                     fixed_size: bool = True) -> None:  # inputs have one size (training crops): auto turns cuDNN autotuning on
    """Apply the single-device fast paths to the networks `nets` on `device`, in place.

    Compilation uses `nn.Module.compile`, so state_dict keys (and checkpoints) stay unchanged; where no
    compiler toolchain exists it warns and the networks run eagerly.
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = cudnn_benchmark == "on" or (cudnn_benchmark == "auto" and fixed_size)
    if channels_last:
        for net in nets.values():
            net.to(memory_format=torch.channels_last)
            if device.type == "cpu":
                contiguous_norm_gradients(net)
    if compile:
        reason = compile_unsupported_reason(device)
        if reason is not None:
            warnings.warn(f"--compile: {reason}; running the networks eagerly")
            return
        import torch._dynamo as dynamo
        dynamo.config.suppress_errors = True  # a graph that fails to compile runs eagerly, with a warning
        try:
            for net in nets.values():
                net.compile(mode=compile_mode)
        except RuntimeError as err:  # e.g. an unsupported Python version
            warnings.warn(f"--compile: {str(err).splitlines()[0]}; running the networks eagerly")
