"""Choosing the device from --gpu_ids, seeding every random number generator, and deriving seeds."""
import os
import random
import warnings
from typing import Dict

import numpy as np
import torch

from util.errors import UserError

_SEED_MASK = (1 << 63) - 1
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # instructions that compute bf16 products natively


def parse_gpu_ids(gpu_ids: str) -> list:
    """'0,1' -> [0, 1]; '-1' -> []; 'auto' -> [0] when CUDA is available, else []."""
    if gpu_ids == "auto":
        return [0] if torch.cuda.is_available() else []
    try:
        ids = [int(part) for part in gpu_ids.split(",") if part.strip() != ""]
    except ValueError:
        raise UserError(f"--gpu_ids {gpu_ids!r}: expected 'auto', '-1' (CPU) or comma-separated GPU numbers like '0' or '0,1'") from None
    return [i for i in ids if i >= 0]


def select_device(gpu_ids: str) -> torch.device:
    """Return the torch.device for --gpu_ids; raise `UserError` when CUDA is asked for but absent."""
    ids = parse_gpu_ids(gpu_ids)
    if not ids:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(f"--gpu_ids {gpu_ids} asks for CUDA, but this torch sees no CUDA device; pass --gpu_ids -1 to run on the CPU")
    if ids[0] >= torch.cuda.device_count():
        raise UserError(f"--gpu_ids {gpu_ids}: GPU {ids[0]} does not exist (this machine has {torch.cuda.device_count()}); pick one below that")
    if len(ids) > 1:
        warnings.warn(f"--gpu_ids {gpu_ids}: one process uses only GPU {ids[0]}; launch with torchrun to train on several GPUs")
    torch.cuda.set_device(ids[0])
    return torch.device("cuda", ids[0])


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy and torch (all devices) with `seed`."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def derive_seed(purpose: str, *values: int) -> int:
    """Hash a purpose label and integers into a well-mixed, non-negative 63-bit seed.

    Different ``purpose`` strings give independent seeds for the same ``values``.
    """
    entropy = [int.from_bytes(purpose.encode(), "little")] + [int(v) % (1 << 64) for v in values]
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]
    return int(state) & _SEED_MASK


def cpu_info(path: str = "/proc/cpuinfo") -> Dict:
    """The first processor's fields of `path` (Linux's /proc/cpuinfo) as strings, with 'flags' as a set.

    Returns {'flags': set()} where the file does not exist (other systems).
    """
    info: Dict = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if not line.strip():
                    if info:
                        break   # the first processor's block ends at its blank line
                    continue
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    info["flags"] = set(info.get("flags", "").split())
    return info


def resolve_amp(amp: str, device: torch.device, cpu_flags=None) -> str:
    """The --amp mode to run: 'auto' becomes 'bf16' where `device` computes bf16 natively, else 'none'.

    Native bf16: a CUDA device for which torch.cuda.is_bf16_supported(), or a CPU whose flags
    (`cpu_flags`, default read from /proc/cpuinfo) include avx512_bf16 or amx_bf16; elsewhere bf16 is
    emulated and slower than fp32. 'none', 'fp16' and 'bf16' are returned unchanged.
    """
    if amp != "auto":
        return amp
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "none"
    if device.type == "cpu":
        flags = cpu_info()["flags"] if cpu_flags is None else set(cpu_flags)
        return "bf16" if any(flag in flags for flag in _CPU_BF16_FLAGS) else "none"
    return "none"
