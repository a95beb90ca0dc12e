"""--batched_calls auto (one call on the concatenated batch) gives the losses and gradients of one call per image set.

For every model and every norm the batching applies to (instance, none), one training iteration's
steps are run both ways from the same weights, inputs and random state, without optimizer updates
in between so that every step sees the same weights: each loss term and the gradient of every
parameter must agree to float tolerance. Batch norm keeps the separate calls (its batch statistics
would mix real and fake images), which the last test checks.
"""
import random

import pytest
import torch

from models import create_model
from options.train_options import TrainOptions

TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--crop_size", "32", "--load_size", "32",
        "--netG", "resnet_6blocks", "--seed", "0"]
MODELS = {
    "cycle_gan": [],
    "cycle_gan_no_identity": ["--lambda_identity", "0"],
    "pix2pix": ["--model", "pix2pix", "--no_dropout"],   # resnet G: a unet_128 with instance norm needs crop 128
    "cut": ["--model", "cut", "--num_patches", "16", "--netF_nc", "16"],
    "fastcut": ["--model", "fastcut", "--num_patches", "16", "--netF_nc", "16"],
    "cut_wgangp": ["--model", "cut", "--num_patches", "16", "--netF_nc", "16", "--gan_mode", "wgangp"],
}


def build(tmp_path, args, batched):
    """A model from `args` on the CPU with --batched_calls auto/off, its data-shaped parts built from a fixed batch."""
    opt = TrainOptions().parse(["--dataroot", str(tmp_path), "--checkpoints_dir", str(tmp_path), *TINY, *args,
                                "--batched_calls", "auto" if batched else "off"])
    torch.manual_seed(0)
    model = create_model(opt, torch.device("cpu"))
    model.initialize_from_batch(batch_for(opt))
    return model


def batch_for(opt):
    """Two fixed (2, C, 32, 32) image batches in [-1, 1]."""
    g = torch.Generator().manual_seed(1)
    return {"A": torch.rand(2, opt.input_nc, 32, 32, generator=g) * 2 - 1,
            "B": torch.rand(2, opt.output_nc, 32, 32, generator=g) * 2 - 1}


def step_results(model):
    """Losses and parameter gradients of each training step of one iteration (no optimizer updates)."""
    random.seed(0)        # the image pools' coin flips
    torch.manual_seed(0)  # CUT's patch positions, flips and the WGAN-GP mixing
    model.set_input(batch_for(model.opt))
    model.forward()
    results = {}
    for step in model.training_steps():
        model.freeze(step.frozen)
        for net in model.nets.values():
            net.zero_grad(set_to_none=True)
        losses = step.compute_losses()
        sum(losses.values()).backward()
        grads = {f"{name}.{key}": p.grad.clone() for name, net in model.nets.items()
                 for key, p in net.named_parameters() if p.grad is not None}
        results[step.name] = ({k: v.detach().clone() for k, v in losses.items()}, grads)
    return results


def assert_close_scaled(actual, expected, what):
    """Elementwise agreement to 1e-5 of the tensor's largest magnitude, plus 1e-6.

    Without normalisation (--norm none) untrained gradients reach ~1e4, so sums taken in another order
    differ by a few float32 ulps of that scale in elements that are themselves small; a conv bias right
    before instance norm has a true gradient of 0, of which only float noise (~1e-7) is left.
    """
    tolerance = 1e-5 * expected.abs().max().item() + 1e-6
    error = (actual - expected).abs().max().item()
    assert error <= tolerance, f"{what}: max error {error:.3g} > {tolerance:.3g}"


@pytest.mark.parametrize("norm", ["instance", "none"])
@pytest.mark.parametrize("name", list(MODELS))
def test_batched_calls_give_the_unbatched_losses_and_gradients(tmp_path, name, norm):
    args = MODELS[name] + ["--norm", norm]
    batched_model, plain_model = build(tmp_path, args, True), build(tmp_path, args, False)
    assert batched_model.batch_calls and not plain_model.batch_calls
    for net_name, net in plain_model.nets.items():   # the same seed built the same weights
        for key, value in net.state_dict().items():
            torch.testing.assert_close(batched_model.nets[net_name].state_dict()[key], value)
    batched, plain = step_results(batched_model), step_results(plain_model)
    assert batched.keys() == plain.keys()
    for step, (plain_losses, plain_grads) in plain.items():
        batched_losses, batched_grads = batched[step]
        assert batched_losses.keys() == plain_losses.keys()
        for term, value in plain_losses.items():
            assert torch.isfinite(value) and value.abs() > 0, (step, term)
            torch.testing.assert_close(batched_losses[term], value, atol=1e-5, rtol=1e-4, msg=f"{step} loss {term}")
        assert batched_grads.keys() == plain_grads.keys() and plain_grads
        for key, grad in plain_grads.items():
            assert grad.abs().sum() > 0 or key.endswith(".bias"), (step, key)
            assert_close_scaled(batched_grads[key], grad, f"{step} grad {key}")


def test_batched_cycle_gan_runs_three_generator_calls_instead_of_six(tmp_path):
    model = build(tmp_path, [], True)
    calls = []
    for name in ("G_A", "G_B"):
        model.nets[name].register_forward_hook(lambda _m, inputs, _out, name=name: calls.append((name, inputs[0].shape[0])))
    step_results(model)
    assert calls == [("G_A", 4), ("G_B", 6), ("G_A", 2)]   # batch 2: [A, B], [B, fake_B, A], fake_A


def test_batch_norm_keeps_separate_calls(tmp_path):
    model = build(tmp_path, ["--model", "pix2pix", "--no_dropout"], True)   # pix2pix defaults to batch norm
    assert model.opt.norm == "batch" and not model.batch_calls
    calls = []
    model.nets["D"].register_forward_hook(lambda _m, inputs, _out: calls.append(inputs[0].shape[0]))
    step_results(model)
    assert calls == [2, 2, 2]   # D on real, D on fake, then D on fake for the generator


def test_batched_cut_reuses_the_forward_pass_as_its_patchnce_keys(tmp_path):
    model = build(tmp_path, MODELS["cut"], True)
    calls = []
    model.nets["G"].register_forward_hook(lambda _m, inputs, _out: calls.append(inputs[0].shape[0]))
    step_results(model)
    assert calls == [4, 4]   # G on [A, B] (output and keys), G on [G(A), G(B)] (queries); unbatched: 4 calls


def test_generator_features_with_output_match_the_plain_calls():
    from models.networks.generators import GENERATORS
    torch.manual_seed(0)
    G = GENERATORS.get("resnet_6blocks")(3, 3, 8, torch.nn.InstanceNorm2d, False)
    x = torch.randn(2, 3, 32, 32)
    for layers in ([0, 4, 8, 12, 16], [2, 8], [5]):   # 8 and 2 are norms that an in-place ReLU follows
        out, feats = G(x, layer_ids=layers, with_output=True)
        torch.testing.assert_close(out, G(x), atol=0, rtol=0)
        for got, want in zip(feats, G(x, layer_ids=layers), strict=True):
            torch.testing.assert_close(got, want, atol=0, rtol=0)
