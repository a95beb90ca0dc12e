"""Train an image-to-image translation model (CycleGAN, pix2pix, ...).

    python train.py --dataroot ./datasets/monet2photo --name monet_cyclegan --gpu_ids 0
    python train.py --config experiments/sample_cyclegan.json --gpu_ids -1
    python train.py ... --continue_train          # resume from checkpoints/<name>/latest.pt

The whole procedure is this file, top to bottom: options, data, model, optimizers, the loop.
"""
import os
import sys

import torch
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from datasets import create_dataset
from datasets.sampler import ResumableSampler
from models import create_model
from models.schedulers import SCHEDULERS, step_scheduler
from options.train_options import TrainOptions
from util.checkpoint import checkpoint_path, load_checkpoint, restore_training_state, save_atomic, training_state
from util.device import select_device, seed_everything
from util.errors import UserError, exit_on_user_error
from util.images import visuals_grid
from util.loss_meter import LossMeter


@exit_on_user_error
def main(argv=None) -> None:
    """Run training as configured by the command line `argv` (default: sys.argv[1:])."""
    # ---------------------------------------------------------------- options and device
    options = TrainOptions()
    opt = options.parse(argv)
    device = select_device(opt.gpu_ids)
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    resume_path = checkpoint_path(opt, opt.epoch)
    if opt.continue_train and not os.path.isfile(resume_path):
        raise UserError(f"--continue_train: no checkpoint {resume_path}; start without --continue_train or check --name/--epoch")
    print(options.format_options(opt))
    options.save_options(opt, run_dir)
    seed_everything(opt.seed)

    # ---------------------------------------------------------------- data
    dataset = create_dataset(opt)
    drop_last = opt.batch_size > 1 and len(dataset) > opt.batch_size  # equal batches keep BatchNorm and resume simple
    sampler = ResumableSampler(len(dataset), seed=opt.seed, shuffle=not opt.serial_batches,
                               drop_last=drop_last, batch_size=opt.batch_size)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=opt.num_threads,
                        pin_memory=device.type == "cuda", drop_last=drop_last,
                        persistent_workers=opt.num_threads > 0)
    print(f"dataset: {len(dataset)} training images, {len(loader)} iterations per epoch")

    # ---------------------------------------------------------------- model, optimizers, AMP
    model = create_model(opt, device)
    model.initialize_from_batch(next(iter(loader)))  # data-shaped parts (CUT's netF) exist before anything uses them
    schedulers = {name: SCHEDULERS.build(opt.lr_policy, o, opt) for name, o in model.optimizers.items()}
    # fp16 needs loss scaling (one scaler per optimizer); bf16 has fp32's range and needs none.
    scalers = {name: torch.amp.GradScaler(device.type, enabled=opt.amp == "fp16") for name in model.optimizers}
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(opt.amp)

    def autocast():
        return torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    start_epoch, start_iter, total_iters = opt.epoch_count, 0, 0
    if opt.continue_train:
        position = restore_training_state(load_checkpoint(resume_path), model, schedulers, scalers, resume_path)
        start_epoch, start_iter, total_iters = position["epoch"], position["epoch_iter"], position["total_iters"]
        print(f"resumed from {resume_path}: epoch {start_epoch}, iteration {start_iter} of the epoch, {total_iters} in total")

    def save(label: str, epoch: int, epoch_iter: int) -> None:
        save_atomic(training_state(model, schedulers, scalers, opt, epoch, epoch_iter, total_iters),
                    checkpoint_path(opt, label))

    writer = SummaryWriter(log_dir=opt.log_dir or os.path.join(run_dir, "tb"))
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    window = LossMeter()   # losses since the last print
    epoch_losses = LossMeter()

    # ---------------------------------------------------------------- the loop
    for epoch in tqdm(range(start_epoch, last_epoch + 1), desc="epochs", initial=start_epoch - 1, total=last_epoch):
        sampler.set_epoch(epoch)
        epoch_iter = start_iter if epoch == start_epoch else 0
        sampler.set_start(epoch_iter * opt.batch_size)
        model.train()
        epoch_losses.reset()
        progress = tqdm(loader, desc=f"epoch {epoch}", leave=False, initial=epoch_iter,
                        total=epoch_iter + len(loader))
        for batch in progress:
            model.set_input(batch)
            with autocast():
                model.forward()
            for step in model.training_steps():          # e.g. generators, then discriminators
                model.freeze(step.frozen)
                with autocast():
                    losses = step.compute_losses()
                loss = sum(losses.values())
                optimizer, scaler = model.optimizers[step.optimizer], scalers[step.optimizer]
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)                   # skipped by the scaler if fp16 gradients overflowed
                scaler.update()
                window.add(losses)
                epoch_losses.add(losses)
            epoch_iter += 1
            total_iters += 1

            if total_iters % opt.print_freq == 0:         # the only place losses leave the device
                means = window.means()
                window.reset()
                for name, value in means.items():
                    writer.add_scalar(f"loss/{name}", value, total_iters)
                progress.set_postfix({k: f"{v:.3f}" for k, v in means.items()})
            if total_iters % opt.display_freq == 0:
                writer.add_image("visuals", visuals_grid(model.visuals()), total_iters)
            if total_iters % opt.save_latest_freq == 0:
                save("latest", epoch, epoch_iter)
        progress.close()

        # ------------------------------------------------------------ end of epoch
        epoch_mean = epoch_losses.means()
        for name, scheduler in schedulers.items():
            step_scheduler(scheduler, sum(epoch_mean.values()))
            writer.add_scalar(f"lr/{name}", model.optimizers[name].param_groups[0]["lr"], epoch)
        for name, value in epoch_mean.items():
            writer.add_scalar(f"epoch_loss/{name}", value, epoch)
        save("latest", epoch + 1, 0)
        if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
            save(str(epoch), epoch + 1, 0)
        tqdm.write(f"epoch {epoch}/{last_epoch} done: " + ", ".join(f"{k} {v:.3f}" for k, v in epoch_mean.items()))

    writer.close()
    print(f"checkpoints: {run_dir}\nTensorBoard: tensorboard --logdir {opt.log_dir or os.path.join(run_dir, 'tb')}")


if __name__ == "__main__":
    main(sys.argv[1:])
