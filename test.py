"""Translate a folder of images (or a dataset's test split) with a trained model.

    python test.py --dataroot ./some/folder --name monet_cyclegan
    python test.py --dataroot ./datasets/monet2photo --name monet_cyclegan --direction BtoA

Architecture options come from checkpoints/<name>/opt.json; outputs keep the input file names and go to
results/<name>/<phase>_<epoch>/images/, with an index.html that shows inputs and outputs side by side.
"""
import itertools
import json
import os
import sys
from typing import Dict, List

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets import create_dataset
from models import MODELS, networks
from options.test_options import TestOptions
from util.checkpoint import checkpoint_path, load_checkpoint, load_network
from util.device import select_device
from util.errors import UserError, exit_on_user_error
from util.evaluation import ResultsEvaluator
from util.html import write_results_page
from util.images import save_tensor_image
from util.reference_weights import load_reference_weights, reference_weights_path
from util.source_format import save_output, use_full_precision
from util.tiling import translate_any_size
from util.video import is_video_run, translate_clip


def trained_direction(opt) -> str:
    """The --direction the model was trained with (from its opt.json; AtoB if unknown)."""
    path = os.path.join(opt.checkpoints_dir, opt.name, "opt.json")
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f).get("direction", "AtoB")
    return "AtoB"


def resolve_source(opt) -> str:
    """Point `opt` at the images to translate and return the folder that relative names start from.

    A dataset root with <phase>A/<phase>B folders uses the input side of the direction, one with a
    <phase>/ folder of A|B pairs is read as aligned pairs (targets shown too), anything else is a
    plain folder (or a single image file).
    """
    if not os.path.exists(opt.dataroot):
        raise UserError(f"--dataroot {opt.dataroot} does not exist")
    if opt.dataset_mode != "single" or not os.path.isdir(opt.dataroot):
        return opt.dataroot if os.path.isdir(opt.dataroot) else os.path.dirname(opt.dataroot)
    side = os.path.join(opt.dataroot, opt.phase + ("A" if opt.direction == "AtoB" else "B"))
    pairs = os.path.join(opt.dataroot, opt.phase)
    if os.path.isdir(side):
        opt.dataroot = side
    elif os.path.isdir(pairs) and not os.path.isdir(os.path.join(opt.dataroot, opt.phase + "A")):
        opt.dataset_mode = "aligned"
        return pairs
    return opt.dataroot


def load_generator(opt, device: torch.device) -> torch.nn.Module:
    """Build the generator that translates in `opt.direction` and load its trained weights."""
    path = checkpoint_path(opt, opt.epoch)
    name, input_nc, output_nc = MODELS.get(opt.model).inference_generator(opt, trained_direction(opt))
    reference = reference_weights_path(opt.checkpoints_dir, opt.name, opt.epoch, name)
    if not os.path.isfile(path) and not os.path.isfile(reference):
        raise UserError(f"no checkpoint {path} (nor a reference-implementation {os.path.basename(reference)}): "
                        f"train with --name {opt.name} first, or pass --checkpoints_dir/--epoch")
    generator = networks.build_generator(opt, input_nc, output_nc).to(device)
    if os.path.isfile(path):
        state = load_checkpoint(path)
        if name not in state.get("nets", {}):
            raise UserError(f"checkpoint {path} has no network {name}; was it trained with --model {opt.model}?")
        weights, source = state["nets"][name], path
    else:   # e.g. latest_net_G_A.pth from the reference implementation
        weights, source = load_reference_weights(reference), reference
    load_network(generator, weights, name, source)
    generator.train(not opt.eval)  # the reference keeps train mode at test time unless --eval
    return generator


def same_size_groups(items: List[Dict]):
    """Split a list of dataset items into runs of equal image size, so each run is one tensor batch."""
    return itertools.groupby(items, key=lambda item: tuple(item["A"].shape))


@exit_on_user_error
def main(argv=None) -> None:
    """Translate the images named by the command line `argv` (default: sys.argv[1:])."""
    options = TestOptions()
    opt = options.parse(argv)
    device = select_device(opt.gpu_ids)
    print(options.format_options(opt))
    generator = load_generator(opt, device)
    evaluator = ResultsEvaluator(opt, device) if opt.eval_metrics else None
    out_dir = os.path.join(opt.results_dir, opt.name, f"{opt.phase}_{opt.epoch}")
    if is_video_run(opt):
        translate_clip(generator, opt, device, out_dir)
        return

    source_root = resolve_source(opt)
    dataset = create_dataset(opt)
    count = len(dataset) if opt.num_test is None else min(opt.num_test, len(dataset))
    subset = torch.utils.data.Subset(dataset, range(count))
    loader = DataLoader(subset, batch_size=opt.batch_size, shuffle=False, num_workers=opt.num_threads,
                        collate_fn=list, pin_memory=device.type == "cuda")

    rows = []
    with tqdm(total=count, desc="translating") as progress:
        for items in loader:
            for _, group in same_size_groups(items):
                group = list(group)
                use_full_precision(group, opt)
                images = torch.stack([item["A"] for item in group]).to(device)
                with torch.no_grad():
                    outputs = translate_any_size(generator, images, opt)
                for item, output in zip(group, outputs):
                    rows.append(save_result(item, output, source_root, out_dir, opt.output_mode))
                progress.update(len(group))

    metrics = evaluator.run(out_dir, rows) if evaluator else None
    columns = ["input", "output"] + (["target"] if any("target" in r for r in rows) else [])
    page = os.path.join(out_dir, "index.html")
    write_results_page(page, f"{opt.name}: {opt.phase}, epoch {opt.epoch}, {opt.direction}", rows, columns,
                       summary=metrics, page_size=opt.html_page_size)
    print(f"translated {len(rows)} images into {os.path.join(out_dir, 'images')}\nopen {page}")


def save_result(item: Dict, output: torch.Tensor, source_root: str, out_dir: str, output_mode: str) -> Dict[str, str]:
    """Write the output (in the source's mode and depth, see `save_output`) and the input / target as fed
    for one image; return its row for the HTML page."""
    relative = os.path.relpath(item["A_paths"], source_root)
    if relative.startswith(".."):
        relative = os.path.basename(item["A_paths"])
    row = {"name": relative, "output": os.path.join("images", relative)}
    save_output(output, os.path.join(out_dir, row["output"]), item["A_paths"], output_mode)
    fed = {"input": ("inputs", item["A"])}
    if "B" in item:
        fed["target"] = ("targets", item["B"])
    for column, (folder, image) in fed.items():
        save_tensor_image(image, os.path.join(out_dir, folder, relative))
        row[column] = os.path.join(folder, relative)
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
