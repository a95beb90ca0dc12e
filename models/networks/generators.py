"""Image-to-image generators selectable with ``--netG`` (ResNet and U-Net, as in the reference)."""
from typing import Callable, Iterable, List, Optional

import torch
import torch.nn as nn

from models.networks.norms import norm_needs_bias
from util.registry import Registry

GENERATORS = Registry("generator", "--netG")

NormFactory = Callable[[int], nn.Module]


class ResnetBlock(nn.Module):
    """Residual block ``x + conv_block(x)`` with 3x3 convs, keeping ``(N, dim, H, W)``.

    ``padding_type`` is 'reflect', 'replicate' or 'zero'; dropout 0.5 sits between the two convs
    when ``use_dropout``.
    """

    def __init__(self, dim: int, padding_type: str, norm_layer: NormFactory, use_dropout: bool, use_bias: bool):
        super().__init__()
        layers = _pad(padding_type) + [
            nn.Conv2d(dim, dim, 3, padding=_conv_padding(padding_type), bias=use_bias),
            norm_layer(dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += _pad(padding_type) + [
            nn.Conv2d(dim, dim, 3, padding=_conv_padding(padding_type), bias=use_bias),
            norm_layer(dim),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, dim, H, W)`` to ``(N, dim, H, W)``."""
        return x + self.conv_block(x)


def _pad(padding_type: str) -> List[nn.Module]:
    if padding_type == "reflect":
        return [nn.ReflectionPad2d(1)]
    if padding_type == "replicate":
        return [nn.ReplicationPad2d(1)]
    if padding_type == "zero":
        return []
    raise ValueError(f"padding type '{padding_type}' is not one of reflect, replicate, zero")


def _conv_padding(padding_type: str) -> int:
    return 1 if padding_type == "zero" else 0


class ResnetGenerator(nn.Module):
    """Johnson et al. ResNet generator: 2 stride-2 downsamplings, ``n_blocks`` residual blocks, 2 upsamplings.

    Maps ``(N, input_nc, H, W)`` to ``(N, output_nc, H, W)`` in [-1, 1] (Tanh); H and W must be
    multiples of `size_multiple`. All layers live in one ``self.model`` Sequential in the reference
    order, so layer indices (and state-dict keys) match the reference implementation: with
    ``ngf`` filters, index 0 is the input reflection pad, 4 the first stride-2 conv (2*ngf channels),
    8 the norm after the second (4*ngf), 10.. the residual blocks (4*ngf).
    """

    size_multiple = 4  # two stride-2 downsamplings

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm_layer: NormFactory = nn.BatchNorm2d,
        use_dropout: bool = False,
        n_blocks: int = 6,
        padding_type: str = "reflect",
    ):
        super().__init__()
        use_bias = norm_needs_bias(norm_layer)
        n_downsampling = 2
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, 7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        for i in range(n_downsampling):
            nc = ngf * 2**i
            layers += [
                nn.Conv2d(nc, nc * 2, 3, stride=2, padding=1, bias=use_bias),
                norm_layer(nc * 2),
                nn.ReLU(True),
            ]
        bottleneck_nc = ngf * 2**n_downsampling
        layers += [
            ResnetBlock(bottleneck_nc, padding_type, norm_layer, use_dropout, use_bias) for _ in range(n_blocks)
        ]
        for i in range(n_downsampling):
            nc = ngf * 2 ** (n_downsampling - i)
            layers += [
                nn.ConvTranspose2d(nc, nc // 2, 3, stride=2, padding=1, output_padding=1, bias=use_bias),
                norm_layer(nc // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, layer_ids: Optional[Iterable[int]] = None, with_output: bool = False):
        """Map ``(N, input_nc, H, W)`` to ``(N, output_nc, H, W)``; with ``layer_ids``, return
        `forward_features` instead (going through ``forward`` keeps DDP's gradient hooks working)."""
        if layer_ids is not None:
            return self.forward_features(x, layer_ids, with_output)
        return self.model(x)

    def forward_features(self, x: torch.Tensor, layer_ids: Iterable[int], with_output: bool = False):
        """Run ``self.model`` on ``(N, input_nc, H, W)`` only as far as needed and return the outputs.

        Returns one tensor per id in ``sorted(set(layer_ids))``: the output of ``self.model[id]``.
        As in the CUT reference, the ReLUs are in place, so a tapped norm output that a ReLU
        follows comes back rectified (e.g. index 8). With ``with_output`` all layers run and the
        result is ``(output (N, output_nc, H, W), features)``, the features as without it.
        """
        wanted = sorted(set(layer_ids))
        if not wanted and not with_output:
            return []
        if wanted and (wanted[0] < 0 or wanted[-1] >= len(self.model)):
            raise ValueError(f"layer ids must lie in [0, {len(self.model) - 1}], got {wanted}")
        feats = []
        for layer_id, layer in enumerate(self.model):
            x = layer(x)
            if layer_id in wanted:
                if layer_id == wanted[-1]:
                    if not with_output:
                        feats.append(x)
                        break
                    feats.append(x.clone())   # the next layer may be an in-place ReLU, which this pass never ran
                else:
                    feats.append(x)
        return (x, feats) if with_output else feats


class UnetSkipConnectionBlock(nn.Module):
    """One level of the recursive U-Net: downsample, ``submodule``, upsample, plus a skip connection.

    Maps ``(N, input_nc, H, W)`` to ``(N, input_nc + outer_nc, H, W)`` (input concatenated with the
    result), or to ``(N, outer_nc, H, W)`` for the outermost block. ``input_nc`` defaults to ``outer_nc``;
    the submodule must map ``inner_nc`` channels to ``2 * inner_nc`` (none for the innermost block).
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int = None,
        submodule: nn.Module = None,
        outermost: bool = False,
        innermost: bool = False,
        norm_layer: NormFactory = nn.BatchNorm2d,
        use_dropout: bool = False,
    ):
        super().__init__()
        self.outermost = outermost
        use_bias = norm_needs_bias(norm_layer)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        # In-place as in the reference: the skip connection therefore carries the activated input.
        downrelu = nn.LeakyReLU(0.2, True)
        uprelu = nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=use_bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, input_nc, H, W)`` to ``(N, outer_nc, H, W)`` (outermost) or the skip concatenation."""
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """Recursive U-Net generator with ``num_downs`` stride-2 levels (pix2pix).

    Maps ``(N, input_nc, H, W)`` to ``(N, output_nc, H, W)`` in [-1, 1] (Tanh); H and W must be
    multiples of ``2 ** num_downs`` (`size_multiple`). The innermost levels have ``8 * ngf`` filters
    and, when ``use_dropout``, dropout 0.5.
    """

    def __init__(
        self,
        input_nc: int,
        output_nc: int,
        ngf: int = 64,
        norm_layer: NormFactory = nn.BatchNorm2d,
        use_dropout: bool = False,
        num_downs: int = 8,
    ):
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"a U-Net needs at least 5 downsamplings, got {num_downs}")
        self.num_downs = num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=use_dropout
            )
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm_layer=norm_layer
        )

    @property
    def size_multiple(self) -> int:
        """The input height and width must be multiples of this (``2 ** num_downs``)."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(N, input_nc, H, W)`` to ``(N, output_nc, H, W)``."""
        return self.model(x)


def _register_preset(name: str, base: type, **preset) -> type:
    """Register under ``name`` a subclass of ``base`` with the keyword arguments ``preset`` fixed.

    The subclass has the common generator signature
    ``(input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False)``; it adds no
    parameters, so its state dict is the base class's.
    """

    def __init__(self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False):
        base.__init__(self, input_nc, output_nc, ngf, norm_layer, use_dropout, **preset)

    settings = ", ".join(f"{k}={v}" for k, v in preset.items())
    cls = type(
        f"{base.__name__}_{name}",
        (base,),
        {"__init__": __init__, "__doc__": f"{base.__name__} with {settings} (``--netG {name}``).", "__module__": __name__},
    )
    return GENERATORS.register(name)(cls)


_register_preset("resnet_9blocks", ResnetGenerator, n_blocks=9)
_register_preset("resnet_6blocks", ResnetGenerator, n_blocks=6)
_register_preset("unet_256", UnetGenerator, num_downs=8)
_register_preset("unet_128", UnetGenerator, num_downs=7)
