"""The image grid train.py writes to TensorBoard."""
from typing import Dict

import torch
import torch.nn.functional as F
import torchvision


def visuals_grid(visuals: Dict[str, torch.Tensor], nrow: int = 3) -> torch.Tensor:
    """First image of each named batch (N, C, H, W) in [-1, 1] -> one (3, H', W') grid in [0, 1]."""
    tiles = []
    for batch in visuals.values():
        image = batch[0].detach().float().cpu()
        tiles.append(image.expand(3, -1, -1) if image.shape[0] == 1 else image)
    height, width = max(t.shape[1] for t in tiles), max(t.shape[2] for t in tiles)   # domains may differ in size
    tiles = [F.pad(t, (0, width - t.shape[2], 0, height - t.shape[1]), value=1.0) for t in tiles]
    grid = torchvision.utils.make_grid(torch.stack(tiles), nrow=nrow, padding=2, pad_value=1.0, normalize=False)
    return ((grid + 1) / 2).clamp(0, 1)
