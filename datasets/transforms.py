"""Resize / crop / flip / to-tensor preprocessing whose randomness comes only from a torch.Generator.

Random choices are drawn once per image by `sample_params` and then applied by `apply_transform`,
so the same parameters can be applied to several images (both halves of an aligned pair) and a
sample's augmentation depends only on its generator, not on DataLoader workers or call order.
"""
from typing import Dict, List, Tuple

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from util.errors import UserError
from util.image_io import image_size, to_model_range

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")
_CROPPING_MODES = ("resize_and_crop", "crop", "scale_width_and_crop")
_SIZE_MULTIPLE = 4  # 'none' keeps sizes divisible by 4 so strided generators map back to the input size


def check_preprocess_options(opt) -> None:
    """Raise `UserError` if ``opt.preprocess``, ``opt.load_size`` and ``opt.crop_size`` do not fit together."""
    if opt.preprocess not in PREPROCESS_MODES:
        raise UserError(f"unknown --preprocess '{opt.preprocess}': choose one of {', '.join(PREPROCESS_MODES)}")
    if opt.preprocess != "none" and (opt.load_size < 1 or opt.crop_size < 1):
        raise UserError(f"--load_size {opt.load_size} and --crop_size {opt.crop_size} must both be positive")
    if opt.preprocess in ("resize_and_crop", "scale_width_and_crop") and opt.crop_size > opt.load_size:
        raise UserError(f"--crop_size {opt.crop_size} is larger than --load_size {opt.load_size}, but "
                        f"--preprocess {opt.preprocess} crops from the image resized to --load_size: "
                        f"set --crop_size <= --load_size")


def _crops(opt) -> bool:
    return opt.preprocess in _CROPPING_MODES


def check_generator_fits(opt, size_multiples: Dict[str, int]) -> None:
    """Raise `UserError` if the training images cannot pass through every network of `size_multiples`.

    `size_multiples` maps a network name to the multiple its input sides must have (a U-Net with 8
    downsamplings needs 256): checked against --crop_size, or against the rounding of --preprocess none.
    """
    for name, multiple in size_multiples.items():
        if _crops(opt) and opt.crop_size % multiple:
            fitting = max(multiple, opt.crop_size // multiple * multiple)
            raise UserError(f"--crop_size {opt.crop_size} is not a multiple of {multiple}, which --netG {opt.netG} "
                            f"({name}) needs: use --crop_size {fitting} (and --load_size >= it) or a smaller --netG")
        if opt.preprocess == "none" and multiple > _SIZE_MULTIPLE:
            raise UserError(f"--preprocess none keeps image sizes (rounded to multiples of {_SIZE_MULTIPLE}), but "
                            f"--netG {opt.netG} needs multiples of {multiple}: use --preprocess resize_and_crop "
                            f"with --crop_size a multiple of {multiple}")


def working_size(opt, size: Tuple[int, int]) -> Tuple[int, int]:
    """Return the (w, h) an image of ``size`` (w, h) is resized to before cropping."""
    w, h = size
    load, crop = opt.load_size, opt.crop_size
    if opt.preprocess == "resize_and_crop":
        w, h = load, load
    elif opt.preprocess in ("scale_width", "scale_width_and_crop"):
        w, h = load, max(round(load * h / w), crop)
        if opt.preprocess == "scale_width":   # kept whole: a height the strided generators map back to itself
            h = max(_SIZE_MULTIPLE, int(h / _SIZE_MULTIPLE + 0.5) * _SIZE_MULTIPLE)
    elif opt.preprocess == "none":
        w, h = (max(_SIZE_MULTIPLE, int(v / _SIZE_MULTIPLE + 0.5) * _SIZE_MULTIPLE) for v in (w, h))  # half rounds up
    if _crops(opt) and min(w, h) < crop:
        # Too small to crop from: scale up (keeping the aspect ratio) until the crop fits.
        scale = crop / min(w, h)
        w, h = max(crop, round(w * scale)), max(crop, round(h * scale))
    return w, h


def sample_params(opt, size: Tuple[int, int], generator: torch.Generator) -> Dict:
    """Draw the random augmentation for an image of ``size`` (w, h) using only ``generator``.

    Returns ``{'crop_pos': (x, y), 'flip': bool}``; ``crop_pos`` is the top-left corner of the
    crop in the resized image ((0, 0) when ``opt.preprocess`` does not crop).
    """
    x = y = 0
    if _crops(opt):
        w, h = working_size(opt, size)
        x = int(torch.randint(0, w - opt.crop_size + 1, (1,), generator=generator))
        y = int(torch.randint(0, h - opt.crop_size + 1, (1,), generator=generator))
    flip = bool(torch.rand(1, generator=generator) < 0.5)
    return {"crop_pos": (x, y), "flip": flip}


def apply_transform(img: Image.Image, opt, params: Dict, grayscale: bool, is_train: bool) -> torch.Tensor:
    """Preprocess ``img`` per ``opt.preprocess`` and return a float tensor (C, H, W) in [-1, 1].

    `augment_uint8` with `util.image_io.to_model_range` applied: the two give the same values.
    """
    return to_model_range(augment_uint8(img, opt, params, grayscale, is_train))


def augment_uint8(img: Image.Image, opt, params: Dict, grayscale: bool, is_train: bool) -> torch.Tensor:
    """Preprocess ``img`` per ``opt.preprocess`` and return a uint8 tensor (C, H, W) in [0, 255].

    C is 1 if ``grayscale`` else 3. In training the crop position and flip come from ``params``
    (see `sample_params`; flipping also needs ``opt.no_flip`` False); otherwise the crop is
    centred, nothing is flipped and ``params`` may be None. At test time ``none`` keeps the exact
    size (test.py pads to the generator's multiple and crops the output back).
    """
    mode = "L" if grayscale else "RGB"
    if img.mode != mode:
        img = img.convert(mode)
    w, h = img.size if (opt.preprocess == "none" and not is_train) else working_size(opt, img.size)
    if (w, h) != img.size:
        img = TF.resize(img, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
    if _crops(opt):
        size = opt.crop_size
        if is_train:
            x, y = params["crop_pos"]
            x, y = min(x, w - size), min(y, h - size)
        else:
            x, y = (w - size) // 2, (h - size) // 2
        img = TF.crop(img, y, x, size, size)
    if is_train and not opt.no_flip and params["flip"]:
        img = TF.hflip(img)
    return TF.pil_to_tensor(img)


def check_stackable_sizes(opt, domains: Dict[str, Tuple[List[str], int]]) -> None:
    """Raise `UserError` at start-up, not after an epoch, if training images of one folder come out in
    different sizes where they must not: a --preprocess that keeps sizes (none, scale_width) with
    --batch_size > 1 (a batch is one tensor) or --pool_size > 0 (the image pool is saved as one tensor).

    `domains` is `BaseDataset.domain_files()`: {folder label: (paths, images side by side per file)}.
    """
    if _crops(opt) or (opt.batch_size == 1 and opt.pool_size == 0):
        return
    for label, (paths, per_file) in domains.items():
        seen = {}
        for path in paths:
            size = image_size(path)
            if size is None:
                continue
            seen.setdefault(working_size(opt, (max(size[0] // per_file, 1), size[1])), path)
            if len(seen) > 1:
                (a, path_a), (b, path_b) = seen.items()
                raise UserError(f"--preprocess {opt.preprocess} keeps image sizes, but {label} gives {a[0]}x{a[1]} "
                                f"({path_a}) and {b[0]}x{b[1]} ({path_b}): batches of --batch_size {opt.batch_size} "
                                f"cannot be stacked nor the --pool_size {opt.pool_size} image pool saved; pass "
                                f"--batch_size 1 --pool_size 0, or a cropping --preprocess such as resize_and_crop")
