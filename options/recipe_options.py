"""Flags of the data-efficiency and image-quality options: D augmentation (DiffAugment/ADA), multi-scale
and spectral-norm discriminators, R1, and the generators' up/downsampling. Model-specific losses
(pix2pix's --lambda_feat, --lambda_vgg) live with their model."""
import argparse

import models
from models.augment import parse_policy
from util.errors import UserError


def add_sampling_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Generator architecture flags that test.py needs too (--upsample, --antialias); returns `parser`."""
    g = parser.add_argument_group("generator sampling")
    g.add_argument("--upsample", type=str, default="transpose", choices=models.networks.UPSAMPLERS.names(),
                   help="generator upsampling: transpose = stride-2 transposed conv (the reference), resize_conv = nearest "
                        "resize + 3x3 conv (no checkerboard), resize_conv_bilinear = bilinear resize + 3x3 conv")
    g.add_argument("--antialias", action="store_true",
                   help="blur before each stride-2 conv and after each upsampling of the generator (CUT's anti-aliased sampling)")
    return parser


def add_recipe_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Training flags: discriminator augmentation, multi-scale/spectral-norm D, R1; returns `parser`."""
    g = parser.add_argument_group("discriminator recipes")
    g.add_argument("--diffaug", type=str, default="", help="DiffAugment policy for everything D sees, comma-separated "
                   f"from {', '.join(models.augment.AUGMENTS.names())} (e.g. color,translation,cutout); '' = off")
    g.add_argument("--ada_target", type=float, default=0.0, help="adaptive augmentation (ADA): adjust the probability p "
                   "of the --diffaug operations so that E[sign(D(real))] stays near this value (e.g. 0.6); 0 = off (p = 1)")
    g.add_argument("--ada_speed", type=float, default=500000, help="ADA: images over which p can move from 0 to 1 (StyleGAN2-ADA: 500k)")
    g.add_argument("--num_D", type=int, default=3, help="--netD multiscale: PatchGANs at scales 1, 1/2, 1/4, ...")
    g.add_argument("--d_norm", type=str, default="none", choices=models.networks.D_NORMS.names(),
                   help="weight normalisation of the discriminators' layers: spectral = spectral norm on every conv")
    g.add_argument("--lambda_r1", type=float, default=0.0, help="R1 gradient penalty weight gamma on real images (gamma/2 * E||grad D||^2); 0 = off")
    g.add_argument("--r1_every", type=int, default=16, help="lazy R1: apply the penalty (scaled by this) every this many D steps")
    return parser


def validate_recipe_options(opt: argparse.Namespace) -> None:
    """Raise `UserError` for recipe flags that cannot work together (ranges are in options/ranges.py)."""
    parse_policy(opt.diffaug)
    if opt.ada_target > 0 and not opt.diffaug:
        raise UserError("--ada_target adapts how often the --diffaug operations are applied: add e.g. --diffaug color,translation,cutout")
