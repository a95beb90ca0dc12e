"""Patch-sampling feature heads for PatchNCE (CUT), selectable with ``--netF``.

A head takes a list of encoder feature maps, picks the same random spatial positions in every
image of the batch, optionally projects each picked feature with a small per-layer MLP, and
L2-normalises the result. The same positions must be used for the query (translated image)
and the key (source image), so `forward` returns the ids it sampled and accepts them back.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from util.registry import Registry

F_HEADS = Registry("feature head", "--netF")


class PatchSampleHead(nn.Module):
    """Samples patch features and L2-normalises them; subclasses may project them first.

    The projection depends on the channel counts of the tapped layers, which are only known once
    a generator has run, so `build(channels)` creates it (call it once before training).
    """

    def __init__(self, nc: int = 256):
        super().__init__()
        self.nc = nc

    def build(self, channels: Sequence[int]) -> "PatchSampleHead":
        """Create the per-layer projections for feature maps with these channel counts; returns self."""
        return self

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Map sampled features ``(N, P, C)`` of layer number ``layer`` to ``(N, P, C')``; identity here."""
        return x

    def forward(
        self, feats: Sequence[torch.Tensor], num_patches: int, patch_ids: Optional[Sequence[torch.Tensor]] = None
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """Sample and embed patches of each feature map.

        ``feats``: one ``(N, C_l, H_l, W_l)`` map per layer. ``num_patches``: positions per map
        (0 = all of them). ``patch_ids``: the long tensors of positions returned by an earlier call,
        to sample the same positions again (all images of the batch share them). Returns
        (per-layer float32 ``(N, P_l, C')`` unit-length features, per-layer ``(P_l,)`` position ids).
        """
        out, ids = [], []
        for layer, feat in enumerate(feats):
            flat = feat.flatten(2).transpose(1, 2)  # (N, H*W, C)
            if patch_ids is not None:
                pid = patch_ids[layer]
            elif num_patches > 0:
                pid = torch.randperm(flat.shape[1], device=feat.device)[:num_patches]
            else:
                pid = torch.arange(flat.shape[1], device=feat.device)
            x = self.project(layer, flat[:, pid, :])
            out.append(nn.functional.normalize(x.float(), dim=-1, eps=1e-7))
            ids.append(pid)
        return out, ids


@F_HEADS.register("sample")
class SampleHead(PatchSampleHead):
    """``--netF sample``: sampled encoder features, normalised, without a projection (no parameters)."""


@F_HEADS.register("mlp_sample")
class MLPSampleHead(PatchSampleHead):
    """``--netF mlp_sample``: a 2-layer MLP (Linear C -> nc, ReLU, Linear nc -> nc) per tapped layer."""

    def build(self, channels: Sequence[int]) -> "MLPSampleHead":
        """Create ``mlp_<i>`` for the i-th layer's ``channels[i]`` input channels; returns self."""
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, self.nc), nn.ReLU(), nn.Linear(self.nc, self.nc)) for c in channels
        )
        return self

    def project(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Apply layer ``layer``'s MLP to ``(N, P, C)``, giving ``(N, P, nc)``."""
        return self.mlps[layer](x)
