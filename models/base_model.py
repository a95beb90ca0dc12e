"""The interface every model implements, and the logic all models share."""
import argparse
import itertools
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from models import losses, networks
from models.augment import DiscriminatorAugment
from models.image_pool import ImagePool
from models.regularizers import LazyR1
from util.errors import UserError
from util.image_io import to_model_range


ADAM_IMPLS = ("auto", "fused", "foreach", "for_loop")


def adam_kwargs(impl: str, device: torch.device) -> Dict:
    """Keyword arguments of torch.optim.Adam selecting the implementation `impl` (--adam_impl) on `device`.

    'auto' is the fused kernel on CUDA and torch's default elsewhere.
    """
    if impl == "auto":
        return {"fused": True} if device.type == "cuda" else {}
    return {"fused": {"fused": True}, "foreach": {"foreach": True}, "for_loop": {"foreach": False}}[impl]


def _mean_output(pred) -> torch.Tensor:
    """Mean of a discriminator's output: a tensor, or a list of per-scale tensors (multiscale D), detached."""
    preds = pred if isinstance(pred, (list, tuple)) else [pred]
    return torch.stack([p.detach().float().mean() for p in preds]).mean()


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
    Discriminator terms go through `discriminator_terms` (augmentation, R1, ADA) and generator
    adversarial terms through `generator_gan_loss`. `states` holds other resumable objects
    (state_dict/load_state_dict: ADA's p, R1's step counters), saved in every checkpoint.
    Everything is placed on `device` here; train.py never touches the networks' internals.
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        self.opt = opt
        self.device = device
        self.is_train = opt.isTrain
        self.nets: Dict[str, nn.Module] = {}
        self.optimizers: Dict[str, torch.optim.Optimizer] = {}
        self.pools: Dict[str, ImagePool] = {}
        self.states: Dict[str, object] = {}
        if self.is_train:
            self.augment = DiscriminatorAugment(opt.diffaug, opt.ada_target, opt.ada_speed)
            self.r1 = LazyR1(opt.lambda_r1, opt.r1_every)
            self.states.update(augment=self.augment, r1=self.r1)
        # Calls of one network on several image sets may run as one call on their concatenation only
        # where no layer mixes samples: batch norm's batch statistics would (dropout masks stay per sample).
        self.batch_calls = self.is_train and opt.batched_calls == "auto" and opt.norm != "batch"
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

    @staticmethod
    def batched_call(net: nn.Module, inputs: List[torch.Tensor], **kwargs) -> List:
        """`net(x, **kwargs)` for each (N_i, C, H, W) batch x of `inputs`, as one call on their concatenation.

        Returns one output per input, split back along the batch dimension (views of the one output);
        a list output (e.g. per-layer features) comes back as one list per input. Batches of different
        image sizes (--preprocess none on unaligned data) cannot be concatenated and run one by one.
        """
        if len(inputs) == 1 or any(x.shape[1:] != inputs[0].shape[1:] for x in inputs):
            return [net(x, **kwargs) for x in inputs]
        sizes = [x.shape[0] for x in inputs]
        out = net(torch.cat(inputs), **kwargs)
        if isinstance(out, (list, tuple)):
            return [list(parts) for parts in zip(*(o.split(sizes) for o in out))]
        return list(out.split(sizes))

    def discriminator_loss(self, net_name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Loss of discriminator `net_name` on a real batch and a (detached) fake batch.

        Returns 0.5 * (loss on real + loss on fake), plus the gradient penalty for wgangp. With
        `batch_calls` both batches go through the discriminator in one call. The mean outputs on both go
        to `self.d_outputs[net_name]` (logged as D/real_mean, D/fake_mean).
        """
        net = self.nets[net_name]
        fake = fake.detach()
        if self.batch_calls:
            pred_real, pred_fake = self.batched_call(net, [real, fake])
        else:
            pred_real, pred_fake = net(real), net(fake)
        self.d_outputs[net_name] = {"real_mean": _mean_output(pred_real), "fake_mean": _mean_output(pred_fake)}
        loss = 0.5 * (self.gan_loss(pred_real, True) + self.gan_loss(pred_fake, False))
        if self.opt.gan_mode == "wgangp":
            loss = loss + losses.gradient_penalty(net, real, fake)
        return loss

    def discriminator_terms(self, net_name: str, real: torch.Tensor, fake: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The loss terms of discriminator `net_name` on a real batch and a fake batch (detached here).

        Both batches get the same --diffaug augmentation; returns {net_name: `discriminator_loss`} plus
        {net_name + '_R1': lazy R1 term} with --lambda_r1. With --ada_target the real batch also feeds
        ADA's heuristic. With none of these options it is exactly `discriminator_loss`.
        """
        real, fake = self.augment(real, fake.detach())
        terms = {net_name: self.discriminator_loss(net_name, real, fake)}
        self.augment.observe(self.nets[net_name], real, self.gan_loss.decision_boundary)
        if self.r1.weight > 0:
            terms[f"{net_name}_R1"] = self.r1(net_name, self.nets[net_name], real)
        return terms

    def log_scalars(self) -> Dict[str, float]:
        """Scalars beside the losses for TensorBoard (with --ada_target: aug/p, the augmentation probability)."""
        return {"aug/p": self.augment.p} if self.is_train and self.augment.adaptive else {}

    def generator_gan_loss(self, net_name: str, fake: torch.Tensor) -> torch.Tensor:
        """Adversarial loss for the generator: discriminator `net_name` should call `fake` (augmented as D's inputs) real."""
        (fake,) = self.augment(fake)
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
        """Keep the batch's images (N, C, H, W) on the device as float attributes `real_A`, `real_B` in [-1, 1].

        uint8 training batches are copied as uint8 and normalised after the copy (`to_model_range`).
        """
        layout = torch.channels_last if self.opt.channels_last else torch.contiguous_format
        copy = dict(device=self.device, non_blocking=self.device.type == "cuda", memory_format=layout)
        self.real_A = to_model_range(batch["A"].to(**copy))
        self.real_B = to_model_range(batch["B"].to(**copy)) if "B" in batch else None

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
