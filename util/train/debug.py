"""What people look at while debugging a run: the model summary at start, determinism, the profiler,
weight/gradient histograms."""
import os
from typing import Dict, List, Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def generator_gflops(net: nn.Module, size: int, device: torch.device) -> float:
    """GFLOPs of one forward pass of `net` on a zero image of `size` x `size` (channels: its first
    convolution's), counted by torch.utils.flop_counter in eval mode under a forked RNG, so neither
    BatchNorm statistics nor the random stream change."""
    channels = next(m for m in net.modules() if isinstance(m, nn.Conv2d)).in_channels
    counter = FlopCounterMode(display=False)
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), counter:
            net(torch.zeros(1, channels, size, size, device=device))
    finally:
        net.train(was_training)
    return counter.get_total_flops() / 1e9


def model_summary(nets: Dict[str, nn.Module], generator_names: List[str], size: int, device: torch.device) -> str:
    """A table of parameters per network and each generator's GFLOPs on one `size` x `size` image."""
    lines = [f"{'network':<10}{'parameters':>14}{'GFLOPs':>10}"]
    for name, net in nets.items():
        count = sum(p.numel() for p in net.parameters())
        flops = f"{generator_gflops(net, size, device):.3f}" if name in generator_names else "-"
        lines.append(f"{name:<10}{count:>14,}{flops:>10}")
    lines.append(f"(GFLOPs: one {size}x{size} image through each generator)")
    return "\n".join(lines)


def make_deterministic() -> None:
    """--deterministic: deterministic torch algorithms (an error where none exists), cuDNN without autotuning."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")   # needed by deterministic cuBLAS (CUDA >= 10.2)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


class StepProfiler:
    """--profile K: torch.profiler over K training iterations after one warm-up iteration.

    Call `step()` after every iteration; when the K iterations are done it writes the Chrome trace to
    `trace_path` and returns the table of the top operators by self time (None before and after);
    `close()` does the same for a run that ends earlier.
    """

    def __init__(self, steps: int, trace_path: str, device: torch.device, rows: int = 15):
        self.steps, self.trace_path, self.rows = steps, trace_path, rows
        self.activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            self.activities.append(torch.profiler.ProfilerActivity.CUDA)
        self.sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        self.seen = 0
        self.profiler: Optional[torch.profiler.profile] = None

    def step(self) -> Optional[str]:
        """Advance one iteration; returns the operator table once the profiled iterations are over."""
        self.seen += 1
        if self.seen == 1:   # the first iteration (allocations, lazy init) is not representative
            self.profiler = torch.profiler.profile(activities=self.activities, record_shapes=True)
            self.profiler.__enter__()
        elif self.seen == self.steps + 1:
            return self.close()
        return None

    def close(self) -> Optional[str]:
        """Stop profiling now (if still running): write the trace and return the operator table, else None."""
        if self.profiler is None:
            return None
        self.profiler.__exit__(None, None, None)
        os.makedirs(os.path.dirname(self.trace_path) or ".", exist_ok=True)
        self.profiler.export_chrome_trace(self.trace_path)
        table = self.profiler.key_averages().table(sort_by=self.sort_by, row_limit=self.rows)
        self.profiler = None
        return table


def add_histograms(writer, nets: Dict[str, nn.Module], step: int) -> None:
    """Histograms of every parameter (<net>/<param>) and its gradient (<net>/<param>/grad) in TensorBoard."""
    for net_name, net in nets.items():
        for name, param in net.named_parameters():
            writer.add_histogram(f"weights/{net_name}/{name}", param.detach().float().cpu(), step)
            if param.grad is not None:
                writer.add_histogram(f"grads/{net_name}/{name}", param.grad.detach().float().cpu(), step)
