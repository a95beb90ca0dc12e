"""Where the images to translate or evaluate come from: a dataset's split, a plain folder or one file."""
import copy
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Tuple

from util.errors import UserError
from util.output_files import prepare_output_dir


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

    @property
    def inputs(self) -> str:
        """The file or folder actually read."""
        return self.root if os.path.isdir(self.dataroot) else self.dataroot

    def describe(self) -> str:
        """One line saying what is read, for the user to check."""
        return f"reading {'aligned pairs in' if self.dataset_mode == 'aligned' else 'images in'} {self.inputs}"


def resolve_source(dataroot: str, dataset_mode: str, phase: str, direction: str) -> TranslationSource:
    """Decide how to read `dataroot` for translation.

    With `dataset_mode` 'single', a dataset root with <phase>A/<phase>B folders uses the input side of
    `direction`, one with a <phase>/ folder of A|B pairs is read as aligned pairs (targets shown too),
    anything else is a plain folder (or a single image file). Other modes read `dataroot` as they are.
    Raises `UserError` when `dataroot` does not exist, and when it is a dataset root (see `_split_folders`)
    without the split that `phase` and `direction` ask for: reading the whole root would translate every
    split, training images included.
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
    splits = _split_folders(dataroot, phase)
    if splits:
        raise UserError(f"--dataroot {dataroot} is a dataset root ({', '.join(splits)}) without {phase}{source_side}/ "
                        f"for --phase {phase} --direction {direction}: pick an existing split with --phase/--direction, "
                        f"or pass the folder to translate itself as --dataroot")
    return TranslationSource(dataroot, "single", dataroot, real_dir)


def _split_folders(dataroot: str, phase: str) -> List[str]:
    """Subfolders of `dataroot` that are dataset splits: train/test/val[A|B], <phase>A|B, and <x>A next to <x>B."""
    names = sorted(e.name for e in os.scandir(dataroot) if e.is_dir())
    other = {"A": "B", "B": "A"}
    return [n for n in names if re.fullmatch(r"(train|test|val)[AB]?", n) or n[:-1] == phase
            or (n[-1:] in other and n[:-1] + other[n[-1]] in names)]


def results_subfolder(phase: str, epoch: str, direction: str) -> str:
    """The name of test.py's output folder under <results_dir>/<name>: <phase>_<epoch>, + _BtoA for BtoA runs."""
    return f"{phase}_{epoch}" + ("_BtoA" if direction == "BtoA" else "")


def results_folder(results_dir: str, name: str, phase: str, epoch: str, direction: str, inputs: str) -> str:
    """test.py's output folder <results_dir>/<name>/<phase>_<epoch>[_BtoA], checked against the inputs.

    BtoA runs get their own folder, so they never replace an AtoB run's results. Raises `UserError` when
    the folder and `inputs` (--dataroot) lie inside one another: outputs would overwrite or mix with the
    inputs.
    """
    out_dir = os.path.join(results_dir, name, results_subfolder(phase, epoch, direction))
    real_out, real_in = os.path.realpath(out_dir), os.path.realpath(inputs)
    for inner, outer in ((real_out, real_in), (real_in, real_out)):
        if os.path.commonpath([inner, outer]) == outer:
            raise UserError(f"the results folder {out_dir} and --dataroot {inputs} lie inside one another, so "
                            f"outputs would overwrite or mix with the inputs: choose another --results_dir")
    prepare_output_dir(results_dir, "--results_dir")   # <name>/... is made when the first file is written
    return out_dir


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
