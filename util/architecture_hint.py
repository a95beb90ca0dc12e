"""Guessing which option differs when saved weights do not fit the network built from the options."""
from typing import Dict, List

import torch

_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def probable_option(net_name: str, expected: Dict[str, torch.Tensor], given: Dict[str, torch.Tensor]) -> str:
    """Name the option most likely to explain the difference between two state dicts of one network.

    `expected` is the built network's state dict, `given` the saved one; `net_name` starting with
    'D' means a discriminator. Returns e.g. '--ngf', '--netG', '--norm' or '--input_nc'.
    """
    is_d = net_name.startswith("D")
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    structural = [k for k in missing + unexpected if not k.endswith(_NORM_BUFFERS)]
    if (missing or unexpected) and (not structural or _only_norm_params(structural, expected, given)):
        return "--norm"
    if structural:
        return "--netD/--n_layers_D" if is_d else "--netG"
    mismatched = [k for k in expected if k in given and expected[k].shape != given[k].shape]
    weights = [k for k in expected if expected[k].dim() == 4]   # conv kernels, in layer order
    if mismatched and weights:
        first, last = weights[0], weights[-1]
        if mismatched == [first] and _differs_only_in(expected[first], given[first], dim=1):
            return "--input_nc (or --output_nc for a B->A generator)"
        if set(mismatched) <= {last, last.replace("weight", "bias")} and not is_d:
            return "--output_nc (or --input_nc for a B->A generator)"
    return "--ndf" if is_d else "--ngf"


def _differs_only_in(a: torch.Tensor, b: torch.Tensor, dim: int) -> bool:
    return a.dim() == b.dim() and all(x == y for i, (x, y) in enumerate(zip(a.shape, b.shape)) if i != dim)


def _only_norm_params(keys: List[str], expected: Dict, given: Dict) -> bool:
    """True if the differing keys are norm affine parameters or conv biases (present with one --norm only)."""
    return all(k.endswith((".weight", ".bias")) and (expected.get(k, given.get(k)).dim() == 1) for k in keys)
