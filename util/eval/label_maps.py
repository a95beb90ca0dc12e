"""Score translated label maps as segmentations (photo -> label tasks, e.g. facades AtoB).

The pix2pix/CycleGAN papers evaluate "photo -> labels" outputs by turning each output image back
into class indices and comparing with the ground-truth label map: per-pixel accuracy, mean
per-class accuracy and mean class IoU. Label maps are colour images, one colour per class, so:

1. a palette (K, 3) of class colours is fixed: a named one (`NAMED_PALETTES`) or one found from the
   target label maps by `palette_from_targets` (robust to JPEG noise, see there);
2. every pixel of both the output and the target is snapped to its nearest palette colour
   (`snap_to_palette`, L2 distance in RGB), giving (H, W) class indices;
3. a K x K confusion matrix is accumulated over all images (`LabelScores`), and the three scores
   are read from it.

Snapping the *targets* too matters: facades label maps are stored as JPEG, so their pixels are
noisy around the true class colours.
"""
import os
from typing import Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image

from util.errors import UserError
from util.image_io import read_image

ArrayLike = Union[np.ndarray, torch.Tensor]

# facades (CMP Facade Database as shipped with pix2pix): 12 class colours. Obtained by running
# `palette_from_targets` with its defaults on the right halves (label maps, 256x256 JPEG) of all
# 506 train + test pairs of ../shared/data/facades: it finds exactly these 12 cluster centres. They
# are 12 consecutive levels of a "jet" colour map (blue -> red), listed here in that order; the
# share of label-map pixels snapped to each colour over the 506 maps is in the comment. (A 13th
# dark blue, about (7, 9, 162), covers under 2 % of 6 of the maps and is not a class here; it snaps
# to the first colour.) Which CMP class each colour is, is not needed for the scores.
FACADES_PALETTE = (
    (0, 0, 222),      # 22.9 %
    (1, 48, 253),     # 34.2 %
    (4, 126, 253),    # 13.2 %
    (3, 206, 254),    # 1.3 %
    (35, 253, 226),   # 2.8 %
    (113, 253, 145),  # 3.6 %
    (192, 254, 64),   # 4.6 %
    (253, 240, 5),    # 0.9 %
    (254, 159, 3),    # 1.8 %
    (253, 80, 2),     # 8.6 %
    (249, 2, 4),      # 0.9 %
    (173, 0, 2),      # 5.3 %
)

# Cityscapes: the 19 evaluation (train-id) classes with their official colours, in train-id order.
CITYSCAPES_PALETTE = (
    (128, 64, 128),   # 0 road
    (244, 35, 232),   # 1 sidewalk
    (70, 70, 70),     # 2 building
    (102, 102, 156),  # 3 wall
    (190, 153, 153),  # 4 fence
    (153, 153, 153),  # 5 pole
    (250, 170, 30),   # 6 traffic light
    (220, 220, 0),    # 7 traffic sign
    (107, 142, 35),   # 8 vegetation
    (152, 251, 152),  # 9 terrain
    (70, 130, 180),   # 10 sky
    (220, 20, 60),    # 11 person
    (255, 0, 0),      # 12 rider
    (0, 0, 142),      # 13 car
    (0, 0, 70),       # 14 truck
    (0, 60, 100),     # 15 bus
    (0, 80, 100),     # 16 train
    (0, 0, 230),      # 17 motorcycle
    (119, 11, 32),    # 18 bicycle
)

NAMED_PALETTES: Dict[str, np.ndarray] = {
    "facades": np.array(FACADES_PALETTE, dtype=np.uint8).reshape(-1, 3),
    "cityscapes": np.array(CITYSCAPES_PALETTE, dtype=np.uint8).reshape(-1, 3),
}


def _as_rgb_array(image: ArrayLike) -> np.ndarray:
    """(H, W, 3) uint8 numpy array or tensor -> (H, W, 3) uint8 numpy array (checked)."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB label map, got shape {tuple(image.shape)}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image


def _flat_pixels(image: np.ndarray, tolerance: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (M, 3) the pixels whose 4 neighbours all differ by <= tolerance per channel.

    These are the insides of flat colour regions; JPEG border blends are left out. When an image
    has no such pixel (e.g. pure noise), all its pixels are returned.
    """
    a = image.astype(np.int16)
    h, w, _ = a.shape
    if h < 3 or w < 3:
        return image.reshape(-1, 3)
    centre = a[1:-1, 1:-1]
    spread = np.zeros(centre.shape[:2], dtype=np.int16)
    for shifted in (a[:-2, 1:-1], a[2:, 1:-1], a[1:-1, :-2], a[1:-1, 2:]):
        spread = np.maximum(spread, np.abs(shifted - centre).max(-1))
    flat = spread <= tolerance
    return centre[flat].astype(np.uint8) if flat.any() else image.reshape(-1, 3)


def palette_from_targets(targets: Iterable[ArrayLike], max_colors: int = 64, min_fraction: float = 0.002,
                         radius: float = 40.0, flat_tolerance: int = 12) -> np.ndarray:
    """Find the class colours of a set of label maps, robust to JPEG noise.

    Inputs: `targets`, an iterable of (H, W, 3) uint8 arrays or tensors (RGB label maps).
    Output: (K, 3) uint8 palette, K <= max_colors, most frequent colour first.

    Method (mode seeking on the colour histogram of flat regions):
      1. count every exact RGB colour over the *flat* pixels of all targets: those whose four
         neighbours differ from them by at most `flat_tolerance` in every channel. Class regions
         are flat (JPEG noise there is a few units), while the in-between colours that JPEG
         creates along class borders sit on steep edges and are left out;
      2. repeatedly take the most frequent colour not yet used as a cluster seed and give it every
         remaining colour within `radius` (L2 in RGB, 0..255 units); JPEG noise around a flat class
         colour is a few units, while distinct class colours are far more than `radius` apart;
      3. keep a seed as a class colour only if its dense core (the not yet assigned flat colours
         within radius / 4 of it) holds at least `min_fraction` of all counted pixels; rarer
         seeds are stray colours, not classes;
      4. refine each kept centre: assign every colour to its nearest kept seed and take the
         count-weighted mean of those within radius / 2 of the seed (the dense core, not the
         border blends), rounded to uint8.
    Class colours closer than `radius` are merged into one (e.g. Cityscapes bus (0, 60, 100) and
    train (0, 80, 100)): use a named palette or a smaller radius for such palettes.
    The remaining (rare) colours are not classes: `snap_to_palette` maps them to the nearest one.
    Lossless targets give exactly their distinct colours (those whose flat regions cover at
    least `min_fraction`). Regions thinner than 3 pixels have no flat pixels and are not counted.
    """
    keys_all, counts_all = [], []
    for image in targets:
        pixels = _flat_pixels(_as_rgb_array(image), flat_tolerance).astype(np.int64)
        keys = (pixels[:, 0] << 16) | (pixels[:, 1] << 8) | pixels[:, 2]
        uniq, cnt = np.unique(keys, return_counts=True)
        keys_all.append(uniq)
        counts_all.append(cnt)
    if not keys_all:
        raise ValueError("palette_from_targets needs at least one target label map")
    keys = np.concatenate(keys_all)
    weights = np.concatenate(counts_all)
    uniq, inverse = np.unique(keys, return_inverse=True)
    weights = np.bincount(inverse, weights=weights).astype(np.float64)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.float64)
    total = weights.sum()

    order = np.argsort(-weights, kind="stable")
    colours, weights = colours[order], weights[order]
    unassigned = np.ones(len(colours), dtype=bool)
    seeds = []
    # Each loop removes at least its seed; stop once what is left cannot make a kept cluster.
    while unassigned.any() and len(seeds) < max_colors:
        if weights[unassigned].sum() < min_fraction * total:
            break
        seed = int(np.flatnonzero(unassigned)[0])
        distance = np.linalg.norm(colours - colours[seed], axis=1)
        near = unassigned & (distance <= radius)
        core = unassigned & (distance <= radius / 4)
        if weights[core].sum() >= min_fraction * total:
            seeds.append(seed)
        unassigned &= ~near
        if weights[seed] < 1e-3 * min_fraction * total:
            break  # only single stray colours remain
    if not seeds:
        seeds = [0]
    centres = colours[seeds]
    distances = np.linalg.norm(colours[:, None, :] - centres[None, :, :], axis=2)   # (U, K)
    nearest = distances.argmin(1)
    refined = []
    for k in range(len(seeds)):
        core = (nearest == k) & (distances[:, k] <= radius / 2)
        refined.append((colours[core] * weights[core, None]).sum(0) / weights[core].sum())
    return np.clip(np.rint(np.array(refined)), 0, 255).astype(np.uint8)


def _resolve_palette(palette: Union[None, str, ArrayLike]) -> Optional[np.ndarray]:
    """None, a name in NAMED_PALETTES or a (K, 3) array -> None or a (K, 3) uint8 array."""
    if palette is None:
        return None
    if isinstance(palette, str):
        if palette not in NAMED_PALETTES:
            raise UserError(f"unknown label palette '{palette}': choose one of {', '.join(sorted(NAMED_PALETTES))}")
        return NAMED_PALETTES[palette]
    if isinstance(palette, torch.Tensor):
        palette = palette.detach().cpu().numpy()
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0:
        raise ValueError(f"a palette is a (K, 3) array of RGB colours, got shape {tuple(palette.shape)}")
    return np.clip(np.rint(palette), 0, 255).astype(np.uint8)


def snap_to_palette(image: ArrayLike, palette: ArrayLike) -> torch.Tensor:
    """Class index of every pixel: its nearest palette colour (L2 distance in RGB).

    Inputs: `image` (H, W, 3) RGB (uint8 or float in 0..255; numpy or tensor), `palette` (K, 3)
    RGB colours. Output: (H, W) int64 tensor of indices in [0, K). Ties go to the lower index.
    """
    if not isinstance(image, torch.Tensor):
        image = torch.from_numpy(np.require(image, requirements=["C", "W"]))   # writable: torch warns on read-only arrays
    if not isinstance(palette, torch.Tensor):
        palette = torch.from_numpy(np.require(palette, requirements=["C", "W"]))
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {tuple(image.shape)}")
    h, w, _ = image.shape
    pixels = image.reshape(-1, 3).float()
    colours = palette.to(pixels.device).float().reshape(-1, 3)
    # |p - c|^2 = |p|^2 - 2 p.c + |c|^2; |p|^2 is the same for every c, so it can be dropped.
    # Exact in float32: all terms are integers below 2^24 for uint8 inputs.
    scores = colours.pow(2).sum(1)[None, :] - 2 * pixels @ colours.T        # (H*W, K)
    return scores.argmin(1).reshape(h, w).long()


class LabelScores:
    """Streamed K x K confusion matrix of predicted vs target class maps, and the paper scores.

    `update(pred, target)` takes two (H, W) integer class maps (values in [0, K)); `confusion` is
    a (K, K) int64 tensor with rows = target class and columns = predicted class.

    Scores (`scores()` returns them as a dict of floats):
      - label_pixel_acc: correctly classified pixels / all pixels;
      - label_class_acc: mean over the classes *present in the targets* of that class's recall
        (correct pixels of class k / target pixels of class k);
      - label_miou: mean over the classes present in the targets *or* the predictions of
        IoU_k = TP_k / (TP_k + FP_k + FN_k); a class absent from both is skipped (its IoU is 0/0).
    """

    def __init__(self, num_classes: int):
        if num_classes < 1:
            raise ValueError("LabelScores needs at least one class")
        self.num_classes = num_classes
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def update(self, pred: ArrayLike, target: ArrayLike) -> None:
        """Add one image (or a batch): `pred` and `target` are integer class maps of equal shape."""
        pred = torch.as_tensor(np.asarray(pred) if not isinstance(pred, torch.Tensor) else pred).long().flatten()
        target = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).long().flatten()
        if pred.shape != target.shape:
            raise ValueError(f"prediction and target have different sizes: {pred.numel()} vs {target.numel()} pixels")
        k = self.num_classes
        if pred.numel() and (min(pred.min(), target.min()) < 0 or max(pred.max(), target.max()) >= k):
            raise ValueError(f"class indices must lie in [0, {k})")
        self.confusion += torch.bincount(target.cpu() * k + pred.cpu(), minlength=k * k).reshape(k, k)

    def pixel_accuracy(self) -> float:
        """Correct pixels / all pixels (0 when nothing was added)."""
        total = int(self.confusion.sum())
        return float(self.confusion.diagonal().sum()) / total if total else 0.0

    def class_accuracy(self) -> float:
        """Mean per-class recall over the classes present in the targets."""
        support = self.confusion.sum(1)
        present = support > 0
        if not present.any():
            return 0.0
        recall = self.confusion.diagonal()[present].double() / support[present].double()
        return float(recall.mean())

    def mean_iou(self) -> float:
        """Mean IoU over the classes present in the targets or the predictions."""
        tp = self.confusion.diagonal().double()
        union = self.confusion.sum(1).double() + self.confusion.sum(0).double() - tp
        present = union > 0
        if not present.any():
            return 0.0
        return float((tp[present] / union[present]).mean())

    def scores(self) -> Dict[str, float]:
        """{"label_pixel_acc", "label_class_acc", "label_miou"} as floats in [0, 1]."""
        return {"label_pixel_acc": self.pixel_accuracy(), "label_class_acc": self.class_accuracy(),
                "label_miou": self.mean_iou()}


def read_rgb(path: str) -> np.ndarray:
    """Read an image file as an (H, W, 3) uint8 RGB array with util.image_io's reader (a one-line
    UserError naming the file when it cannot be read)."""
    return np.asarray(read_image(path).pil(grayscale=False), dtype=np.uint8)


def score_label_maps(pred_paths: Sequence[str], target_paths: Sequence[str],
                     palette: Union[None, str, ArrayLike] = None) -> Dict[str, float]:
    """Segmentation scores of output label maps against target label maps (paired by position).

    Inputs: equal-length lists of image paths (any PIL format; read as RGB uint8); `palette` is
    None (found from the targets with `palette_from_targets`), a name in NAMED_PALETTES, or a
    (K, 3) array. A prediction whose size differs from its target is resized to the target size
    with nearest-neighbour sampling (no new colours). Output: {"label_pixel_acc",
    "label_class_acc", "label_miou"} floats, plus "label_classes" (K, as a float).
    """
    if len(pred_paths) != len(target_paths):
        raise UserError(f"{len(pred_paths)} output label maps but {len(target_paths)} targets: they are paired one to one")
    if not pred_paths:
        raise UserError("no label maps to score")
    for path in list(pred_paths) + list(target_paths):
        if not os.path.isfile(path):
            raise UserError(f"label map {path} does not exist")
    colours = _resolve_palette(palette)
    if colours is None:
        colours = palette_from_targets(read_rgb(p) for p in target_paths)
    scores = LabelScores(len(colours))
    for pred_path, target_path in zip(pred_paths, target_paths):
        target = read_rgb(target_path)
        pred = read_rgb(pred_path)
        if pred.shape != target.shape:
            pred = np.asarray(Image.fromarray(pred).resize((target.shape[1], target.shape[0]), Image.NEAREST))
        scores.update(snap_to_palette(pred, colours), snap_to_palette(target, colours))
    result = scores.scores()
    result["label_classes"] = float(len(colours))
    return result
