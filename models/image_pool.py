"""History buffer of generated images for discriminator updates (Shrivastava et al.)."""
import random
from typing import Optional

import torch


class ImagePool:
    """Holds up to ``pool_size`` previously generated images.

    `query` returns, for each image given, either that image or (with probability 1/2 once the pool
    is full) a stored older one, which the new image replaces. Coin flips use Python's `random`
    module, whose state the checkpoints save, so resumed training continues exactly.
    """

    def __init__(self, pool_size: int):
        self.pool_size = pool_size
        self.images = []  # detached (C, H, W) tensors

    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Take a ``(N, C, H, W)`` batch and return a detached ``(N, C, H, W)`` batch from the history.

        With ``pool_size`` 0 the input itself is returned.
        """
        if self.pool_size == 0:
            return images
        returned = []
        for image in images.detach():
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                returned.append(image)
            elif random.uniform(0, 1) > 0.5:
                idx = random.randint(0, self.pool_size - 1)
                returned.append(self.images[idx])
                self.images[idx] = image.clone()
            else:
                returned.append(image)
        return torch.stack(returned, 0)

    def state_dict(self) -> dict:
        """Return ``{"pool_size": int, "images": (k, C, H, W) CPU tensor or None}``."""
        images = torch.stack(self.images).cpu() if self.images else None
        return {"pool_size": self.pool_size, "images": images}

    def load_state_dict(self, state: dict, device: Optional[torch.device] = None) -> None:
        """Restore the pool from `state_dict` output, putting the images on ``device``."""
        self.pool_size = state["pool_size"]
        images = state["images"]
        self.images = [] if images is None else [img.to(device).clone() for img in images]
