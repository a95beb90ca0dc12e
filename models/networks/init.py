"""Weight initialisation schemes selectable with ``--init_type``."""
import torch.nn as nn

from util.registry import Registry

INITS = Registry("init type", "--init_type")


@INITS.register("normal")
def _normal(weight, gain: float) -> None:
    nn.init.normal_(weight, 0.0, gain)


@INITS.register("xavier")
def _xavier(weight, gain: float) -> None:
    nn.init.xavier_normal_(weight, gain=gain)


@INITS.register("kaiming")
def _kaiming(weight, gain: float) -> None:
    # The reference ignores the gain here.
    nn.init.kaiming_normal_(weight, a=0, mode="fan_in")


@INITS.register("orthogonal")
def _orthogonal(weight, gain: float) -> None:
    nn.init.orthogonal_(weight, gain=gain)


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise ``net`` in place and return it.

    Conv and Linear weights follow ``init_type`` scaled by ``init_gain`` and their biases become 0;
    BatchNorm weights are drawn from N(1, init_gain) and their biases become 0. Raises `UserError`
    for an unknown ``init_type``.
    """
    init_fn = INITS.get(init_type)

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            init_fn(m.weight, init_gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, init_gain)
            nn.init.zeros_(m.bias)

    net.apply(init_module)
    return net
