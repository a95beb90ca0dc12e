"""'aligned' mode: paired images stored side by side (A|B) in <dataroot>/<phase>."""
import os
from typing import Dict

import torch

from datasets import DATASETS
from datasets.base_dataset import BaseDataset
from util.image_io import find_images, load_image
from datasets.transforms import sample_params
from util.errors import UserError


@DATASETS.register("aligned")
class AlignedDataset(BaseDataset):
    """Paired samples (pix2pix): each file holds A in its left half and B in its right half.

    Both halves get the same crop/flip so they stay pixel-aligned; ``opt.direction == 'BtoA'``
    swaps them. Returns ``{'A': (input_nc, H, W), 'B': (output_nc, H, W), 'A_paths': str,
    'B_paths': str}`` with tensors as `BaseDataset` describes (uint8 in training, [-1, 1] floats at test
    time) and both paths naming the A|B file.
    """

    def __init__(self, opt):
        super().__init__(opt)
        self.dir_AB = os.path.join(opt.dataroot, opt.phase)
        if not os.path.isdir(self.dir_AB):
            raise UserError(self._missing_folder_message())
        self.AB_paths = find_images(self.dir_AB, opt.max_dataset_size)
        self.gray_A = opt.input_nc == 1
        self.gray_B = opt.output_nc == 1

    def _missing_folder_message(self) -> str:
        opt = self.opt
        message = (f"missing folder {self.dir_AB}: --dataset_mode aligned expects images with A and B "
                   f"side by side (A|B) in <dataroot>/{opt.phase}")
        unpaired = [os.path.join(opt.dataroot, opt.phase + side) for side in "AB"]
        if all(os.path.isdir(folder) for folder in unpaired):
            message += f" (found {unpaired[0]} and {unpaired[1]}: for unpaired folders use --dataset_mode unaligned)"
        return message

    def __len__(self) -> int:
        return len(self.AB_paths)

    def domain_files(self):
        """The A|B files, two images side by side in each (see `BaseDataset.domain_files`)."""
        return {self.opt.phase: (self.AB_paths, 2)}

    def get_item(self, index: int, generator: torch.Generator) -> Dict:
        """Return the pair ``index`` (see the class docstring)."""
        path = self.AB_paths[index]
        AB = load_image(path, grayscale=self.gray_A and self.gray_B)
        w, h = AB.size
        half = max(w // 2, 1)  # a 1-pixel-wide file still yields two (identical) 1-pixel halves
        left = AB.crop((0, 0, half, h))
        right = AB.crop((w - half, 0, w, h))
        if self.opt.direction == "BtoA":
            left, right = right, left
        params = sample_params(self.opt, left.size, generator) if self.is_train else None
        A = self.transform(left, self.gray_A, generator, params)
        B = self.transform(right, self.gray_B, generator, params)
        return {"A": A, "B": B, "A_paths": path, "B_paths": path}
