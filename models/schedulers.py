"""Learning-rate schedules, selected with --lr_policy and stepped once per epoch."""
import argparse

from torch.optim import Optimizer, lr_scheduler

from util.registry import Registry

SCHEDULERS = Registry("learning-rate policy", "--lr_policy")


@SCHEDULERS.register("linear")
def linear(optimizer: Optimizer, opt: argparse.Namespace) -> lr_scheduler.LRScheduler:
    """Keep the lr for `n_epochs` epochs, then decay it linearly to zero over `n_epochs_decay`."""

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + opt.epoch_count - opt.n_epochs) / float(opt.n_epochs_decay + 1)

    return lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)


@SCHEDULERS.register("step")
def step(optimizer: Optimizer, opt: argparse.Namespace) -> lr_scheduler.LRScheduler:
    """Multiply the lr by 0.1 every `lr_decay_iters` epochs."""
    return lr_scheduler.StepLR(optimizer, step_size=opt.lr_decay_iters, gamma=0.1)


@SCHEDULERS.register("plateau")
def plateau(optimizer: Optimizer, opt: argparse.Namespace) -> lr_scheduler.ReduceLROnPlateau:
    """Multiply the lr by 0.2 when the epoch's mean loss stops improving for 5 epochs."""
    return lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2, threshold=0.01, patience=5)


@SCHEDULERS.register("cosine")
def cosine(optimizer: Optimizer, opt: argparse.Namespace) -> lr_scheduler.LRScheduler:
    """Cosine annealing to zero over all `n_epochs + n_epochs_decay` epochs."""
    return lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt.n_epochs + opt.n_epochs_decay, eta_min=0)


def step_scheduler(scheduler, metric: float) -> None:
    """Advance `scheduler` by one epoch; `metric` (the epoch's mean loss) feeds the plateau policy."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()
