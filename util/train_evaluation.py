"""train.py --eval_freq: score the generator on held-out images every few epochs, for TensorBoard."""
import argparse
import copy
import os
from typing import Dict, Optional

import torch

from datasets import create_dataset
from util.errors import UserError
from util.evaluation import Evaluator
from util.images import save_tensor_image
from util.inference import translate
from util.metrics import match_by_stem


class TrainingEvaluator:
    """Translates the first --eval_num images of the --eval_phase split and scores them.

    Unaligned data: inputs from <dataroot>/<eval_phase>A (B for BtoA), FID/KID against the other
    side (or --fid_real_dir), paired metrics only with --target_dir. Aligned data: the pairs of
    <dataroot>/<eval_phase> give both. Outputs are kept under <checkpoints_dir>/<name>/eval/epoch_<n>/.
    """

    def __init__(self, opt: argparse.Namespace, device: torch.device):
        self.opt, self.device = opt, device
        held_out = copy.copy(opt)
        held_out.isTrain, held_out.phase, held_out.preprocess, held_out.no_flip = False, opt.eval_phase, "none", True
        held_out.max_dataset_size = opt.eval_num
        inputs, targets = opt.eval_phase + ("A" if opt.direction == "AtoB" else "B"), opt.eval_phase + ("B" if opt.direction == "AtoB" else "A")
        self.real_dir = opt.fid_real_dir
        if opt.dataset_mode != "aligned":
            held_out.dataset_mode, held_out.dataroot = "single", os.path.join(opt.dataroot, inputs)
            if self.real_dir is None and os.path.isdir(os.path.join(opt.dataroot, targets)):
                self.real_dir = os.path.join(opt.dataroot, targets)
        if not os.path.exists(os.path.join(opt.dataroot, opt.eval_phase if opt.dataset_mode == "aligned" else inputs)):
            raise UserError(f"--eval_freq {opt.eval_freq}: no held-out split '{opt.eval_phase}' in {opt.dataroot}; "
                            f"add one, choose it with --eval_phase, or pass --eval_freq 0")
        self.dataset = create_dataset(held_out)
        self.evaluator = Evaluator(opt, device)
        if self.real_dir:
            self.evaluator.extractor()  # fail before training if the feature network cannot be built

    def due(self, epoch: int) -> bool:
        """True when --eval_freq asks for an evaluation after `epoch`."""
        return self.opt.eval_freq > 0 and epoch % self.opt.eval_freq == 0

    def evaluate(self, generator: torch.nn.Module, epoch: int) -> Dict[str, float]:
        """Translate the held-out images with a copy of `generator` and return their metrics.

        A copy in the generator's own mode runs under a forked RNG, so evaluating changes neither
        the training networks (BatchNorm statistics) nor the random stream of the training run.
        """
        out_dir = os.path.join(self.opt.checkpoints_dir, self.opt.name, "eval", f"epoch_{epoch}")
        preds, targets = [], []
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            net = copy.deepcopy(generator)
            for index in range(len(self.dataset)):
                item = self.dataset[index]
                name = f"{index:05d}_{os.path.basename(item['A_paths'])}"
                output = translate(net, item["A"][None].to(self.device))[0]
                preds.append(os.path.join(out_dir, "images", name))
                save_tensor_image(output, preds[-1])
                if "B" in item:
                    targets.append(os.path.join(out_dir, "targets", name))
                    save_tensor_image(item["B"], targets[-1])
        if self.opt.target_dir and not targets:
            targets = match_by_stem([os.path.relpath(p, self.dataset.root) for p in self.dataset.A_paths],
                                    None, self.opt.target_dir)
        real_dir = self.real_dir or (os.path.join(out_dir, "targets") if targets else None)
        return self.evaluator.evaluate(preds, targets or None, real_dir)["metrics"]


def maybe_training_evaluator(opt: argparse.Namespace, device: torch.device) -> Optional[TrainingEvaluator]:
    """A TrainingEvaluator when --eval_freq is on, else None."""
    return TrainingEvaluator(opt, device) if opt.eval_freq > 0 else None
