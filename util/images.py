"""Converting between image tensors in [-1, 1] and PIL images / display grids."""
import os
from typing import Dict

import torch
import torchvision
from PIL import Image


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """(C, H, W) tensor in [-1, 1] with C = 1 or 3 -> 8-bit PIL image ('L' or 'RGB')."""
    array = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def save_tensor_image(image: torch.Tensor, path: str) -> None:
    """Save a (C, H, W) tensor in [-1, 1] to `path`; the format follows the file suffix."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    pil = tensor_to_pil(image)
    if path.lower().endswith((".jpg", ".jpeg")):
        pil.save(path, quality=95)
    else:
        pil.save(path)


def visuals_grid(visuals: Dict[str, torch.Tensor], nrow: int = 3) -> torch.Tensor:
    """First image of each named batch (N, C, H, W) in [-1, 1] -> one (3, H', W') grid in [0, 1]."""
    tiles = []
    for batch in visuals.values():
        image = batch[0].detach().float().cpu()
        tiles.append(image.expand(3, -1, -1) if image.shape[0] == 1 else image)
    grid = torchvision.utils.make_grid(torch.stack(tiles), nrow=nrow, padding=2, pad_value=1.0, normalize=False)
    return ((grid + 1) / 2).clamp(0, 1)
