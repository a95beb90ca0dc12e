"""Weight normalisations of the discriminators' layers, selectable with ``--d_norm``."""
import torch.nn as nn
from torch.nn.utils.parametrizations import spectral_norm

from util.registry import Registry

D_NORMS = Registry("discriminator weight norm", "--d_norm")


@D_NORMS.register("none")
def no_weight_norm(net: nn.Module) -> nn.Module:
    """Leave ``net`` as it is."""
    return net


@D_NORMS.register("spectral")
def spectral_weight_norm(net: nn.Module) -> nn.Module:
    """Spectral norm (Miyato et al., 2018) on every conv and linear layer of ``net``, in place; returns ``net``.

    Each weight, reshaped to (out, -1), is divided by its largest singular value (one power
    iteration per training forward), so that matrix has spectral norm 1.
    """
    for module in list(net.modules()):
        if isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            spectral_norm(module)
    return net
