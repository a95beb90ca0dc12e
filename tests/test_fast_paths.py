"""Fast paths give the plain path's results: channels_last, torch.compile and each Adam implementation."""
import shutil
import warnings

import pytest
import torch

from models import create_model
from models.base_model import adam_kwargs
from options.train_options import TrainOptions, speed_options
from tests.helpers import assert_same_networks, build_nets, checkpoint_nets, run_train
from util.train.fast_paths import apply_fast_paths, compile_unsupported_reason

FLAGS = ["--pool_size", "0", "--max_dataset_size", "3", "--lr_policy", "step"]


def train_variant(root, tmp_path, name, *extra):
    """Train the tiny CycleGAN for one epoch (3 iterations) with `extra` flags; return its networks."""
    run_train(root, tmp_path / "ckpt", name, *FLAGS, *extra)
    return checkpoint_nets(tmp_path / "ckpt" / name / "latest.pt")


# channels_last sums convolutions in another order: float noise of ~1e-7 in the gradients, which Adam's
# normalisation can lift to ~1e-5 in weights whose gradient is nearly zero; the outputs must still agree.
@pytest.mark.parametrize("extra, weight_atol", [(["--channels_last"], 1e-4), (["--adam_impl", "fused"], 1e-5),
                                                (["--adam_impl", "foreach"], 1e-5)],
                         ids=["channels_last", "adam_fused", "adam_foreach"])
def test_fast_path_trains_like_plain(unaligned_root, tmp_path, extra, weight_atol):
    plain = train_variant(unaligned_root, tmp_path, "plain", "--adam_impl", "for_loop")
    fast = train_variant(unaligned_root, tmp_path, "fast", "--adam_impl", "for_loop", *extra)
    built = build_nets("--dataroot", unaligned_root, "--ngf", "8", "--ndf", "8", "--netG", "resnet_6blocks")
    assert_same_networks(plain, fast, built, weight_atol)


def test_channels_last_reaches_networks_and_inputs(unaligned_root):
    opt = TrainOptions().parse(["--dataroot", str(unaligned_root), "--ngf", "8", "--ndf", "8", "--channels_last"])
    model = create_model(opt, torch.device("cpu"))
    apply_fast_paths(model.nets, model.device, **speed_options(opt))
    weight = next(p for p in model.nets["G_A"].parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    model.set_input({"A": torch.randn(1, 3, 16, 16), "B": torch.randn(1, 3, 16, 16)})
    assert model.real_A.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():  # the forward pass agrees with the plain layout
        plain = create_model(opt, torch.device("cpu")).nets["G_A"]
        plain.load_state_dict(model.nets["G_A"].state_dict())
        torch.testing.assert_close(model.nets["G_A"](model.real_A), plain(model.real_A.contiguous()), atol=1e-5, rtol=1e-4)


def test_instance_norm_gradient_workaround_for_channels_last_on_cpu():
    """torch's CPU instance_norm backward is wrong for a channels_last incoming gradient; the hook fixes it."""
    from util.train.fast_paths import contiguous_norm_gradients
    torch.manual_seed(0)
    x = torch.randn(1, 8, 16, 16)
    grad = torch.randn(1, 8, 16, 16)
    reference, fixed = (torch.nn.InstanceNorm2d(8) for _ in range(2))
    contiguous_norm_gradients(fixed)
    expected_in = x.clone().requires_grad_(True)
    reference(expected_in).backward(grad)
    got_in = x.clone().to(memory_format=torch.channels_last).requires_grad_(True)
    fixed(got_in).backward(grad.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got_in.grad, expected_in.grad, atol=1e-5, rtol=1e-4)


def test_adam_impl_selects_implementation():
    assert adam_kwargs("auto", torch.device("cpu")) == {}
    assert adam_kwargs("auto", torch.device("cuda")) == {"fused": True}
    assert adam_kwargs("for_loop", torch.device("cuda")) == {"foreach": False}
    assert adam_kwargs("foreach", torch.device("cpu")) == {"foreach": True}


def test_compile_falls_back_with_a_warning_without_a_compiler(unaligned_root, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    opt = TrainOptions().parse(["--dataroot", str(unaligned_root), "--ngf", "8", "--ndf", "8", "--compile"])
    model = create_model(opt, torch.device("cpu"))
    with pytest.warns(UserWarning, match="--compile: .*C\\+\\+ compiler.*eagerly"):
        apply_fast_paths(model.nets, model.device, **speed_options(opt))
    assert all(getattr(net, "_compiled_call_impl", None) is None for net in model.nets.values())


@pytest.mark.skipif(compile_unsupported_reason(torch.device("cpu")) is not None,
                    reason=f"torch.compile unsupported here: {compile_unsupported_reason(torch.device('cpu'))}")
def test_compile_matches_eager_forward_and_gradients(tmp_path):
    """One generator forward + backward through `--compile` (kept to one small graph: compiling is slow)."""
    args = ["--dataroot", str(tmp_path), "--model", "pix2pix", "--netG", "resnet_6blocks", "--norm", "instance",
            "--no_dropout", "--ngf", "8", "--ndf", "8"]
    opt = TrainOptions().parse(args + ["--compile"])
    model = create_model(opt, torch.device("cpu"))
    eager = build_nets(*args)["G"]
    eager.load_state_dict(model.nets["G"].state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a silent fallback to eager would make this test vacuous
        apply_fast_paths(model.nets, model.device, **speed_options(opt))
    compiled = model.nets["G"]
    assert compiled._compiled_call_impl is not None
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = []
    for net in (eager, compiled):
        y = net(x)
        y.square().mean().backward()
        outputs.append(y.detach())
    torch.testing.assert_close(outputs[1], outputs[0], atol=1e-5, rtol=1e-4)
    for (name, p_eager), p_compiled in zip(eager.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(p_compiled.grad, p_eager.grad, atol=1e-5, rtol=1e-3, msg=name)
