"""Shared dataset machinery: seeding items, loading + transforming images, skipping unreadable files."""
import numbers
from typing import Dict, List, Optional, Tuple, Union

import torch
from PIL import Image
from torch.utils.data import Dataset

from datasets.bad_images import SKIPPED_KEY, warn_skipped
from util.image_io import BadImageError, DecodedImage, read_image
from datasets.transforms import apply_transform, augment_uint8, check_preprocess_options, sample_params
from util.device import derive_seed
from util.errors import UserError

Item = Union[int, Tuple[int, int]]

_MAX_SKIPS = 100  # with --skip_bad_images, give up after this many unreadable files in a row


class BaseDataset(Dataset):
    """Base class for datasets; subclasses implement `__len__` and `get_item`.

    ``dataset[item]`` accepts a plain index or an ``(index, sample_seed)`` tuple as yielded by
    `datasets.sampler.ResumableSampler`, and returns a dict of tensors and paths. Training images are
    uint8 (C, H, W) in [0, 255], decoded and augmented in the DataLoader workers and normalised on the
    device by `BaseModel.set_input` (`util.image_io.to_model_range`); test-time images (test.py, the
    evaluator, export.py; off the hot path) are float (C, H, W) in [-1, 1], full precision with
    --preprocess none.
    """

    def __init__(self, opt):
        """Keep ``opt`` and validate its preprocessing options (raises `UserError`)."""
        check_preprocess_options(opt)
        self.opt = opt
        self.root = opt.dataroot
        self.is_train = bool(opt.isTrain)
        self.skip_bad_images = bool(opt.skip_bad_images)

    @staticmethod
    def modify_commandline_options(parser, is_train: bool):
        """Add dataset-specific options to an argparse ``parser`` and return it (default: unchanged)."""
        return parser

    def __len__(self) -> int:
        raise NotImplementedError

    def get_item(self, index: int, generator: torch.Generator) -> Dict:
        """Return the sample at ``index``, drawing all randomness from ``generator``."""
        raise NotImplementedError

    def domain_files(self) -> Dict[str, Tuple[List[str], int]]:
        """{folder label: (image paths, how many side-by-side images each file holds)}, for the start-up size
        check `datasets.transforms.check_stackable_sizes`; subclasses with files list them."""
        return {}

    def resolve_item(self, item: Item) -> Tuple[int, torch.Generator]:
        """Turn an int index or an ``(index, sample_seed)`` tuple into ``(index, seeded generator)``.

        A bare index gets a generator seeded from (``opt.seed``, index).
        """
        if isinstance(item, (tuple, list)):
            index, seed = int(item[0]), int(item[1])
        elif isinstance(item, numbers.Integral) or (torch.is_tensor(item) and item.numel() == 1):
            index = int(item)
            seed = derive_seed("index", self.opt.seed, index)
        else:
            raise TypeError(f"dataset items are an int index or (index, sample_seed), got {item!r}")
        generator = torch.Generator()
        generator.manual_seed(seed)
        return index, generator

    def __getitem__(self, item: Item) -> Dict:
        index, generator = self.resolve_item(item)
        if not self.skip_bad_images:
            return self.get_item(index, generator)
        # Replace an unreadable sample by the next index; the generator continues, so it stays deterministic.
        for attempt in range(min(_MAX_SKIPS, len(self))):
            try:
                return {**self.get_item((index + attempt) % len(self), generator), SKIPPED_KEY: attempt}
            except BadImageError as err:
                warn_skipped(err)
        raise UserError(f"{min(_MAX_SKIPS, len(self))} images in a row under {self.root} are unreadable: "
                        f"check the dataset files")

    def load_transformed(self, path: str, grayscale: bool,
                         generator: Optional[torch.Generator]) -> Tuple[torch.Tensor, DecodedImage]:
        """Load the image at ``path``; return it augmented with fresh params (see `transform`) and the decoded file.

        At test time with --preprocess none the tensor keeps the source's full precision (16-bit and
        float files are not rounded to 8 bits), since nothing resizes it.
        """
        decoded = read_image(path)
        if not self.is_train and self.opt.preprocess == "none":
            return decoded.unit(1 if grayscale else 3) * 2 - 1, decoded
        return self.transform(decoded.pil(grayscale), grayscale, generator), decoded

    def transform(self, img: Image.Image, grayscale: bool, generator: Optional[torch.Generator],
                  params: Optional[Dict] = None) -> torch.Tensor:
        """Augment ``img`` with ``params`` (drawn from ``generator`` if None): in training a uint8 (C, H, W)
        in [0, 255] (`augment_uint8`), at test time a float (C, H, W) in [-1, 1] (`apply_transform`)."""
        if not self.is_train:
            return apply_transform(img, self.opt, params, grayscale, self.is_train)
        if params is None:
            params = sample_params(self.opt, img.size, generator)
        return augment_uint8(img, self.opt, params, grayscale, self.is_train)
