"""--amp auto picks bf16 only where the hardware computes it natively."""
import torch

from util.device import cpu_info, resolve_amp


def test_auto_is_bf16_on_cpus_with_native_bf16_only():
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu, cpu_flags={"avx2", "avx512f", "avx512_bf16"}) == "bf16"
    assert resolve_amp("auto", cpu, cpu_flags={"avx512f", "amx_bf16", "amx_tile"}) == "bf16"
    assert resolve_amp("auto", cpu, cpu_flags={"avx2", "fma", "avx512f"}) == "none"
    assert resolve_amp("auto", cpu, cpu_flags=set()) == "none"


def test_explicit_modes_are_kept():
    for amp in ("none", "fp16", "bf16"):
        assert resolve_amp(amp, torch.device("cpu"), cpu_flags=set()) == amp


def test_auto_on_cuda_follows_is_bf16_supported(monkeypatch):
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_amp("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_amp("auto", cuda) == "none"


def test_cpu_info_reads_the_first_processor(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Test CPU\ncpu MHz\t\t: 2596.098\nflags\t\t: fpu avx2 avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: Other\n")
    info = cpu_info(str(path))
    assert info["model name"] == "Test CPU" and info["cpu MHz"] == "2596.098"
    assert info["flags"] == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_info(str(tmp_path / "missing")) == {"flags": set()}
