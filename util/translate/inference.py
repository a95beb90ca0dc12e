"""Running a generator on whole images of any size."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import nn


def min_side(multiple: int) -> int:
    """The smallest side a generator of size multiple `multiple` is run at: smaller images would shrink
    below the generators' own reflection paddings, so `padding_for` pads them up to it."""
    return max(2 * multiple, 8)


def padding_for(height: int, width: int, multiple: int) -> Tuple[int, int]:
    """Rows and columns to add at the bottom/right so `height` x `width` become multiples of `multiple`
    and at least `min_side(multiple)`.

    Plain integer arithmetic, so TorchScript can compile it inside an exported model.
    """
    least = min_side(multiple)
    height_to, width_to = max(height, least), max(width, least)
    return (height_to - height + (multiple - height_to % multiple) % multiple,
            width_to - width + (multiple - width_to % multiple) % multiple)


def pad_to_multiple(images: torch.Tensor, multiple: int):
    """Pad (N, C, H, W) on the bottom/right so H and W are multiples of `multiple`.

    Returns the padded tensor and the original (H, W). Reflection padding avoids dark borders; it
    needs the pad to be smaller than the image, so tiny images use edge replication instead.
    """
    height, width = images.shape[-2:]
    pad_h, pad_w = padding_for(height, width, multiple)
    if pad_h == 0 and pad_w == 0:
        return images, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode), (height, width)


@torch.no_grad()
def translate(generator: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run `generator` on (N, C, H, W) images of any H, W; returns (N, C_out, H, W).

    The input is padded to the generator's `size_multiple` and the output cropped back.
    """
    multiple = getattr(generator, "size_multiple", 1)
    padded, (height, width) = pad_to_multiple(images, multiple)
    return generator(padded)[..., :height, :width]
