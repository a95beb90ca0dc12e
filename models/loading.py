"""Loading a trained generator for inference (test.py, export.py): which network, which weights."""
import argparse
import os

import torch

from models import MODELS, networks
from util.best_k import resolve_epoch
from util.checkpoint import Checkpointer, load_network
from util.errors import UserError


def trained_direction(checkpoints_dir: str, name: str) -> str:
    """The --direction run `name` was trained with (from its opt.json; AtoB if unknown)."""
    options = Checkpointer(os.path.join(checkpoints_dir, name)).options() or {}
    return options.get("direction", "AtoB")


def load_generator(opt: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    """Build the generator of run `opt.name` that translates in `opt.direction` and load its trained weights.

    Reads <checkpoints_dir>/<name>/<epoch>.pt (--epoch best: the first entry of best_k.json; its EMA
    weights unless --use_ema false, when it has them), or the reference implementation's <epoch>_net_<G>.pth when
    there is no such checkpoint. The generator is in train mode unless `opt.eval` (as the reference code).
    """
    ckpt = Checkpointer(os.path.join(opt.checkpoints_dir, opt.name))
    label = resolve_epoch(ckpt.run_dir, opt.epoch)   # --epoch best: the best entry of best_k.json
    path = ckpt.path(label)
    name, input_nc, output_nc = MODELS.get(opt.model).inference_generator(opt, trained_direction(opt.checkpoints_dir, opt.name))
    reference = ckpt.reference_path(label, name)
    if not os.path.isfile(path) and not os.path.isfile(reference):
        raise UserError(f"no checkpoint {path} (nor a reference-implementation {os.path.basename(reference)}): "
                        f"train with --name {opt.name} first, or pass --checkpoints_dir/--epoch")
    generator = networks.build_generator(opt, input_nc, output_nc).to(device)
    if os.path.isfile(path):
        state = ckpt.load(label)
        if name not in state.get("nets", {}):
            raise UserError(f"checkpoint {path} has no network {name}; was it trained with --model {opt.model}?")
        weights, source = state["nets"][name], path
        if opt.use_ema == "true" and name in state.get("ema", {}).get("nets", {}):   # train.py --ema_decay
            weights = state["ema"]["nets"][name]
    else:   # e.g. latest_net_G_A.pth from the reference implementation
        weights, source = Checkpointer.load_reference(reference), reference
    load_network(generator, weights, name, source)
    generator.train(not opt.eval)
    return generator
