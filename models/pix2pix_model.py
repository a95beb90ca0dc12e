"""pix2pix (Isola et al., 2017): paired translation with a conditional GAN and an L1 loss."""
import argparse
from typing import Dict, List, Tuple

import torch
from torch import nn

from models import MODELS
from models.base_model import BaseModel, TrainStep
from util.errors import UserError


@MODELS.register("pix2pix")
class Pix2PixModel(BaseModel):
    """G: A -> B trained on aligned pairs; D judges (A, B) pairs concatenated along channels.

    Generator objective: GAN(D(A, G(A))) + lambda_L1 * |G(A) - B|.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """pix2pix defaults: U-Net generator, batch norm, aligned data, vanilla GAN, no image pool."""
        parser.set_defaults(norm="batch", netG="unet_256")
        if is_train:
            parser.set_defaults(dataset_mode="aligned", pool_size=0, gan_mode="vanilla")
            parser.add_argument("--lambda_L1", type=float, default=100.0, help="weight of the L1 loss between G(A) and B")
        return parser

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        super().__init__(opt, device)
        self.add_generator("G", opt.input_nc, opt.output_nc)
        if self.is_train:
            self.add_discriminator("D", opt.input_nc + opt.output_nc)
            self.build_gan_loss()
            self.l1 = nn.L1Loss()
            self.add_optimizer("G", ["G"])
            self.add_optimizer("D", ["D"])

    def set_input(self, batch: Dict) -> None:
        """pix2pix needs both halves of a pair."""
        super().set_input(batch)
        if self.real_B is None:
            raise UserError("pix2pix trains on pairs: use --dataset_mode aligned (A|B images in <dataroot>/train)")

    def forward(self) -> None:
        """fake_B = G(A)."""
        self.fake_B = self.nets["G"](self.real_A)

    def generator_losses(self) -> Dict[str, torch.Tensor]:
        """Conditional adversarial loss and L1 to the target."""
        return {
            "G_GAN": self.generator_gan_loss("D", torch.cat((self.real_A, self.fake_B), 1)),
            "G_L1": self.l1(self.fake_B, self.real_B) * self.opt.lambda_L1,
        }

    def discriminator_losses(self) -> Dict[str, torch.Tensor]:
        """D separates (A, B) pairs from (A, G(A)) pairs."""
        real = torch.cat((self.real_A, self.real_B), 1)
        fake = torch.cat((self.real_A, self.fake_B), 1)
        return {"D": self.discriminator_loss("D", real, fake)}

    def training_steps(self) -> List[TrainStep]:
        """Discriminator first, then the generator (the order of the reference implementation)."""
        return [
            TrainStep("D", "D", self.discriminator_losses),
            TrainStep("G", "G", self.generator_losses, frozen=["D"]),
        ]

    def visuals(self) -> Dict[str, torch.Tensor]:
        """Input, output and target."""
        return {"real_A": self.real_A, "fake_B": self.fake_B, "real_B": self.real_B}

    @classmethod
    def inference_generator(cls, opt: argparse.Namespace, train_direction: str) -> Tuple[str, int, int]:
        """pix2pix has one generator: it translates in the training direction only."""
        return cls.single_generator(opt, train_direction)
