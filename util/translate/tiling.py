"""Translating images of any size: optional downscaling (--max_side) and overlapping tiles (--tile).

Tiles are blended with a raised-cosine window, so no seam shows, and normalised with statistics of the
whole image (`util.translate.norm_stats`), so they do not drift in colour. --tile_stats mosaic (default) takes them
from one pass over a mosaic of full-resolution pieces spread over the image, at most --tile_stats_side
square: exact for images up to that side, fast, and close for larger ones (about 3x closer to the
whole-image result than --tile_stats lowres, one pass over a copy downscaled to that side, whose lost
fine detail makes the variances come out low). With --tile_stats exact the
statistics are streamed over the full-size tiles one norm layer at a time: pass k runs every tile up to
layer k with layers < k already frozen and sums layer k's input over the tile centres, so they equal the
whole image's up to tile-border effects (cost: about half a forward pass per norm layer, at most 1/4 of
the full resolution for most layers of a ResNet; about 70x a whole pass on the CPU). Peak memory is that of one tile plus a few full-size image buffers.
"""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from util.translate.inference import pad_to_multiple, translate
from util.translate.norm_stats import NormStats, StatsRecorder, adaptive_norm_layers, collect_stats, frozen_stats, run_until

# One tile along one axis: (start, length, core_start, core_end); the cores partition the axis.
Span = Tuple[int, int, int, int]
TILE_STATS = ("exact", "lowres", "mosaic")


def translate_any_size(generator: nn.Module, images: torch.Tensor,
                       max_side: Optional[int] = None,    # --max_side: downscale so the longer side is at most this
                       tile: Optional[int] = None,        # --tile: translate in overlapping tiles of this size
                       tile_overlap: int = 64,            # --tile_overlap: pixels shared by neighbouring tiles
                       tile_stats: str = "mosaic",        # --tile_stats: mosaic | lowres | exact
                       tile_stats_side: int = 1024) -> torch.Tensor:  # --tile_stats_side
    """Translate (N, C, H, W) images at any size; returns (N, C_out, H, W).

    A downscaled (`max_side`) result is resized back to the input size; tiles are blended and normalised
    with whole-image statistics (see `translate_tiled`).
    """
    height, width = images.shape[-2:]
    work = images
    if max_side is not None and max(height, width) > max_side:
        work = resize_longer_side(images, max_side)
    if tile is None:
        out = translate(generator, work)
    else:
        out = torch.cat([translate_tiled(generator, image[None], tile, tile_overlap, tile_stats, tile_stats_side)
                         for image in work])
    if out.shape[-2:] != (height, width):
        out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False).clamp(-1, 1)
    return out


def resize_longer_side(images: torch.Tensor, side: int) -> torch.Tensor:
    """Downscale (N, C, H, W) `images` (antialiased) so the longer side is `side`, keeping the aspect."""
    height, width = images.shape[-2:]
    scale = side / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


def tile_spans(length: int, tile: int, overlap: int, multiple: int) -> List[Span]:
    """Tiles covering [0, length) (a multiple of `multiple`): starts are multiples of `multiple`.

    Each span is (start, length, core_start, core_end); the cores split each overlap in the middle and
    together cover the axis exactly once.
    """
    if length <= tile:
        return [(0, length, 0, length)]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride)) + [length - tile]
    bounds = [0]
    for left, right in zip(starts, starts[1:]):
        bounds.append((left + tile + right) // 2 // multiple * multiple)
    bounds.append(length)
    return [(start, tile, bounds[i], bounds[i + 1]) for i, start in enumerate(starts)]


def ramp_window(span: Span, axis_length: int, overlap: int) -> torch.Tensor:
    """1-D blending weights (length,) for one tile: raised-cosine ramps where it overlaps a neighbour.

    The weights never reach 0, so dividing by their sum over all tiles is always safe.
    """
    start, length = span[0], span[1]
    weights = torch.ones(length)
    if overlap > 0:
        ramp = 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(overlap) + 0.5) / overlap)
        if start > 0:
            weights[:overlap] = ramp
        if start + length < axis_length:
            weights[-overlap:] = torch.minimum(weights[-overlap:], ramp.flip(0))
    return weights


def mosaic(image: torch.Tensor, side: int, grid: int = 4) -> torch.Tensor:
    """A (1, C, h, w) mosaic, at most `side` x `side`, of `grid` x `grid` full-resolution pieces of (1, C, H, W) `image`.

    The pieces (side // grid pixels square) are spread evenly over the image, so the mosaic's feature
    statistics sample the whole image at its own resolution; a downscaled copy loses the fine detail that
    sets the early layers' variances. Returns `image` itself when it is no larger than `side`.
    """
    height, width = image.shape[-2:]
    if max(height, width) <= side:
        return image
    cell = min(side // grid, height, width)
    rows, cols = min(grid, max(1, height // cell)), min(grid, max(1, width // cell))
    ys = torch.linspace(0, height - cell, rows).round().long().tolist()
    xs = torch.linspace(0, width - cell, cols).round().long().tolist()
    return torch.cat([torch.cat([image[..., y:y + cell, x:x + cell] for x in xs], -1) for y in ys], -2)


def whole_image_stats(generator: nn.Module, padded: torch.Tensor, tiles: List[Tuple[Span, Span]],
                      method: str = "mosaic", stats_side: int = 1024) -> Optional[NormStats]:
    """Normalisation statistics of the whole (1, C, H, W) `padded` image without running it whole.

    'mosaic': one pass over `mosaic(padded, stats_side)`; 'lowres': one pass over a copy downscaled to
    `stats_side`. 'exact': one streaming pass over the
    full-size `tiles` per norm layer (see the module docstring). None if the generator has no such layers.
    """
    layers = adaptive_norm_layers(generator)
    if not layers:
        return None
    if method == "lowres":
        small = padded if max(padded.shape[-2:]) <= stats_side else resize_longer_side(padded, stats_side)
        return collect_stats(generator, pad_to_multiple(small, generator.size_multiple)[0])
    if method == "mosaic":
        return collect_stats(generator, pad_to_multiple(mosaic(padded, stats_side), generator.size_multiple)[0])
    stats = {}
    for layer in layers:
        with StatsRecorder(generator, frozen=stats, stop_at=layer) as recorder:
            for ys, xs in tiles:
                recorder.region = ((ys[2] - ys[0]) / ys[1], (ys[3] - ys[0]) / ys[1],
                                   (xs[2] - xs[0]) / xs[1], (xs[3] - xs[0]) / xs[1])
                run_until(generator, padded[..., ys[0]:ys[0] + ys[1], xs[0]:xs[0] + xs[1]])
            stats.update(recorder.stats())
    return stats


@torch.no_grad()
def translate_tiled(generator: nn.Module, image: torch.Tensor, tile: int, overlap: int,
                    stats: str = "mosaic", stats_side: int = 1024) -> torch.Tensor:
    """Translate one (1, C, H, W) image in overlapping tiles; returns (1, C_out, H, W).

    `tile` and `overlap` are rounded down to the generator's size multiple. Normalisation uses
    statistics of the whole image (`stats`: 'mosaic', 'lowres' or 'exact', see `whole_image_stats`), so tiles
    match the untiled result where the overlap covers the generator's receptive field.
    """
    multiple = getattr(generator, "size_multiple", 1)
    padded, (height, width) = pad_to_multiple(image, multiple)
    tile = max(multiple, tile // multiple * multiple)
    overlap = min(overlap // multiple * multiple, tile // 2)
    rows = tile_spans(padded.shape[-2], tile, overlap, multiple)
    cols = tile_spans(padded.shape[-1], tile, overlap, multiple)
    tiles = [(ys, xs) for ys in rows for xs in cols]
    norm_stats = whole_image_stats(generator, padded, tiles, stats, stats_side)
    output, weight_sum = None, torch.zeros(padded.shape[-2:], device=image.device)
    with frozen_stats(generator, norm_stats):
        for ys, xs in tiles:
            y = generator(padded[..., ys[0]:ys[0] + ys[1], xs[0]:xs[0] + xs[1]])
            if output is None:
                output = torch.zeros((1, y.shape[1]) + tuple(padded.shape[-2:]), device=image.device)
            window = (ramp_window(ys, padded.shape[-2], overlap)[:, None]
                      * ramp_window(xs, padded.shape[-1], overlap)[None, :]).to(image.device)
            output[..., ys[0]:ys[0] + ys[1], xs[0]:xs[0] + xs[1]] += y.float() * window
            weight_sum[ys[0]:ys[0] + ys[1], xs[0]:xs[0] + xs[1]] += window
    return (output / weight_sum)[..., :height, :width]
