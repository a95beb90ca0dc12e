"""Network architectures and the builders that turn options into initialised networks."""
from typing import Optional

import torch.nn as nn

from models.networks.discriminators import (
    DISCRIMINATORS,
    NLayerDiscriminator,
    PatchGANDiscriminator,
    PixelDiscriminator,
)
from models.networks.generators import GENERATORS, ResnetBlock, ResnetGenerator, UnetGenerator, UnetSkipConnectionBlock
from models.networks.init import INITS, init_weights
from models.networks.multiscale import MultiscaleDiscriminator
from models.networks.sampling import UPSAMPLERS, apply_sampling
from models.networks.weight_norms import D_NORMS
from models.networks.norms import NORMS, get_norm_layer, norm_needs_bias

__all__ = [
    "DISCRIMINATORS",
    "D_NORMS",
    "GENERATORS",
    "INITS",
    "MultiscaleDiscriminator",
    "NORMS",
    "NLayerDiscriminator",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResnetBlock",
    "ResnetGenerator",
    "UPSAMPLERS",
    "UnetGenerator",
    "UnetSkipConnectionBlock",
    "build_discriminator",
    "build_generator",
    "get_norm_layer",
    "init_weights",
    "norm_needs_bias",
]


def build_generator(opt, input_nc: Optional[int] = None, output_nc: Optional[int] = None) -> nn.Module:
    """Build and initialise the generator ``opt.netG``.

    ``opt`` needs ngf, netG, norm, no_dropout, upsample, antialias, init_type, init_gain and, unless given explicitly
    (CycleGAN's G_B maps output_nc -> input_nc), input_nc and output_nc. Returns a module mapping
    ``(N, input_nc, H, W)`` to ``(N, output_nc, H, W)``; raises `UserError` for an unknown
    generator, norm or init type.
    """
    input_nc = opt.input_nc if input_nc is None else input_nc
    output_nc = opt.output_nc if output_nc is None else output_nc
    net = GENERATORS.build(opt.netG, input_nc, output_nc, opt.ngf, get_norm_layer(opt.norm), not opt.no_dropout)
    net = apply_sampling(net, upsample=opt.upsample, antialias=opt.antialias)
    return init_weights(net, opt.init_type, opt.init_gain)


def build_discriminator(opt, input_nc: int) -> nn.Module:
    """Build and initialise the discriminator ``opt.netD`` for ``input_nc``-channel inputs.

    ``opt`` needs ndf, netD, n_layers_D, norm, d_norm, init_type, init_gain, and the options a
    discriminator class lists in ``option_kwargs`` (multiscale: num_D). pix2pix passes
    ``input_nc + output_nc`` since its D sees the image pair. Returns a module mapping
    ``(N, input_nc, H, W)`` to logits ``(N, 1, H', W')`` (multiscale: a list of them); raises
    `UserError` for unknown names.
    """
    factory = DISCRIMINATORS.get(opt.netD)
    extra = {name: getattr(opt, name) for name in getattr(factory, "option_kwargs", ())}
    net = factory(input_nc, opt.ndf, opt.n_layers_D, get_norm_layer(opt.norm), **extra)
    return D_NORMS.get(opt.d_norm)(init_weights(net, opt.init_type, opt.init_gain))
