"""CycleGAN (Zhu et al., 2017): unpaired translation with two generators and a cycle-consistency loss."""
import argparse
from typing import Dict, List, Tuple

import torch
from torch import nn

from models import MODELS
from models.base_model import BaseModel, TrainStep
from models.image_pool import ImagePool
from util.errors import UserError


@MODELS.register("cycle_gan")
class CycleGANModel(BaseModel):
    """G_A: A -> B, G_B: B -> A, with PatchGAN discriminators D_A (judges B images) and D_B (judges A images).

    Generator objective: GAN(D_A(G_A(A))) + GAN(D_B(G_B(B))) + lambda_A * |G_B(G_A(A)) - A|
    + lambda_B * |G_A(G_B(B)) - B| + identity terms (lambda_identity * lambda_{A,B} * |G_A(B) - B| ...).
    The discriminators see fakes drawn from image pools of past generator outputs.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """CycleGAN trains on unpaired folders, without dropout by default."""
        parser.set_defaults(no_dropout=True)
        if is_train:
            parser.set_defaults(dataset_mode="unaligned")
            parser.add_argument("--lambda_A", type=float, default=10.0, help="weight of the cycle loss A -> B -> A")
            parser.add_argument("--lambda_B", type=float, default=10.0, help="weight of the cycle loss B -> A -> B")
            parser.add_argument("--lambda_identity", type=float, default=0.5,
                                help="identity loss weight relative to lambda_A/lambda_B (G_A(B) should stay B); 0 disables it")
        return parser

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        super().__init__(opt, device)
        self.add_generator("G_A", opt.input_nc, opt.output_nc)
        self.add_generator("G_B", opt.output_nc, opt.input_nc)
        if self.is_train:
            if opt.lambda_identity > 0 and opt.input_nc != opt.output_nc:
                raise UserError("--lambda_identity needs --input_nc equal to --output_nc; pass --lambda_identity 0")
            self.add_discriminator("D_A", opt.output_nc)
            self.add_discriminator("D_B", opt.input_nc)
            self.build_gan_loss()
            self.l1 = nn.L1Loss()
            self.add_optimizer("G", ["G_A", "G_B"])
            self.add_optimizer("D", ["D_A", "D_B"])
            self.pools = {"fake_A": ImagePool(opt.pool_size), "fake_B": ImagePool(opt.pool_size)}

    def forward(self) -> None:
        """fake_B = G_A(A), rec_A = G_B(fake_B), fake_A = G_B(B), rec_B = G_A(fake_A).

        With `batch_calls` these and the identity outputs take three generator calls instead of six:
        G_A on [A, B] (fake_B, idt_A), G_B on [B, fake_B, A] (fake_A, rec_A, idt_B), G_A on fake_A (rec_B).
        """
        G_A, G_B = self.nets["G_A"], self.nets["G_B"]
        self.idt_A = self.idt_B = None
        if self.batch_calls:
            idt = self.opt.lambda_identity > 0
            self.fake_B, *idt_A = self.batched_call(G_A, [self.real_A] + [self.real_B] * idt)
            self.fake_A, self.rec_A, *idt_B = self.batched_call(G_B, [self.real_B, self.fake_B] + [self.real_A] * idt)
            self.rec_B = G_A(self.fake_A)
            if idt:
                self.idt_A, self.idt_B = idt_A[0], idt_B[0]
            return
        self.fake_B = G_A(self.real_A)
        self.rec_A = G_B(self.fake_B)
        self.fake_A = G_B(self.real_B)
        self.rec_B = G_A(self.fake_A)

    def generator_losses(self) -> Dict[str, torch.Tensor]:
        """Adversarial, cycle and (optionally) identity losses of both generators."""
        opt = self.opt
        terms = {
            "G_A": self.generator_gan_loss("D_A", self.fake_B),
            "G_B": self.generator_gan_loss("D_B", self.fake_A),
            "cycle_A": self.l1(self.rec_A, self.real_A) * opt.lambda_A,
            "cycle_B": self.l1(self.rec_B, self.real_B) * opt.lambda_B,
        }
        if opt.lambda_identity > 0:
            if self.idt_A is None:  # not computed by a batched forward
                self.idt_A = self.nets["G_A"](self.real_B)
                self.idt_B = self.nets["G_B"](self.real_A)
            terms["idt_A"] = self.l1(self.idt_A, self.real_B) * opt.lambda_B * opt.lambda_identity
            terms["idt_B"] = self.l1(self.idt_B, self.real_A) * opt.lambda_A * opt.lambda_identity
        return terms

    def discriminator_losses(self) -> Dict[str, torch.Tensor]:
        """D_A separates real B from pooled fake B; D_B separates real A from pooled fake A."""
        return {
            **self.discriminator_terms("D_A", self.real_B, self.pools["fake_B"].query(self.fake_B)),
            **self.discriminator_terms("D_B", self.real_A, self.pools["fake_A"].query(self.fake_A)),
        }

    def training_steps(self) -> List[TrainStep]:
        """Generators first (discriminators frozen), then discriminators."""
        return [
            TrainStep("G", "G", self.generator_losses, frozen=["D_A", "D_B"]),
            TrainStep("D", "D", self.discriminator_losses),
        ]

    def visuals(self) -> Dict[str, torch.Tensor]:
        """Real, fake and reconstructed images of both directions (and identity outputs if used)."""
        images = {"real_A": self.real_A, "fake_B": self.fake_B, "rec_A": self.rec_A,
                  "real_B": self.real_B, "fake_A": self.fake_A, "rec_B": self.rec_B}
        if getattr(self, "idt_A", None) is not None:
            images.update(idt_B=self.idt_B, idt_A=self.idt_A)
        return images

    @classmethod
    def inference_generator(cls, opt: argparse.Namespace, train_direction: str) -> Tuple[str, int, int]:
        """G_A translates the training direction; asking for the opposite direction uses G_B."""
        if opt.direction == train_direction:
            return "G_A", opt.input_nc, opt.output_nc
        return "G_B", opt.output_nc, opt.input_nc
