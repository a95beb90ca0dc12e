"""Train an image-to-image translation model (CycleGAN, pix2pix, ...).

    python train.py --dataroot ./datasets/monet2photo --name monet_cyclegan --gpu_ids 0
    python train.py --config experiments/sample_cyclegan.json --gpu_ids -1
    python train.py ... --continue_train          # resume from checkpoints/<name>/latest.pt
    torchrun --nproc_per_node=4 train.py ...      # DDP, one process per GPU (see util/train/distributed.py)

The whole procedure is this file, top to bottom: options, data, model, optimizers, one training
iteration (`train_iteration`, also timed by benchmarks/speed.py), and the loop.
"""
import os
import shutil
import sys
from typing import Callable, Dict, List, Optional, Union

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from datasets import create_dataset, first_batch
from datasets.bad_images import SkippedImageTally
from datasets.sampler import ResumableSampler
from datasets.source import held_out_options
from datasets.transforms import check_generator_fits, check_stackable_sizes
from models import create_model
from models.schedulers import SCHEDULERS, step_scheduler
from options.base_options import evaluator_options
from options.control_options import monitor_options
from options.train_options import TrainOptions, speed_options
from util.best_k import write_index
from util.checkpoint import Checkpointer, restore_training_state, training_state
from util.device import resolve_amp, seed_everything
from util.errors import UserError, exit_on_user_error
from util.output_files import prepare_output_dir
from util.eval.evaluator import Evaluator, TrainingEvaluator
from util.train import distributed
from util.train.debug import StepProfiler, add_histograms, make_deterministic, model_summary
from util.train.ema import GeneratorEMA
from util.train.fast_paths import apply_fast_paths
from util.train.guards import GracefulInterrupt, NonFiniteGuard, ignore_interrupts
from util.train.meters import LossMeter, Throughput
from util.train.monitor import Decision, Monitor
from util.train.visuals import visuals_grid
from util.translate.inference import translate

AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def make_scalers(model, device: torch.device, amp: str) -> Dict[str, torch.amp.GradScaler]:
    """One GradScaler per optimizer; only fp16 needs loss scaling (bf16 has fp32's range)."""
    return {name: torch.amp.GradScaler(device.type, enabled=amp == "fp16") for name in model.optimizers}


def amp_autocast(device: torch.device, amp: str) -> Callable:
    """A factory of autocast contexts for `--amp` none|fp16|bf16 on `device`."""
    dtype = AMP_DTYPES.get(amp)
    return lambda: torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def train_iteration(model, batch: Union[Dict, List[Dict]], scalers: Dict, autocast: Callable, meters=(),
                    select_nets: Optional[Callable] = None, loss_ok: Optional[Callable] = None,
                    clip_grad_norm: float = 0.0,                # --clip_grad_norm: max gradient norm per optimizer (0 = off)
                    grad_norms: Optional[Dict] = None) -> None:  # receives {optimizer: norm before clipping} (device tensors)
    """One iteration: forward, then every `TrainStep` of `model` (e.g. generators, then discriminators).

    `batch` is one batch dict, or a list of K micro-batches (--accum_steps K): each step then sums the
    gradients of loss / K over the K micro-batches before its optimizer update, recomputing the forward
    pass per micro-batch (the model holds one micro-batch's activations at a time). `meters` receive each
    step's losses (kept on the device: no host sync). `select_nets(frozen)` (DDP only) routes the trained
    networks through their DDP wrappers; `loss_ok(loss, step_name)` may veto an update (a NaN/inf loss is
    skipped instead of poisoning the weights).
    """
    micro_batches = batch if isinstance(batch, list) else [batch]

    def forward(item: Dict) -> None:
        model.set_input(item)
        if select_nets:
            select_nets([])
        with autocast():
            model.forward()

    forward(micro_batches[0])
    for step_index, step in enumerate(model.training_steps()):
        optimizer, scaler = model.optimizers[step.optimizer], scalers[step.optimizer]
        step_losses = []
        for index, item in enumerate(micro_batches):
            if step_index + index > 0 and len(micro_batches) > 1:
                forward(item)
            model.freeze(step.frozen)              # e.g. no D gradients while G learns
            if select_nets:
                select_nets(step.frozen)
            with autocast():
                losses = step.compute_losses()
            loss = sum(losses.values())
            if loss_ok and not loss_ok(loss, step.name):
                break
            if index == 0:
                optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss if len(micro_batches) == 1 else loss / len(micro_batches)).backward()
            step_losses.append(losses)
        if len(step_losses) < len(micro_batches):  # a vetoed micro-batch skips the whole update
            continue
        if clip_grad_norm > 0:
            scaler.unscale_(optimizer)             # clip the true gradients, not the fp16-scaled ones
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
            if grad_norms is not None:
                grad_norms[step.optimizer] = norm.detach()
        scaler.step(optimizer)                     # skipped by the scaler if fp16 gradients overflowed
        scaler.update()
        for meter in meters:
            for losses in step_losses:
                meter.add(losses)
    if select_nets:
        select_nets(list(model.nets))              # plain modules again: checkpoints and visuals see no DDP wrapper


def make_training_evaluator(opt, device: torch.device) -> TrainingEvaluator:
    """The --eval_freq evaluator: the first --eval_num images of the --eval_phase split, scored every --eval_freq epochs."""
    held_out, real_dir = held_out_options(opt, opt.eval_phase, opt.eval_num)
    if not os.path.exists(held_out.dataroot if opt.dataset_mode != "aligned" else os.path.join(opt.dataroot, opt.eval_phase)):
        raise UserError(f"--eval_freq {opt.eval_freq}: no held-out split '{opt.eval_phase}' in {opt.dataroot}; "
                        f"add one, choose it with --eval_phase, or pass --eval_freq 0")
    return TrainingEvaluator(Evaluator(device, **evaluator_options(opt)), create_dataset(held_out), translate,
                             os.path.join(opt.checkpoints_dir, opt.name, "eval"),
                             real_dir=opt.fid_real_dir or real_dir, target_dir=opt.target_dir)


@exit_on_user_error
def main(argv=None) -> None:
    """Run training as configured by the command line `argv` (default: sys.argv[1:])."""
    # ---------------------------------------------------------------- options and device
    options = TrainOptions()
    opt = options.parse(argv)
    ctx = distributed.setup(opt.gpu_ids)     # one process, or one of torchrun's
    device = ctx.device
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    ckpt = Checkpointer(run_dir)
    resume_path = ckpt.path(opt.epoch)
    if opt.continue_train and not os.path.isfile(resume_path):
        raise UserError(f"--continue_train: no checkpoint {resume_path}; start without --continue_train or check --name/--epoch")
    dataset = create_dataset(opt)   # before the option table, so a data mistake is the last thing shown
    if ctx.is_main:
        print(options.format_options(opt))
        ckpt.claim(resume=opt.continue_train, overwrite=opt.overwrite)   # lock; never mix with another run
    seed_everything(opt.seed)

    # ---------------------------------------------------------------- data
    drop_last = opt.batch_size > 1 and len(dataset) > opt.batch_size  # equal batches keep BatchNorm and resume simple
    sampler = ResumableSampler(len(dataset), seed=opt.seed, shuffle=not opt.serial_batches, rank=ctx.rank,
                               world_size=ctx.world_size, drop_last=drop_last, batch_size=opt.batch_size)
    loader = DataLoader(dataset, batch_size=opt.batch_size, sampler=sampler, num_workers=opt.num_threads,
                        pin_memory=device.type == "cuda", drop_last=drop_last,
                        persistent_workers=opt.num_threads > 0, worker_init_fn=ignore_interrupts)
    epoch_batches = min(len(loader), opt.limit_train_batches or len(loader))   # --limit_train_batches
    if ctx.is_main:
        print(f"dataset: {len(dataset)} training images, {epoch_batches} iterations per epoch")

    # ---------------------------------------------------------------- model, optimizers, AMP
    model = create_model(opt, device)
    check_generator_fits(opt, {name: getattr(net, "size_multiple", 1) for name, net in model.nets.items()})
    check_stackable_sizes(opt, dataset.domain_files())   # mixed sizes fail here, not after an epoch
    model.initialize_from_batch(first_batch(dataset))   # data-shaped parts (CUT's netF) exist before anything uses them
    schedulers = {name: SCHEDULERS.build(opt.lr_policy, o, opt) for name, o in model.optimizers.items()}
    amp = resolve_amp(opt.amp, device)   # --amp auto: bf16 where the hardware computes it natively
    if ctx.is_main and opt.amp == "auto":
        print(f"--amp auto: {amp} on this {device.type}")
    scalers = make_scalers(model, device, amp)
    autocast = amp_autocast(device, amp)

    if ctx.is_main:
        print(model_summary(model.nets, model.generator_names, opt.crop_size, device))
    monitor = Monitor(**monitor_options(opt)) if opt.monitor else None
    start_epoch, start_iter, total_iters = opt.epoch_count, 0, 0
    resumed = ckpt.load(opt.epoch) if opt.continue_train else {}
    if opt.continue_train:
        position = restore_training_state(resumed, model, schedulers, scalers, resume_path)
        start_epoch, start_iter, total_iters = position["epoch"], position["epoch_iter"], position["total_iters"]
        if ctx.is_main:
            print(f"resumed from {resume_path}: epoch {start_epoch}, iteration {start_iter} of the epoch, {total_iters} in total")
    if monitor and "monitor" in resumed:
        monitor.load_state_dict(resumed["monitor"])
    # built after restoring, so an EMA switched on at resume starts from the trained weights
    ema = GeneratorEMA({n: model.nets[n] for n in model.generator_names}, opt.ema_decay) if opt.ema_decay else None
    if ema and "ema" in resumed:
        ema.load_state_dict(resumed["ema"])
    if ctx.is_main:
        options.save_options(opt, run_dir)   # only now: a checkpoint that does not fit leaves the run's options intact
    apply_fast_paths(model.nets, device, **speed_options(opt))
    if opt.deterministic:
        make_deterministic()   # after the fast paths: it must win over their cudnn.benchmark
    select_nets = distributed.distribute_model(model, ctx, sync_batchnorm=opt.norm == "batch")   # None for one process
    ctx.reseed(opt.seed, total_iters)
    guard = NonFiniteGuard(opt.max_nonfinite_steps, resume_path if opt.continue_train else None)
    skipped_images = SkippedImageTally()

    def loss_ok(loss: torch.Tensor, step_name: str) -> bool:
        finite = guard.step_ok(loss, step_name, total_iters)
        return finite if not ctx.is_distributed else not ctx.any_rank(not finite)   # all ranks skip together

    def save(label: str, epoch: int, epoch_iter: int) -> None:
        if ctx.is_main:
            extras = {**({"monitor": monitor.state_dict()} if monitor else {}), **({"ema": ema.state_dict()} if ema else {})}
            ckpt.save({**training_state(model, schedulers, scalers, vars(opt), epoch, epoch_iter, total_iters), **extras}, label)
        guard.last_checkpoint = ckpt.path(label)
        ctx.barrier()

    def observe(scalars: Dict[str, float], epoch: int, resume_at: tuple) -> bool:
        """Feed --monitor; save/delete best-k checkpoints (resuming at `resume_at`); True = stop early.

        Every rank calls this: only rank 0 has the values, so its decisions are shared before acting on them.
        """
        decision = Decision()
        if monitor and ctx.is_main and opt.monitor in scalars:
            decision = monitor.observe(scalars[opt.monitor], epoch, total_iters)
        if ctx.any_rank(decision.save_label is not None):
            save(decision.save_label or "best", *resume_at)
            if ctx.is_main:
                for label in decision.delete:
                    os.remove(ckpt.path(label))
                write_index(run_dir, opt.monitor, opt.monitor_mode, monitor.entries)
        return ctx.any_rank(decision.stop)

    def validate(epoch: int, tag: str, resume_at: tuple) -> bool:
        """Score the held-out split with the generator test.py would use (EMA when on); log val/*; see `observe`."""
        scalars = {}
        if evaluator:
            name = type(model).inference_generator(opt, opt.direction)[0]
            generator = ema.nets[name] if ema else model.nets[name]
            for metric, value in evaluator.evaluate(generator, epoch, tag).items():
                scalars[f"val/{metric}"] = value
                writer.add_scalar(f"val/{metric}", value, total_iters)
        return observe(scalars, epoch, resume_at)

    evaluator = make_training_evaluator(opt, device) if ctx.is_main and (opt.eval_freq or opt.eval_every) else None
    if ctx.is_main and opt.log_dir:
        prepare_output_dir(opt.log_dir, "--log_dir")
    writer = distributed.summary_writer(ctx, opt.log_dir or os.path.join(run_dir, "tb"))
    writer.add_text("options", "```\n" + options.format_options(opt) + "\n```", 0)
    profiler = StepProfiler(opt.profile, os.path.join(run_dir, "profile_trace.json"), device) if opt.profile and ctx.is_main else None
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    window = LossMeter()   # losses since the last print
    diagnostics = LossMeter()   # D/real_mean, D/fake_mean, grad_norm/* since the last print
    grad_norms: Dict[str, torch.Tensor] = {}
    epoch_losses = LossMeter()
    speed = Throughput()

    # ---------------------------------------------------------------- the loop
    stop = GracefulInterrupt().install()   # SIGINT/SIGTERM: finish the step, save latest, exit 0
    stopping = None   # why the run ends early: "signal", "max_steps" or "early_stop"

    def stop_line(epoch: int, epoch_iter: int) -> str:
        if stopping == "early_stop":
            return monitor.stop_message(ckpt.path(monitor.entries[0]["label"]) if monitor.entries else None)
        if stopping == "max_steps":
            return f"--max_steps {opt.max_steps} reached: saved {ckpt.path('latest')} at epoch {epoch}, iteration {epoch_iter}"
        return stop.message(ckpt.path("latest"), epoch, epoch_iter)
    for epoch in tqdm(range(start_epoch, last_epoch + 1), desc="epochs", initial=start_epoch - 1, total=last_epoch,
                      disable=not ctx.is_main):
        sampler.set_epoch(epoch)
        epoch_iter = start_iter if epoch == start_epoch else 0
        sampler.set_start(epoch_iter * opt.batch_size)
        model.train()
        epoch_losses.reset()
        progress = tqdm(loader, desc=f"epoch {epoch}", leave=False, initial=epoch_iter,
                        total=epoch_batches, disable=not ctx.is_main)
        pending = []   # micro-batches of the next update (--accum_steps)
        for batch in progress:
            if epoch_iter >= epoch_batches:   # resumed at the end of a --limit_train_batches epoch
                break
            skipped_images.add(batch)
            pending.append(batch)
            if len(pending) < opt.accum_steps and epoch_iter + len(pending) < epoch_batches:
                continue
            train_iteration(model, pending if opt.accum_steps > 1 else batch, scalers, autocast, (window, epoch_losses),
                            select_nets, loss_ok, opt.clip_grad_norm, grad_norms)
            if ema:
                ema.update(model.nets)
            diagnostics.add({**{f"{net}/{k}": v for net, d in model.d_outputs.items() for k, v in d.items()},
                             **{f"grad_norm/{name}": norm for name, norm in grad_norms.items()}})
            speed.add(sum(len(b["A"]) for b in pending) * ctx.world_size)
            previous = total_iters
            epoch_iter += len(pending)
            total_iters += len(pending)
            pending = []

            def crossed(freq: int) -> bool:   # a multiple of `freq` was reached, also when updates take K batches
                return freq > 0 and total_iters // freq > previous // freq

            if crossed(opt.print_freq):         # the only place losses leave the device
                means = ctx.average(window.means())
                window.reset()
                for name, value in means.items():
                    writer.add_scalar(f"loss/{name}", value, total_iters)
                for name, value in ctx.average(diagnostics.means()).items():
                    writer.add_scalar(name, value, total_iters)
                diagnostics.reset()
                perf = speed.log_values(device)
                for name, value in perf.items():
                    writer.add_scalar(f"perf/{name}", value, total_iters)
                for name, value in model.log_scalars().items():   # e.g. aug/p
                    writer.add_scalar(name, value, total_iters)
                progress.set_postfix({**{k: f"{v:.3f}" for k, v in means.items()}, "img/s": f"{perf['images_per_s']:.1f}"})
            if crossed(opt.display_freq):
                writer.add_image("visuals", visuals_grid(model.visuals()), total_iters)
            if crossed(opt.histogram_freq):
                add_histograms(writer, model.nets, total_iters)
            if profiler and (table := profiler.step()):
                tqdm.write(f"profile of {opt.profile} iterations (trace: {profiler.trace_path}):\n{table}")
            # before the latest save, so that it holds the monitor's state after this evaluation
            early_stop = crossed(opt.eval_every) and validate(epoch, f"iter_{total_iters}", (epoch, epoch_iter))
            if crossed(opt.save_latest_freq):
                save("latest", epoch, epoch_iter)
            signalled = ctx.any_rank(stop.requested is not None)   # every rank stops at the same step
            stopping = ("signal" if signalled else "early_stop" if early_stop
                        else "max_steps" if opt.max_steps and total_iters >= opt.max_steps else None)
            if stopping or epoch_iter >= epoch_batches:
                break
        progress.close()
        if stopping and epoch_iter < epoch_batches:   # stopped inside the epoch: save the exact position
            save("latest", epoch, epoch_iter)
            if ctx.is_main:
                tqdm.write(stop_line(epoch, epoch_iter))
            break

        # ------------------------------------------------------------ end of epoch
        epoch_mean = ctx.average(epoch_losses.means())
        for name, scheduler in schedulers.items():
            step_scheduler(scheduler, sum(epoch_mean.values()))
            writer.add_scalar(f"lr/{name}", model.optimizers[name].param_groups[0]["lr"], epoch)
        for name, value in epoch_mean.items():
            writer.add_scalar(f"epoch_loss/{name}", value, epoch)
        # before the latest save, so that it holds the monitor's state after these observations
        early_stop = observe({f"epoch_loss/{k}": v for k, v in epoch_mean.items()}, epoch, (epoch + 1, 0))
        if opt.eval_freq and epoch % opt.eval_freq == 0:
            early_stop = validate(epoch, f"epoch_{epoch}", (epoch + 1, 0)) or early_stop
        stopping = stopping or ("early_stop" if early_stop else None)
        save("latest", epoch + 1, 0)
        if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch:
            save(str(epoch), epoch + 1, 0)
            if ctx.is_main:
                ckpt.prune(opt.keep_checkpoints, current_epoch=epoch)
        if ctx.is_main:
            tqdm.write(f"epoch {epoch}/{last_epoch} done: " + ", ".join(f"{k} {v:.3f}" for k, v in epoch_mean.items()))
            if skipped_line := skipped_images.end_epoch(epoch):
                tqdm.write(skipped_line)
        if stopping and (epoch < last_epoch or stopping == "early_stop"):
            if ctx.is_main:
                tqdm.write(stop_line(epoch + 1, 0))
            break

    stop.restore()
    if profiler and (table := profiler.close()):   # the run ended inside the profiled iterations
        tqdm.write(f"profile of {profiler.seen - 1} iterations (trace: {profiler.trace_path}):\n{table}")
    if monitor and monitor.best:
        writer.add_hparams({k: v for k, v in vars(opt).items() if isinstance(v, (int, float, str, bool))},
                           {f"hparam/{opt.monitor}": monitor.best["value"]}, run_name="hparams")
    writer.close()
    if ctx.is_main:
        if skipped_images.run_summary():
            print(skipped_images.run_summary())
        if opt.fast_dev_run:
            print(f"fast_dev_run: {total_iters} iterations ran through training, logging, "
                  f"{'validation, ' if evaluator else 'no validation (no held-out split), '}and saving "
                  f"({', '.join(sorted(os.listdir(run_dir)))}); deleted the temporary folder {opt.checkpoints_dir}")
            shutil.rmtree(opt.checkpoints_dir, ignore_errors=True)
        else:
            print(f"checkpoints: {run_dir}\nTensorBoard: tensorboard --logdir {opt.log_dir or os.path.join(run_dir, 'tb')}")


if __name__ == "__main__":
    main(sys.argv[1:])
