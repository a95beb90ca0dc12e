"""Loading generator weights saved by the reference implementation (`<epoch>_net_<name>.pth`)."""
import os
from typing import Dict

import torch

from util.checkpoint import load_checkpoint
from util.errors import UserError


def reference_weights_path(checkpoints_dir: str, name: str, epoch: str, net_name: str) -> str:
    """<checkpoints_dir>/<name>/<epoch>_net_<net_name>.pth, as the reference implementation names its files."""
    return os.path.join(checkpoints_dir, name, f"{epoch}_net_{net_name}.pth")


def load_reference_weights(path: str) -> Dict[str, torch.Tensor]:
    """Read a bare network state dict (weights_only) and normalise it to our key names.

    Drops a DataParallel 'module.' prefix; raises `UserError` if the file is not a dict of tensors.
    """
    state = load_checkpoint(path)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise UserError(f"{path} is not a network state dict (a mapping of names to tensors)")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
