"""CUT and FastCUT (Park et al., ECCV 2020): unpaired translation with a patch-wise contrastive loss.

One generator G: A -> B and one discriminator D replace CycleGAN's two of each; instead of a cycle,
PatchNCE asks each patch of G(A) to be recognisable as the patch of A at the same place (among the
other patches of A), comparing features of G's own encoder layers through the projection head F.
"""
import argparse
from typing import Dict, List, Tuple

import torch

from models import MODELS
from models.base_model import BaseModel, TrainStep
from models.image_pool import ImagePool
from models.networks import init_weights
from models.networks.feature_heads import F_HEADS
from models.patchnce import patch_nce_loss
from util.errors import UserError
from util.image_io import to_model_range


def parse_bool(text: str) -> bool:
    """'true'/'false' (also 1/0, yes/no) -> bool, for flags whose default is True (``--nce_idt false``)."""
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{text}'")


def parse_layers(text: str, num_layers: int) -> List[int]:
    """'0,4,8' -> sorted distinct layer indices; raise `UserError` unless each lies in [0, num_layers)."""
    try:
        layers = sorted({int(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise UserError(f"--nce_layers {text}: expected comma-separated layer indices such as 0,4,8,12,16") from None
    if not layers or layers[0] < 0 or layers[-1] >= num_layers:
        raise UserError(f"--nce_layers {text}: indices must lie in 0..{num_layers - 1} for this --netG")
    return layers


@MODELS.register("cut")
class CUTModel(BaseModel):
    """G: A -> B, D judges B images, F projects sampled patches of G's encoder features for PatchNCE.

    Generator objective: lambda_GAN * GAN(D(G(A))) + lambda_NCE * PatchNCE(A, G(A)), where PatchNCE is
    averaged over `--nce_layers`; with `--nce_idt` the NCE term is the mean of PatchNCE(A, G(A)) and
    PatchNCE(B, G(B)) (logged as NCE and NCE_Y, each already halved). D is updated first, then G and F
    together (one optimizer "G" holds both). F's MLPs need the tapped layers' channel counts, so they
    are built by `initialize_from_batch`, which also creates that optimizer.
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """CUT flags; defaults as in the reference CUT (no dropout, unaligned data, no image pool, 200+200 epochs)."""
        parser.set_defaults(no_dropout=True)
        if is_train:
            parser.set_defaults(dataset_mode="unaligned", pool_size=0, n_epochs=200, n_epochs_decay=200)
            g = parser.add_argument_group("CUT")
            g.add_argument("--netF", type=str, default="mlp_sample", choices=F_HEADS.names(),
                           help="patch feature head: mlp_sample = 2-layer MLP per layer, sample = raw features")
            g.add_argument("--netF_nc", type=int, default=256, help="output channels of the netF MLPs")
            g.add_argument("--nce_layers", type=str, default="0,4,8,12,16",
                           help="comma-separated indices into the resnet generator's layers whose outputs PatchNCE compares")
            g.add_argument("--num_patches", type=int, default=256, help="patches sampled per layer and image (0 = all positions)")
            g.add_argument("--nce_T", type=float, default=0.07, help="temperature of the PatchNCE logits")
            g.add_argument("--nce_idt", type=parse_bool, nargs="?", const=True, default=True,
                           help="also apply PatchNCE to G(B) vs B (identity); --nce_idt false turns it off")
            g.add_argument("--lambda_GAN", type=float, default=1.0, help="weight of the adversarial loss")
            g.add_argument("--lambda_NCE", type=float, default=1.0, help="weight of the PatchNCE loss (0 disables it)")
            g.add_argument("--nce_includes_all_negatives_from_minibatch", action="store_true",
                           help="draw negatives from every image of the batch, not only the query's own image")
            g.add_argument("--flip_equivariance", type=parse_bool, nargs="?", const=True, default=False,
                           help="randomly flip G's input horizontally and ask its features to flip with it")
        return parser

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        super().__init__(opt, device)
        generator = self.add_generator("G", opt.input_nc, opt.output_nc)
        if self.is_train:
            if not hasattr(generator, "forward_features"):
                raise UserError(f"--model {opt.model} compares encoder features of a resnet generator; "
                                f"use --netG resnet_9blocks or resnet_6blocks instead of {opt.netG}")
            if opt.nce_idt and opt.input_nc != opt.output_nc:
                raise UserError("--nce_idt feeds B images to G, which needs --input_nc equal to --output_nc; pass --nce_idt false")
            if opt.num_patches < 0:
                raise UserError(f"--num_patches must be 0 (all positions) or more, got {opt.num_patches}")
            self.nce_layers = parse_layers(opt.nce_layers, len(generator.model))
            self.add_discriminator("D", opt.output_nc)
            self.nets["F"] = F_HEADS.build(opt.netF, opt.netF_nc)  # projections: initialize_from_batch
            self.build_gan_loss()
            self.add_optimizer("D", ["D"])
            self.pools = {"fake_B": ImagePool(opt.pool_size)}

    def initialize_from_batch(self, batch: Dict) -> None:
        """Build F's projections for the channel counts of the tapped layers, then the G + F optimizer."""
        if not self.is_train:
            return
        with torch.no_grad():
            feats = self.nets["G"](to_model_range(batch["A"][:1].to(self.device)), layer_ids=self.nce_layers)
        head = self.nets["F"].build([f.shape[1] for f in feats])
        self.nets["F"] = init_weights(head, self.opt.init_type, self.opt.init_gain).to(self.device)
        self.add_optimizer("G", ["G", "F"])

    def set_input(self, batch: Dict) -> None:
        """CUT trains on two domains: the batch must hold B images too."""
        super().set_input(batch)
        if self.is_train and self.real_B is None:
            raise UserError(f"--model {self.opt.model} trains on unpaired folders: use --dataset_mode unaligned (trainA/ and trainB/ in --dataroot)")

    def forward(self) -> None:
        """fake_B = G(A) and, with --nce_idt, idt_B = G(B), in one pass; --flip_equivariance may flip both inputs."""
        opt = self.opt
        idt = self.is_train and opt.nce_idt
        real = torch.cat((self.real_A, self.real_B)) if idt else self.real_A
        self.flipped = self.is_train and opt.flip_equivariance and bool(torch.rand(()) < 0.5)
        if self.flipped:
            real = real.flip(3)
        n = self.real_A.shape[0]
        # Unflipped, this pass computes the PatchNCE keys (G's features of A, B) too: keep them, detached.
        self.source_features = None
        if self.batch_calls and opt.lambda_NCE > 0 and not self.flipped:
            fake, feats = self.nets["G"](real, layer_ids=self.nce_layers, with_output=True)
            splits = [f.detach().split([n, real.shape[0] - n]) if idt else [f.detach()] for f in feats]
            self.source_features = [list(parts) for parts in zip(*splits)]
        else:
            fake = self.nets["G"](real)
        self.fake_B = fake[:n]
        self.idt_B = fake[n:] if idt else None

    def nce_loss(self, source: torch.Tensor, translated: torch.Tensor) -> torch.Tensor:
        """lambda_NCE * mean over --nce_layers of PatchNCE between G's features of `translated` (queries) and `source` (keys)."""
        G = self.nets["G"]
        feat_q = G(translated, layer_ids=self.nce_layers)
        with torch.no_grad():  # the keys are constants of the loss, so no graph is kept for them
            feat_k = G(source, layer_ids=self.nce_layers)
        return self.nce_from_features(feat_q, feat_k)

    def batched_nce_losses(self, sources: List[torch.Tensor], translated: List[torch.Tensor]) -> List[torch.Tensor]:
        """`nce_loss` of each (source, translated) pair, with one encoder call for all queries and one for all keys.

        The keys are the features `forward` kept of its own pass over the sources when it could (unflipped
        input), so no key pass runs at all then. F then samples each pair's patches on its own, in the
        order `nce_loss` would, so the losses equal the unbatched ones (tests/test_batched_calls.py).
        """
        G = self.nets["G"]
        feats_q = self.batched_call(G, translated, layer_ids=self.nce_layers)
        feats_k = self.source_features   # from the forward pass, when it ran on these sources unflipped
        if feats_k is None:
            with torch.no_grad():
                feats_k = self.batched_call(G, sources, layer_ids=self.nce_layers)
        return [self.nce_from_features(q, k) for q, k in zip(feats_q, feats_k)]

    def nce_from_features(self, feat_q: List[torch.Tensor], feat_k: List[torch.Tensor]) -> torch.Tensor:
        """lambda_NCE * mean PatchNCE of per-layer query features (N, C_l, H_l, W_l) against the key features."""
        opt, F = self.opt, self.nets["F"]
        if self.flipped:  # translated came from a flipped input: flip its features back into place
            feat_q = [f.flip(3) for f in feat_q]
        keys, patch_ids = F(feat_k, opt.num_patches)
        queries, _ = F(feat_q, opt.num_patches, patch_ids)
        per_layer = [patch_nce_loss(q, k, opt.nce_T, opt.nce_includes_all_negatives_from_minibatch).mean()
                     for q, k in zip(queries, keys)]
        return torch.stack(per_layer).mean() * opt.lambda_NCE

    def generator_losses(self) -> Dict[str, torch.Tensor]:
        """Adversarial loss and PatchNCE (plus identity PatchNCE with --nce_idt); their sum trains G and F."""
        opt = self.opt
        terms = {"G_GAN": self.generator_gan_loss("D", self.fake_B) * opt.lambda_GAN}
        if opt.lambda_NCE > 0:
            if self.batch_calls:
                pairs = 1 if self.idt_B is None else 2
                nce, *rest = self.batched_nce_losses([self.real_A, self.real_B][:pairs], [self.fake_B, self.idt_B][:pairs])
                nce_y = rest[0] if rest else None
            else:
                nce = self.nce_loss(self.real_A, self.fake_B)
                nce_y = None if self.idt_B is None else self.nce_loss(self.real_B, self.idt_B)
            if nce_y is None:
                terms["NCE"] = nce
            else:
                terms["NCE"] = 0.5 * nce
                terms["NCE_Y"] = 0.5 * nce_y
        return terms

    def discriminator_losses(self) -> Dict[str, torch.Tensor]:
        """D separates real B from (pooled, detached) G(A)."""
        return self.discriminator_terms("D", self.real_B, self.pools["fake_B"].query(self.fake_B))

    def training_steps(self) -> List[TrainStep]:
        """Discriminator first, then generator and feature head (the reference order)."""
        return [
            TrainStep("D", "D", self.discriminator_losses),
            TrainStep("G", "G", self.generator_losses, frozen=["D"]),
        ]

    def visuals(self) -> Dict[str, torch.Tensor]:
        """real_A, fake_B, real_B, and idt_B with --nce_idt."""
        images = {"real_A": self.real_A, "fake_B": self.fake_B, "real_B": self.real_B}
        if self.idt_B is not None:
            images["idt_B"] = self.idt_B
        return images

    @classmethod
    def inference_generator(cls, opt: argparse.Namespace, train_direction: str) -> Tuple[str, int, int]:
        """G translates the training direction only."""
        return cls.single_generator(opt, train_direction)


@MODELS.register("fastcut")
class FastCUTModel(CUTModel):
    """FastCUT: CUT without identity NCE, with lambda_NCE 10, flip-equivariance and 150+50 epochs by default."""

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """CUT's flags with the FastCUT defaults of the reference."""
        parser = CUTModel.modify_commandline_options(parser, is_train)
        if is_train:
            parser.set_defaults(nce_idt=False, lambda_NCE=10.0, flip_equivariance=True, n_epochs=150, n_epochs_decay=50)
        return parser
