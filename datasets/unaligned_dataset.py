"""'unaligned' mode: two unpaired image folders <dataroot>/<phase>A and <dataroot>/<phase>B."""
import os
from typing import Dict

import torch

from datasets import DATASETS
from datasets.base_dataset import BaseDataset
from datasets.source import direction_sides
from util.image_io import find_images
from util.errors import UserError


@DATASETS.register("unaligned")
class UnalignedDataset(BaseDataset):
    """Unpaired samples from domains A and B (CycleGAN).

    Item i gives A image i (mod len A) and a B image chosen by the item's generator (or i mod len B
    with ``opt.serial_batches``); each gets its own crop/flip. With ``opt.direction == 'BtoA'`` the
    folders are swapped. Returns ``{'A': (input_nc, H, W), 'B': (output_nc, H, W), 'A_paths': str,
    'B_paths': str}`` with tensors as `BaseDataset` describes (uint8 in training); the length is max(len A, len B).
    """

    def __init__(self, opt):
        super().__init__(opt)
        dir_A, dir_B = (os.path.join(opt.dataroot, opt.phase + side) for side in direction_sides(opt.direction))
        for folder in (dir_A, dir_B):
            if not os.path.isdir(folder):
                raise UserError(self._missing_folder_message(folder))
        self.A_paths = find_images(dir_A, opt.max_dataset_size)
        self.B_paths = find_images(dir_B, opt.max_dataset_size)
        self.gray_A = opt.input_nc == 1
        self.gray_B = opt.output_nc == 1

    def _missing_folder_message(self, folder: str) -> str:
        opt = self.opt
        message = (f"missing folder {folder}: --dataset_mode unaligned expects unpaired images in "
                   f"{os.path.join(opt.dataroot, opt.phase + 'A')} and {os.path.join(opt.dataroot, opt.phase + 'B')}")
        paired = os.path.join(opt.dataroot, opt.phase)
        if os.path.isdir(paired):
            message += f" (found {paired}: for side-by-side A|B pairs use --dataset_mode aligned)"
        return message

    def __len__(self) -> int:
        return max(len(self.A_paths), len(self.B_paths))

    def domain_files(self):
        """The A and B folders' images, one image per file (see `BaseDataset.domain_files`)."""
        return {f"{self.opt.phase}A": (self.A_paths, 1), f"{self.opt.phase}B": (self.B_paths, 1)}

    def get_item(self, index: int, generator: torch.Generator) -> Dict:
        """Return the unpaired sample ``index`` (see the class docstring)."""
        A_path = self.A_paths[index % len(self.A_paths)]
        if self.opt.serial_batches:
            B_index = index % len(self.B_paths)
        else:
            B_index = int(torch.randint(0, len(self.B_paths), (1,), generator=generator))
        B_path = self.B_paths[B_index]
        A, _ = self.load_transformed(A_path, self.gray_A, generator)
        B, _ = self.load_transformed(B_path, self.gray_B, generator)
        return {"A": A, "B": B, "A_paths": A_path, "B_paths": B_path}
