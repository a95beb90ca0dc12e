"""One training iteration, shared by train.py and the benchmark so both time the same code."""
import contextlib
from typing import Callable, Dict

import torch

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def amp_autocast(device: torch.device, amp: str) -> Callable[[], contextlib.AbstractContextManager]:
    """Return a factory of autocast contexts for `--amp` none|fp16|bf16 on `device`."""
    dtype = AMP_DTYPES.get(amp)
    return lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def make_scalers(model, device: torch.device, amp: str) -> Dict[str, torch.amp.GradScaler]:
    """One GradScaler per optimizer; only fp16 needs loss scaling (bf16 has fp32's range)."""
    return {name: torch.amp.GradScaler(device.type, enabled=amp == "fp16") for name in model.optimizers}


def train_iteration(model, batch: Dict, scalers: Dict, autocast: Callable, meters=(), select_nets=None) -> None:
    """Run forward and every `TrainStep` of `model` on `batch`; add each step's losses to `meters`.

    `select_nets(frozen)` (from util.distributed.distribute_model, None for one process) routes the
    networks each step trains through their DDP twins. Losses stay on the device (no host sync).
    """
    model.set_input(batch)
    if select_nets is not None:
        select_nets([])
    with autocast():
        model.forward()
    for step in model.training_steps():          # e.g. generators, then discriminators
        model.freeze(step.frozen)
        if select_nets is not None:
            select_nets(step.frozen)
        with autocast():
            losses = step.compute_losses()
        loss = sum(losses.values())
        optimizer, scaler = model.optimizers[step.optimizer], scalers[step.optimizer]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)                   # skipped by the scaler if fp16 gradients overflowed
        scaler.update()
        for meter in meters:
            meter.add(losses)
    if select_nets is not None:
        select_nets(list(model.nets))            # plain modules again: checkpoints and visuals see no DDP wrapper
