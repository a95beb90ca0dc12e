"""'single' mode: one domain only, e.g. running a trained generator on a folder or a single image."""
import os
from typing import Dict

import torch

from datasets import DATASETS
from datasets.base_dataset import BaseDataset
from util.image_io import find_images, is_image_file
from util.errors import UserError


@DATASETS.register("single")
class SingleDataset(BaseDataset):
    """All images under ``opt.dataroot`` (recursively), or just that file if it is an image.

    Returns ``{'A': (input_nc, H, W) in [-1, 1], 'A_paths': str, 'A_bits': 8 or 16, 'A_gray': bool}``
    (the source file's bit depth and whether it is single-channel, for test.py's outputs). At test time
    the crop is centred and nothing is flipped.
    """

    def __init__(self, opt):
        super().__init__(opt)
        if os.path.isfile(opt.dataroot):
            if not is_image_file(opt.dataroot):
                raise UserError(f"--dataroot {opt.dataroot} is a file but not an image: pass an image "
                                f"file or a folder of images")
            self.A_paths = [opt.dataroot]
        else:
            self.A_paths = find_images(opt.dataroot, opt.max_dataset_size)
        self.gray = opt.input_nc == 1

    def __len__(self) -> int:
        return len(self.A_paths)

    def get_item(self, index: int, generator: torch.Generator) -> Dict:
        """Return image ``index`` (see the class docstring)."""
        path = self.A_paths[index]
        image, decoded = self.load_transformed(path, self.gray, generator)
        return {"A": image, "A_paths": path, "A_bits": decoded.bits, "A_gray": decoded.gray}
