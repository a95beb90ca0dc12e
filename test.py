"""Translate a folder of images (or a dataset's test split) with a trained model.

    python test.py --dataroot ./some/folder --name monet_cyclegan
    python test.py --dataroot ./datasets/monet2photo --name monet_cyclegan --direction BtoA

Architecture options come from checkpoints/<name>/opt.json; outputs keep the input file names and go to
results/<name>/<phase>_<epoch>/images/, with an index.html that shows inputs and outputs side by side.
"""
import itertools
import os
import sys
from typing import Dict, List

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets import create_dataset
from datasets.bad_images import SKIPPED_KEY
from datasets.source import resolve_source, results_folder
from models.loading import load_generator
from options.base_options import evaluator_options
from options.test_options import TestOptions, size_options
from util.device import select_device
from util.errors import INTERRUPTED_EXIT, catch_interrupt, exit_on_user_error
from util.eval.evaluator import Evaluator, ResultsEvaluator
from util.html import write_results_page
from util.image_io import save_tensor_image
from util.train.guards import ignore_interrupts
from util.translate.output_format import save_output
from util.translate.tiling import translate_any_size
from util.translate.video import is_video_run, translate_clip


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
    video = is_video_run(opt.dataroot, opt.video_stats)
    source = None if video else resolve_source(opt.dataroot, opt.dataset_mode, opt.phase, opt.direction)
    out_dir = results_folder(opt.results_dir, opt.name, opt.phase, opt.epoch, opt.direction,
                             opt.dataroot if video else source.inputs)
    if video:
        translate_clip(generator, opt.dataroot, out_dir, device, gray=opt.input_nc == 1,
                       video_stats=opt.video_stats, fps=opt.fps, size_options=size_options(opt))
        return

    print(source.describe())
    evaluator = None
    if opt.eval_metrics:
        evaluator = ResultsEvaluator(Evaluator(device, **evaluator_options(opt)), opt.target_dir,
                                     opt.fid_real_dir or source.real_dir,
                                     {"name": opt.name, "epoch": opt.epoch, "direction": opt.direction})
    opt.dataroot, opt.dataset_mode = source.dataroot, source.dataset_mode
    dataset = create_dataset(opt)
    count = len(dataset) if opt.num_test is None else min(opt.num_test, len(dataset))
    subset = torch.utils.data.Subset(dataset, range(count))
    loader = DataLoader(subset, batch_size=opt.batch_size, shuffle=False, num_workers=opt.num_threads,
                        collate_fn=list, pin_memory=device.type == "cuda", worker_init_fn=ignore_interrupts)

    rows, skipped = [], 0
    with catch_interrupt() as stopped, tqdm(total=count, desc="translating") as progress:
        for items in loader:
            readable = [item for item in items if not item.get(SKIPPED_KEY)]   # a bad file's stand-in is the next image
            skipped += len(items) - len(readable)
            progress.update(len(items) - len(readable))
            for _, group in same_size_groups(readable):
                group = list(group)
                images = torch.stack([item["A"] for item in group]).to(device)
                with torch.no_grad():
                    outputs = translate_any_size(generator, images, **size_options(opt))
                for item, output in zip(group, outputs):
                    rows.append(save_result(item, output, source.root, out_dir, opt.output_mode))
                progress.update(len(group))

    metrics = evaluator.run(out_dir, rows) if evaluator else None
    columns = ["input", "output"] + (["target"] if any("target" in r for r in rows) else [])
    page = os.path.join(out_dir, "index.html")
    write_results_page(page, f"{opt.name}: {opt.phase}, epoch {opt.epoch}, {opt.direction}", rows, columns,
                       summary=metrics, page_size=opt.html_page_size)
    print(f"translated {len(rows)} images{f', skipped {skipped} unreadable' if skipped else ''} into "
          f"{os.path.join(out_dir, 'images')}\nopen {page}")
    if stopped.happened:
        print(f"interrupted (Ctrl-C) after {len(rows) + skipped} of {count} images; the results page shows those done", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)


def save_result(item: Dict, output: torch.Tensor, source_root: str, out_dir: str, output_mode: str) -> Dict[str, str]:
    """Write the output (in the source's mode and depth, see `save_output`) and the input / target as fed
    for one image; return its row for the HTML page."""
    relative = os.path.relpath(item["A_paths"], source_root)
    if relative.startswith(".."):
        relative = os.path.basename(item["A_paths"])
    row = {"name": relative, "output": os.path.join("images", relative)}
    save_output(output, os.path.join(out_dir, row["output"]), item.get("A_bits", 8), item.get("A_gray", False), output_mode)
    fed = {"input": ("inputs", item["A"])}
    if "B" in item:
        fed["target"] = ("targets", item["B"])
    for column, (folder, image) in fed.items():
        save_tensor_image(image, os.path.join(out_dir, folder, relative))
        row[column] = os.path.join(folder, relative)
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
