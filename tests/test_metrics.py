"""Paired metrics (PSNR/SSIM/L1), FID's matrix square root against closed forms, KID, feature extractors."""
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import write_images
from util.errors import UserError
from util.eval import fid as fid_lib
from util.eval.feature_extractors import FEATURE_EXTRACTORS
from util.eval.metrics import SSIM_K1, SSIM_K2, compare_folders, paired_scores, ssim
from util.image_io import read_image


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """Reference PSNR in dB of two uint8 arrays (inf when identical), written independently of the product."""
    mse = np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)


def test_ssim_of_constant_images_matches_the_luminance_formula():
    a, b = 0.3, 0.7
    x, y = torch.full((1, 3, 16, 16), a, dtype=torch.float64), torch.full((1, 3, 16, 16), b, dtype=torch.float64)
    c1 = SSIM_K1 ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)   # no variance: the contrast term is c2/c2 = 1
    assert float(ssim(x, y)[0]) == pytest.approx(expected, abs=1e-9)


def test_ssim_identity_noise_and_anticorrelation():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    noisy = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    s_noisy = ssim(x, noisy)
    assert (s_noisy < 0.95).all() and (s_noisy > 0.3).all()
    assert (ssim(x, 1 - x) < 0).all()        # inverted structure: negative covariance


def test_ssim_matches_a_direct_window_computation():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 1, 11, 11, generator=g).double(), torch.rand(1, 1, 11, 11, generator=g).double()
    coords = torch.arange(11, dtype=torch.float64) - 5
    w = torch.exp(-coords ** 2 / (2 * 1.5 ** 2))
    w = torch.outer(w, w) / torch.outer(w, w).sum()             # one window covers the whole image
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy, cxy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum(), (w * (x - mx) * (y - my)).sum()
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    assert float(ssim(x, y)[0]) == pytest.approx(float(expected), abs=1e-10)
    with pytest.raises(UserError, match="at least 11x11"):
        ssim(x[..., :10, :10], y[..., :10, :10])


def test_paired_scores_psnr_and_l1_values():
    x = torch.zeros(1, 3, 12, 12)
    y = torch.full((1, 3, 12, 12), 0.1)
    scores = paired_scores(x, y)
    assert float(scores["psnr"][0]) == pytest.approx(20.0)     # mse 0.01 -> 10 log10(1 / 0.01)
    assert float(scores["l1"][0]) == pytest.approx(0.1)
    assert float(paired_scores(x, x)["psnr"][0]) == math.inf


def test_compare_folders_keeps_psnr_and_adds_ssim_l1(tmp_path):
    write_images(tmp_path / "a", 2, size=(16, 16), seed=0)
    write_images(tmp_path / "b", 2, size=(16, 16), seed=1)
    result = compare_folders(str(tmp_path / "a"), str(tmp_path / "b"))
    assert set(result) == {"psnr", "ssim", "l1", "count"} and result["count"] == 2
    from PIL import Image
    a, b = (np.asarray(Image.open(tmp_path / d / "img_000.png")) for d in "ab")
    b1 = np.asarray(Image.open(tmp_path / "b" / "img_001.png"))
    a1 = np.asarray(Image.open(tmp_path / "a" / "img_001.png"))
    assert result["psnr"] == pytest.approx((psnr(a, b) + psnr(a1, b1)) / 2)
    assert compare_folders(str(tmp_path / "a"), str(tmp_path / "a"))["ssim"] == pytest.approx(1.0)


# ---------------------------------------------------------------- FID
def _random_covariance(d, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_frechet_distance_closed_form_for_commuting_covariances():
    # Same eigenvectors: tr sqrt(S1 S2) = sum sqrt(l1 * l2).
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    l1, l2 = torch.tensor([1.0, 2, 3, 4, 5, 6]).double(), torch.tensor([6.0, 1, 0.5, 2, 9, 0.1]).double()
    s1, s2 = q @ torch.diag(l1) @ q.T, q @ torch.diag(l2) @ q.T
    mu1, mu2 = torch.zeros(6).double(), torch.arange(6).double()
    expected = float((mu1 - mu2).pow(2).sum() + (l1 + l2 - 2 * (l1 * l2).sqrt()).sum())
    assert fid_lib.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_closed_form_for_non_commuting_2x2():
    # For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); here M = S1 S2 (similar to a PSD matrix).
    s1 = torch.tensor([[2.0, 0.8], [0.8, 1.0]]).double()
    s2 = torch.tensor([[0.5, -0.3], [-0.3, 3.0]]).double()
    m = s1 @ s2
    tr_sqrt = math.sqrt(float(m.trace()) + 2 * math.sqrt(float(torch.det(m))))
    expected = float(s1.trace() + s2.trace()) - 2 * tr_sqrt + 1.0   # |mu1 - mu2|^2 = 1
    mu1, mu2 = torch.tensor([0.0, 0.0]).double(), torch.tensor([1.0, 0.0]).double()
    assert fid_lib.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert fid_lib.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_sqrtm_psd_squares_back_even_when_singular():
    s = _random_covariance(8, 3)
    s[:, 0] = s[0, :] = 0                         # rank-deficient, as with fewer images than features
    root = fid_lib.sqrtm_psd(s)
    assert torch.allclose(root @ root, s, atol=1e-10)


def test_streaming_stats_equal_one_shot_and_estimate_known_gaussians():
    g = torch.Generator().manual_seed(0)
    d = 4
    cov = _random_covariance(d, 1)
    chol = torch.linalg.cholesky(cov)
    x = torch.randn(20000, d, generator=g, dtype=torch.float64) @ chol.T + 3.0
    y = torch.randn(20000, d, generator=g, dtype=torch.float64) @ chol.T
    stats_x, stats_y = fid_lib.FeatureStats(), fid_lib.FeatureStats(keep_features=False)
    for chunk in x.split(777):                     # uneven batches
        stats_x.update(chunk)
    stats_y.update(y)
    assert stats_x.count == 20000
    assert torch.allclose(stats_x.covariance(), torch.cov(x.T), atol=1e-10)
    assert torch.allclose(stats_x.mean, x.mean(0), atol=1e-12)
    # Same covariance, means 3 apart in each of 4 dimensions: FID = 4 * 9 = 36.
    assert fid_lib.fid(stats_x, stats_y) == pytest.approx(36.0, rel=0.02)
    assert torch.equal(stats_x.features().double(), x.float().double())


# ---------------------------------------------------------------- KID
def _naive_mmd2(x, y):
    x, y = x.double().numpy(), y.double().numpy()
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3
    m, n = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return kxx + kyy - 2 * kxy


def test_kid_is_the_unbiased_polynomial_mmd():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g) + 1
    result = fid_lib.kid(x, y, subset_size=7, subsets=3)     # each subset is the whole set
    assert result["kid"] == pytest.approx(_naive_mmd2(x, y), rel=1e-9)
    assert result["kid_std"] == pytest.approx(0.0, abs=1e-9)
    same = fid_lib.kid(torch.randn(400, 5, generator=g), torch.randn(400, 5, generator=g), subset_size=100, subsets=20)
    shifted = fid_lib.kid(torch.randn(400, 5, generator=g), torch.randn(400, 5, generator=g) + 1, subset_size=100, subsets=20)
    assert abs(same["kid"]) < 0.05 < shifted["kid"]


# ---------------------------------------------------------------- feature extractors
def test_random_conv_features_are_deterministic_and_sized():
    images = torch.rand(3, 3, 40, 50) * 2 - 1
    torch.manual_seed(123)
    a = FEATURE_EXTRACTORS.build("random_conv", None)(images)
    torch.manual_seed(456)                                   # the global RNG does not matter
    b = FEATURE_EXTRACTORS.build("random_conv", None)(images)
    assert a.shape == (3, 96) and torch.equal(a, b)
    gray = FEATURE_EXTRACTORS.build("random_conv", None)(images[:, :1])
    assert gray.shape == (3, 96)


def test_inception_without_weights_is_a_one_line_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(UserError, match="--inception_weights PATH") as info:
        FEATURE_EXTRACTORS.build("inception", None)
    assert "\n" not in str(info.value) and "inception_v3_google" in str(info.value)
    with pytest.raises(UserError, match="does not exist"):
        FEATURE_EXTRACTORS.build("inception", str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(UserError, match="not torchvision Inception-v3 weights"):
        FEATURE_EXTRACTORS.build("inception", str(bad))


def test_inception_loads_weights_from_a_file_and_gives_2048_features(tmp_path):
    import torchvision
    net = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.pth"
    torch.save(net.state_dict(), path)
    extractor = FEATURE_EXTRACTORS.build("inception", str(path))
    with torch.no_grad():
        features = extractor(torch.rand(1, 3, 32, 32) * 2 - 1)
    assert features.shape == (1, 2048) and torch.isfinite(features).all()


def test_16bit_outputs_are_scored_at_full_precision(tmp_path):
    """A 16-bit ramp scored against its own 8-bit rendering: read through the one image reader it is
    nearly identical (PSNR > 45 dB); opened with PIL's convert("RGB") it would clip at 255 (17 levels)."""
    ramp = (np.arange(64 * 64, dtype=np.float64).reshape(64, 64) / (64 * 64 - 1) * 65535).round().astype(np.uint16)
    for folder in ("pred", "target"):
        os.makedirs(tmp_path / folder)
    Image.fromarray(ramp).save(tmp_path / "pred" / "x.png")   # mode I;16
    Image.fromarray((ramp / 257).round().astype(np.uint8)).save(tmp_path / "target" / "x.png")
    decoded = read_image(str(tmp_path / "pred" / "x.png"))
    assert decoded.bits == 16 and decoded.gray
    assert len(torch.unique(decoded.unit(1))) > 4000          # not 17 clipped levels
    assert abs(float(decoded.unit(1).max()) - 1.0) < 1e-6
    scores = compare_folders(str(tmp_path / "pred"), str(tmp_path / "target"))
    assert scores["psnr"] > 45 and scores["l1"] < 0.002


def test_tiny_image_in_an_evaluation_folder_is_refused_by_name(tmp_path, capsys):
    from util.eval import __main__ as eval_cli
    for folder, colour in (("pred", (10, 20, 30)), ("target", (10, 20, 31))):
        os.makedirs(tmp_path / folder)
        Image.new("RGB", (16, 16), colour).save(tmp_path / folder / "big.png")
        Image.new("RGB", (1, 1), colour).save(tmp_path / folder / "tiny.png")
    with pytest.raises(SystemExit) as info:
        eval_cli.main(["--pred", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--gpu_ids", "-1"])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "Traceback" not in err
    assert err.startswith("error: ") and "tiny.png is 1x1" in err and "11x11" in err
