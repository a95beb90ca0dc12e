"""Where the images to translate or evaluate come from: a dataset's split, a plain folder or one file."""
import copy
import os
from dataclasses import dataclass
from typing import Optional, Tuple

from util.errors import UserError


def direction_sides(direction: str) -> Tuple[str, str]:
    """('A', 'B') for AtoB, ('B', 'A') for BtoA: the folder side of the inputs and of the targets."""
    return ("A", "B") if direction == "AtoB" else ("B", "A")


@dataclass
class TranslationSource:
    """What test.py (or export.py's check) reads.

    `dataroot` and `dataset_mode` configure the dataset; `root` is the folder relative output names start
    from; `real_dir` is the target-domain folder of a dataset root (<dataroot>/<phase><target side>),
    used for FID/KID, or None.
    """

    dataroot: str
    dataset_mode: str
    root: str
    real_dir: Optional[str] = None


def resolve_source(dataroot: str, dataset_mode: str, phase: str, direction: str) -> TranslationSource:
    """Decide how to read `dataroot` for translation.

    With `dataset_mode` 'single', a dataset root with <phase>A/<phase>B folders uses the input side of
    `direction`, one with a <phase>/ folder of A|B pairs is read as aligned pairs (targets shown too),
    anything else is a plain folder (or a single image file). Other modes read `dataroot` as they are.
    Raises `UserError` when `dataroot` does not exist.
    """
    if not os.path.exists(dataroot):
        raise UserError(f"--dataroot {dataroot} does not exist")
    if dataset_mode != "single" or not os.path.isdir(dataroot):
        root = dataroot if os.path.isdir(dataroot) else os.path.dirname(dataroot)
        return TranslationSource(dataroot, dataset_mode, root)
    source_side, target_side = direction_sides(direction)
    side = os.path.join(dataroot, phase + source_side)
    target = os.path.join(dataroot, phase + target_side)
    pairs = os.path.join(dataroot, phase)
    real_dir = target if os.path.isdir(target) else None
    if os.path.isdir(side):
        return TranslationSource(side, "single", side, real_dir)
    if os.path.isdir(pairs) and not os.path.isdir(os.path.join(dataroot, phase + "A")):
        return TranslationSource(dataroot, "aligned", pairs)
    return TranslationSource(dataroot, "single", dataroot, real_dir)


def held_out_options(opt, phase: str, count: int):
    """A copy of the training options `opt` that reads the first `count` images of split `phase` as
    test.py would (no crop, no flip): aligned data keeps its pairs, unaligned data reads the input side.

    Returns (options for `datasets.create_dataset`, the target-side folder for FID/KID or None).
    """
    held_out = copy.copy(opt)
    held_out.isTrain, held_out.phase, held_out.preprocess, held_out.no_flip = False, phase, "none", True
    held_out.max_dataset_size = count
    if opt.dataset_mode == "aligned":
        return held_out, None
    source_side, target_side = direction_sides(opt.direction)
    held_out.dataset_mode, held_out.dataroot = "single", os.path.join(opt.dataroot, phase + source_side)
    target = os.path.join(opt.dataroot, phase + target_side)
    return held_out, target if os.path.isdir(target) else None
