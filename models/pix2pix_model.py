"""pix2pix (Isola et al., 2017): paired translation with a conditional GAN and an L1 loss."""
import argparse
from typing import Dict, List, Tuple

import torch
from torch import nn

from models import MODELS
from models.base_model import BaseModel, TrainStep
from models.networks.multiscale import FeatureMatchingLoss
from models.perceptual import VGGLoss
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
            parser.add_argument("--lambda_feat", type=float, default=0.0, help="weight of pix2pixHD's feature-matching loss on D's layers (0 = off)")
            parser.add_argument("--lambda_vgg", type=float, default=0.0, help="weight of the VGG19 perceptual loss between G(A) and B (0 = off; needs --vgg_weights or the torch hub cache)")
            parser.add_argument("--vgg_weights", type=str, default=None, help="torchvision's vgg19-dcbb9e9d.pth for --lambda_vgg (default: the torch hub cache; 'random' = untrained, for tests)")
        return parser

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        super().__init__(opt, device)
        self.add_generator("G", opt.input_nc, opt.output_nc)
        if self.is_train:
            self.add_discriminator("D", opt.input_nc + opt.output_nc)
            self.build_gan_loss()
            self.l1 = nn.L1Loss()
            self.feature_matching = FeatureMatchingLoss(self.nets["D"]) if opt.lambda_feat > 0 else None
            self.vgg = VGGLoss(opt.vgg_weights).to(device) if opt.lambda_vgg > 0 else None
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
        """Conditional adversarial loss and L1 to the target (plus feature matching and VGG when enabled)."""
        terms = {
            "G_GAN": self.generator_gan_loss("D", torch.cat((self.real_A, self.fake_B), 1)),
            "G_L1": self.l1(self.fake_B, self.real_B) * self.opt.lambda_L1,
        }
        if self.feature_matching is not None:
            real, fake = self.augment(torch.cat((self.real_A, self.real_B), 1), torch.cat((self.real_A, self.fake_B), 1))
            terms["G_feat"] = self.feature_matching(self.nets["D"], real, fake) * self.opt.lambda_feat
        if self.vgg is not None:
            terms["G_VGG"] = self.vgg(self.fake_B, self.real_B) * self.opt.lambda_vgg
        return terms

    def discriminator_losses(self) -> Dict[str, torch.Tensor]:
        """D separates (A, B) pairs from (A, G(A)) pairs."""
        real = torch.cat((self.real_A, self.real_B), 1)
        fake = torch.cat((self.real_A, self.fake_B), 1)
        return self.discriminator_terms("D", real, fake)

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
