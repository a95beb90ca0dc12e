"""Models: each file defines one model class and registers it in `MODELS` under its --model name."""
from util.registry import Registry

MODELS = Registry("model", "--model")

from models import losses, networks, schedulers  # noqa: E402  (registries the options need)
from models import cut_model, cycle_gan_model, pix2pix_model  # noqa: E402,F401  (register the models)


def create_model(opt, device):
    """Build the model chosen by `opt.model` on `device`; returns a `BaseModel`."""
    return MODELS.get(opt.model)(opt, device)
