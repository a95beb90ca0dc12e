"""Checks of a training set-up that need the built model (options alone cannot tell)."""
from util.errors import UserError

_CROPPING = ("resize_and_crop", "crop", "scale_width_and_crop")
_NONE_MULTIPLE = 4  # --preprocess none rounds image sizes to multiples of 4 (datasets/transforms.py)


def check_training_size(opt, model) -> None:
    """Raise `UserError` if the training images cannot pass through every generator of `model`.

    A generator with `size_multiple` m needs heights and widths divisible by m (a U-Net with 8
    downsamplings needs 256): checked against --crop_size, or against the rounding of --preprocess none.
    """
    for name, net in model.nets.items():
        multiple = getattr(net, "size_multiple", 1)
        if opt.preprocess in _CROPPING and opt.crop_size % multiple:
            fitting = max(multiple, opt.crop_size // multiple * multiple)
            raise UserError(f"--crop_size {opt.crop_size} is not a multiple of {multiple}, which --netG {opt.netG} "
                            f"({name}) needs: use --crop_size {fitting} (and --load_size >= it) or a smaller --netG")
        if opt.preprocess == "none" and multiple > _NONE_MULTIPLE:
            raise UserError(f"--preprocess none keeps image sizes (rounded to multiples of {_NONE_MULTIPLE}), but "
                            f"--netG {opt.netG} needs multiples of {multiple}: use --preprocess resize_and_crop "
                            f"with --crop_size a multiple of {multiple}")
