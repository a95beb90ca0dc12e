"""The interface every model implements, and the logic all models share."""
import argparse
import itertools
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from models import losses, networks
from models.image_pool import ImagePool
from util.errors import UserError


ADAM_IMPLS = ("auto", "fused", "foreach", "for_loop")


def adam_kwargs(impl: str, device: torch.device) -> Dict:
    """Keyword arguments of torch.optim.Adam selecting the implementation `impl` (--adam_impl) on `device`.

    'auto' is the fused kernel on CUDA and torch's default elsewhere.
    """
    if impl == "auto":
        return {"fused": True} if device.type == "cuda" else {}
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[impl]


@dataclass
class TrainStep:
    """One optimizer update inside a training iteration.

    `compute_losses` returns the named loss terms (scalar tensors) whose sum is back-propagated;
    `optimizer` names the entry of `model.optimizers` that takes the step; the networks in `frozen`
    get no gradients during this step (e.g. the discriminators while the generators learn).
    """

    name: str
    optimizer: str
    compute_losses: Callable[[], Dict[str, torch.Tensor]]
    frozen: List[str] = field(default_factory=list)


class BaseModel:
    """Owns a model's networks, optimizers, image pools and loss terms; train.py drives them.

    A model subclass implements:
      * `modify_commandline_options(parser, is_train)`: add flags / change defaults (optional);
      * `__init__(opt, device)`: fill `self.nets` (and, when training, `self.optimizers`, `self.pools`);
      * `set_input(batch)`: take a DataLoader batch dict;
      * `forward()`: compute the fakes for the current batch;
      * `training_steps()`: the ordered `TrainStep`s of one iteration;
      * `visuals()`: named image batches (N, C, H, W) in [-1, 1] for the TensorBoard grid;
      * `inference_generator(opt, train_direction)`: which network test.py runs for `opt.direction`.
    Everything is placed on `device` here; train.py never touches the networks' internals.
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        self.opt = opt
        self.device = device
        self.is_train = opt.isTrain
        self.nets: Dict[str, nn.Module] = {}
        self.optimizers: Dict[str, torch.optim.Optimizer] = {}
        self.pools: Dict[str, ImagePool] = {}
        self.generator_names: List[str] = []                 # filled by add_generator (EMA, model summary)
        self.d_outputs: Dict[str, Dict[str, torch.Tensor]] = {}   # discriminator -> {real_mean, fake_mean} of the last D step

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add model-specific flags or change defaults; return the parser."""
        return parser

    # ------------------------------------------------------------------ building blocks
    def add_generator(self, name: str, input_nc: int, output_nc: int) -> nn.Module:
        """Build the `--netG` generator mapping input_nc -> output_nc channels as `self.nets[name]`."""
        self.nets[name] = networks.build_generator(self.opt, input_nc, output_nc).to(self.device)
        self.generator_names.append(name)
        return self.nets[name]

    def add_discriminator(self, name: str, input_nc: int) -> nn.Module:
        """Build the `--netD` discriminator on input_nc channels as `self.nets[name]`."""
        self.nets[name] = networks.build_discriminator(self.opt, input_nc).to(self.device)
        return self.nets[name]

    def add_optimizer(self, name: str, net_names: List[str]) -> torch.optim.Optimizer:
        """Create one Adam optimizer over the parameters of the named networks."""
        params = itertools.chain(*(self.nets[n].parameters() for n in net_names))
        self.optimizers[name] = torch.optim.Adam(params, lr=self.opt.lr, betas=(self.opt.beta1, 0.999),
                                                **adam_kwargs(self.opt.adam_impl, self.device))
        return self.optimizers[name]

    def build_gan_loss(self) -> None:
        """Create `self.gan_loss`, the `--gan_mode` objective."""
        self.gan_loss = losses.GAN_LOSSES.build(self.opt.gan_mode).to(self.device)

    def discriminator_loss(self, net_name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Loss of discriminator `net_name` on a real batch and a (detached) fake batch.

        Returns 0.5 * (loss on real + loss on fake), plus the gradient penalty for wgangp. The mean outputs
        on both go to `self.d_outputs[net_name]` (logged as <net_name>/real_mean, /fake_mean).
        """
        net = self.nets[net_name]
        fake = fake.detach()
        pred_real, pred_fake = net(real), net(fake)
        self.d_outputs[net_name] = {"real_mean": pred_real.detach().mean(), "fake_mean": pred_fake.detach().mean()}
        loss = 0.5 * (self.gan_loss(pred_real, True) + self.gan_loss(pred_fake, False))
        if self.opt.gan_mode == "wgangp":
            loss = loss + losses.gradient_penalty(net, real, fake)
        return loss

    def generator_gan_loss(self, net_name: str, fake: torch.Tensor) -> torch.Tensor:
        """Adversarial loss for the generator: discriminator `net_name` should call `fake` real."""
        return self.gan_loss(self.nets[net_name](fake), True, for_discriminator=False)

    @classmethod
    def single_generator(cls, opt: argparse.Namespace, train_direction: str) -> Tuple[str, int, int]:
        """`inference_generator` of models with one generator "G": it translates the training direction only."""
        if opt.direction != train_direction:
            raise UserError(f"this {opt.model} model was trained {train_direction}; it cannot translate {opt.direction} (drop --direction)")
        return "G", opt.input_nc, opt.output_nc

    # ------------------------------------------------------------------ used by train.py / test.py
    def initialize_from_batch(self, batch: Dict) -> None:
        """Build the parts whose shapes depend on the data (e.g. CUT's netF) from a first training batch.

        train.py calls this once, right after building the model and before schedulers, checkpoint
        restoring or any step, so that everything it creates is scheduled, saved and restored. No-op here.
        """

    def set_input(self, batch: Dict) -> None:
        """Keep the batch's image tensors on the device as attributes `real_A`, `real_B`."""
        layout = torch.channels_last if self.opt.channels_last else torch.contiguous_format
        copy = dict(device=self.device, non_blocking=self.device.type == "cuda", memory_format=layout)
        self.real_A = batch["A"].to(**copy)
        self.real_B = batch["B"].to(**copy) if "B" in batch else None

    def forward(self) -> None:
        """Compute the fakes of the current batch."""
        raise NotImplementedError

    def training_steps(self) -> List[TrainStep]:
        """The optimizer updates of one iteration, in order."""
        raise NotImplementedError

    def visuals(self) -> Dict[str, torch.Tensor]:
        """Named image batches (N, C, H, W) in [-1, 1] to show in TensorBoard."""
        raise NotImplementedError

    @classmethod
    def inference_generator(cls, opt: argparse.Namespace, train_direction: str) -> Tuple[str, int, int]:
        """Name and (input_nc, output_nc) of the generator that translates in `opt.direction`."""
        raise NotImplementedError

    def freeze(self, names: List[str]) -> None:
        """Turn gradients off for the named networks and on for all others."""
        for name, net in self.nets.items():
            net.requires_grad_(name not in names)

    def train(self) -> None:
        """Put every network in training mode."""
        for net in self.nets.values():
            net.train()

    def eval(self) -> None:
        """Put every network in eval mode."""
        for net in self.nets.values():
            net.eval()
