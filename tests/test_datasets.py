"""Tests for datasets/: file discovery, robust decoding, transforms, dataset modes, sampler, sample data."""
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from datasets import DATASETS, create_dataset
from util.image_io import find_images, load_image, to_model_range
from datasets.make_sample import main as make_sample_main
from datasets.make_sample import render_scene, to_domain_b
from datasets.sampler import ResumableSampler
from datasets.transforms import apply_transform, check_preprocess_options, sample_params
from util.errors import UserError


def make_opt(root, **overrides):
    opt = dict(dataroot=str(root), phase="train", dataset_mode="unaligned", direction="AtoB",
               input_nc=3, output_nc=3, load_size=20, crop_size=16, preprocess="resize_and_crop",
               no_flip=False, max_dataset_size=float("inf"), serial_batches=False, seed=0, isTrain=True, skip_bad_images=False)
    opt.update(overrides)
    return SimpleNamespace(**opt)


def noise_image(rng, w, h, mode="RGB"):
    channels = {"RGB": 3, "L": 1}[mode]
    arr = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
    return Image.fromarray(arr.squeeze(-1) if channels == 1 else arr, mode=mode)


def write_images(folder, n, size=(24, 18), colour=None, prefix="", ext=".png"):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)) + n)
    paths = []
    for i in range(n):
        img = Image.new("RGB", size, colour) if colour else noise_image(rng, *size)
        path = os.path.join(folder, f"{prefix}{i:03d}{ext}")
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture
def unaligned_root(tmp_path):
    write_images(tmp_path / "trainA", 3, colour=(255, 0, 0), prefix="a")
    write_images(tmp_path / "trainB", 5, colour=(0, 0, 255), prefix="b")
    return tmp_path


# ---------------------------------------------------------------- dataset modes

def test_unaligned_shapes_range_paths(unaligned_root):
    ds = create_dataset(make_opt(unaligned_root, output_nc=1))
    assert len(ds) == 5
    item = ds[0]
    assert item["A"].shape == (3, 16, 16) and item["B"].shape == (1, 16, 16)
    for key in "AB":
        assert item[key].dtype == torch.uint8   # training items: normalised on the device by set_input
    assert os.path.basename(item["A_paths"]) == "a000.png"
    assert os.path.basename(item["B_paths"]).startswith("b")
    assert torch.equal(item["A"][0], torch.full((16, 16), 255, dtype=torch.uint8))
    assert torch.equal(item["A"][2], torch.zeros(16, 16, dtype=torch.uint8))


@pytest.mark.parametrize("mode", ["unaligned", "aligned"])
def test_uint8_batches_normalise_to_the_float_pipeline_exactly(tmp_path, mode):
    """Training batches leave the workers as uint8; to_model_range (set_input's step on the device) must give
    bit-for-bit the old pipeline's floats: torchvision's to_tensor of the augmented PIL image, * 2 - 1."""
    import torchvision.transforms.functional as TF
    from datasets.transforms import augment_uint8
    if mode == "aligned":
        rng = np.random.default_rng(3)
        os.makedirs(tmp_path / "train")
        for i in range(3):
            noise_image(rng, 44, 22).save(tmp_path / "train" / f"ab{i}.png")
    else:
        write_images(tmp_path / "trainA", 3, size=(27, 19))
        write_images(tmp_path / "trainB", 3, size=(31, 23))
    opt = make_opt(tmp_path, dataset_mode=mode, load_size=22, crop_size=12, serial_batches=True)  # no B draw first
    ds = create_dataset(opt)
    items = [ds[(i, 10 + i)] for i in range(3)]
    batch = torch.utils.data.default_collate(items)
    assert batch["A"].dtype == torch.uint8 and batch["A"].shape == (3, 3, 12, 12)
    normalised = to_model_range(batch["A"])
    assert normalised.dtype == torch.float32 and normalised.min() >= -1 and normalised.max() <= 1
    # The old float path, per image, from the same decoded file and the same augmentation draw.
    expected = []
    for i, item in enumerate(items):
        img = load_image(item["A_paths"], grayscale=False)
        if mode == "aligned":
            img = img.crop((0, 0, img.size[0] // 2, img.size[1]))
        params = sample_params(opt, img.size, ds.resolve_item((i, 10 + i))[1])
        uint8 = augment_uint8(img, opt, params, False, True)
        assert torch.equal(uint8, item["A"])
        old = TF.to_tensor(TF.to_pil_image(uint8)) * 2.0 - 1.0   # the augmented PIL image, as before
        assert torch.equal(apply_transform(img, opt, params, False, True), old)
        expected.append(old)
    assert torch.equal(normalised, torch.stack(expected))
    assert normalised.unique().numel() > 100   # real noise images, not a constant
    assert to_model_range(normalised) is normalised   # floats (test-time items) pass unchanged


def test_unaligned_serial_vs_random_pairing(unaligned_root):
    serial = create_dataset(make_opt(unaligned_root, serial_batches=True))
    assert [os.path.basename(serial[i]["B_paths"]) for i in range(5)] == [f"b{i:03d}.png" for i in range(5)]
    assert os.path.basename(serial[4]["A_paths"]) == "a001.png"  # A wraps around: 4 % 3
    shuffled = create_dataset(make_opt(unaligned_root))
    picks = [shuffled[(0, seed)]["B_paths"] for seed in range(20)]
    assert len(set(picks)) > 1
    assert shuffled[(0, 7)]["B_paths"] == shuffled[(0, 7)]["B_paths"]  # the sample seed decides the pick
    assert shuffled[3]["B_paths"] == shuffled[3]["B_paths"]  # bare indices are seeded from opt.seed


def test_unaligned_btoa_swaps_folders_and_channels(unaligned_root):
    item = create_dataset(make_opt(unaligned_root, direction="BtoA", input_nc=1, serial_batches=True))[0]
    assert os.path.basename(item["A_paths"]).startswith("b") and os.path.basename(item["B_paths"]).startswith("a")
    assert item["A"].shape[0] == 1 and item["B"].shape[0] == 3


def test_unaligned_max_dataset_size(unaligned_root):
    assert len(create_dataset(make_opt(unaligned_root, max_dataset_size=2))) == 2


def test_aligned_same_crop_and_flip_for_both_halves(tmp_path):
    rng = np.random.default_rng(0)
    half = np.asarray(noise_image(rng, 22, 22))
    os.makedirs(tmp_path / "train")
    Image.fromarray(np.concatenate([half, half], axis=1)).save(tmp_path / "train" / "ab.png")
    ds = create_dataset(make_opt(tmp_path, dataset_mode="aligned", load_size=22, crop_size=12))
    outputs = []
    for seed in range(8):
        item = ds[(0, seed)]
        assert item["A"].shape == item["B"].shape == (3, 12, 12)
        assert torch.equal(item["A"], item["B"])
        assert item["A_paths"] == item["B_paths"] == str(tmp_path / "train" / "ab.png")
        outputs.append(item["A"])
    assert any(not torch.equal(outputs[0], other) for other in outputs[1:])  # the crops do vary


def test_aligned_btoa_swaps_halves(tmp_path):
    os.makedirs(tmp_path / "train")
    ab = Image.new("RGB", (32, 16), (255, 0, 0))
    ab.paste((0, 0, 255), (16, 0, 32, 16))
    ab.save(tmp_path / "train" / "ab.png")
    item = create_dataset(make_opt(tmp_path, dataset_mode="aligned", direction="BtoA", crop_size=8))[0]
    assert item["A"][2].min() == 255 and item["B"][0].min() == 255  # A is the blue (right) half


def test_single_dataset_folder_file_and_test_mode(tmp_path):
    write_images(tmp_path / "imgs" / "sub", 2, size=(30, 20))
    ds = create_dataset(make_opt(tmp_path / "imgs", dataset_mode="single", input_nc=1, isTrain=False))
    assert len(ds) == 2
    item = ds[1]
    assert set(item) == {"A", "A_paths", "A_bits", "A_gray"} and item["A"].shape == (1, 16, 16)
    assert item["A_bits"] == 8 and item["A_gray"] is False  # the source format, from the same decode
    assert torch.equal(ds[(1, 0)]["A"], ds[(1, 99)]["A"])  # test mode: centre crop, no randomness
    one = create_dataset(make_opt(item["A_paths"], dataset_mode="single", preprocess="none"))
    assert len(one) == 1 and one[0]["A"].shape == (3, 20, 32)  # 30 / 4 = 7.5 rounds up


def test_missing_unaligned_folder_names_layout(tmp_path):
    write_images(tmp_path / "train", 1)
    with pytest.raises(UserError, match=r"trainA.*trainB.*--dataset_mode aligned"):
        create_dataset(make_opt(tmp_path))


def test_missing_aligned_folder_suggests_unaligned(unaligned_root):
    with pytest.raises(UserError, match=r"missing folder .*train.*--dataset_mode unaligned"):
        create_dataset(make_opt(unaligned_root, dataset_mode="aligned"))


def test_unknown_dataset_mode_lists_choices(tmp_path):
    with pytest.raises(UserError, match="aligned, single, unaligned"):
        create_dataset(make_opt(tmp_path, dataset_mode="paired"))
    assert DATASETS.names() == ["aligned", "single", "unaligned"]


def test_empty_folder_raises(tmp_path):
    (tmp_path / "trainA").mkdir()
    write_images(tmp_path / "trainB", 1)
    (tmp_path / "trainA" / "notes.txt").write_text("x")
    with pytest.raises(UserError, match=r"no images found in .*trainA.*--dataroot"):
        create_dataset(make_opt(tmp_path))


def test_skip_bad_images_replaces_unreadable_file(tmp_path, capsys):
    write_images(tmp_path / "imgs", 2)
    bad = tmp_path / "imgs" / "000_bad.png"
    bad.write_bytes(b"")
    ds = create_dataset(make_opt(tmp_path / "imgs", dataset_mode="single", skip_bad_images=True))
    item = ds[1]
    assert item["A_paths"].endswith("001.png") and item["skipped_images"] == 1  # sorted: 000, 000_bad, 001
    assert ds[0]["skipped_images"] == 0
    ds[1]
    warning = capsys.readouterr().err.strip()
    assert warning.startswith("warning: ") and "000_bad.png" in warning and len(warning.splitlines()) == 1
    with pytest.raises(UserError, match="000_bad.png"):
        create_dataset(make_opt(tmp_path / "imgs", dataset_mode="single"))[1]


# ---------------------------------------------------------------- transforms

def test_crop_larger_than_load_is_user_error(tmp_path):
    with pytest.raises(UserError, match=r"--crop_size 32.*--load_size 20"):
        check_preprocess_options(make_opt(tmp_path, crop_size=32))
    check_preprocess_options(make_opt(tmp_path, crop_size=32, preprocess="crop"))
    with pytest.raises(UserError, match="--preprocess"):
        check_preprocess_options(make_opt(tmp_path, preprocess="zoom"))


def transform(img, opt, seed=0, is_train=True, grayscale=False):
    params = sample_params(opt, img.size, torch.Generator().manual_seed(seed))
    return apply_transform(img, opt, params, grayscale, is_train)


def test_none_preprocess_rounds_to_multiple_of_4(tmp_path):
    opt = make_opt(tmp_path, preprocess="none")
    assert transform(Image.new("RGB", (37, 13)), opt).shape == (3, 12, 36)
    assert transform(Image.new("RGB", (26, 14)), opt).shape == (3, 16, 28)  # halves round up
    assert transform(Image.new("RGB", (1, 1)), opt).shape == (3, 4, 4)


def test_scale_width_keeps_aspect(tmp_path):
    opt = make_opt(tmp_path, preprocess="scale_width", load_size=40, crop_size=8)
    assert transform(Image.new("RGB", (80, 60)), opt).shape == (3, 32, 40)  # 30 rounded to the generators' multiple of 4
    assert transform(Image.new("RGB", (80, 8)), opt).shape == (3, 8, 40)  # height at least crop_size
    opt = make_opt(tmp_path, preprocess="scale_width_and_crop", load_size=40, crop_size=24)
    assert transform(Image.new("RGB", (80, 60)), opt).shape == (3, 24, 24)


def test_small_images_are_upscaled_to_fit_crop(tmp_path):
    for preprocess in ("crop", "resize_and_crop", "scale_width_and_crop"):
        opt = make_opt(tmp_path, preprocess=preprocess, load_size=16, crop_size=16)
        assert transform(Image.new("RGB", (1, 1), (9, 9, 9)), opt).shape == (3, 16, 16)
        assert transform(Image.new("RGB", (5, 40)), opt).shape == (3, 16, 16)


def test_flip_follows_params_and_options(tmp_path):
    img = Image.new("RGB", (16, 16))
    img.paste((255, 255, 255), (0, 0, 8, 16))  # white left half
    opt = make_opt(tmp_path, preprocess="crop")
    flipped = apply_transform(img, opt, {"crop_pos": (0, 0), "flip": True}, False, True)
    assert flipped[0, 0, 0] == -1 and flipped[0, 0, -1] == 1
    for no_flip, is_train in ((True, True), (False, False)):
        kept = apply_transform(img, make_opt(tmp_path, preprocess="crop", no_flip=no_flip),
                               {"crop_pos": (0, 0), "flip": True}, False, is_train)
        assert kept[0, 0, 0] == 1


def test_grayscale_gives_one_channel(tmp_path):
    rgb = Image.new("RGB", (20, 20), (255, 255, 255))
    assert transform(rgb, make_opt(tmp_path), grayscale=True).shape == (1, 16, 16)


def test_params_are_deterministic_per_generator(tmp_path):
    opt = make_opt(tmp_path, load_size=64, crop_size=16)
    draws = [sample_params(opt, (100, 80), torch.Generator().manual_seed(s)) for s in (3, 3, 4)]
    assert draws[0] == draws[1]
    assert all(0 <= v <= 64 - 16 for v in draws[0]["crop_pos"])


# ---------------------------------------------------------------- image files

def test_recursive_walk_and_uppercase_extensions(tmp_path):
    write_images(tmp_path / "x" / "deep", 1, ext=".PNG")
    write_images(tmp_path / "y", 1, ext=".JpEg")
    (tmp_path / "y" / "readme.md").write_text("no")
    found = find_images(str(tmp_path))
    assert [os.path.relpath(p, tmp_path) for p in found] == ["x/deep/000.PNG", "y/000.JpEg"]
    assert len(find_images(str(tmp_path), max_items=1)) == 1
    with pytest.raises(UserError, match="does not exist"):
        find_images(str(tmp_path / "nope"))


def test_exif_rotated_jpeg_is_rotated(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise when displayed
    img.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(str(tmp_path / "r.jpg"), grayscale=False).size == (20, 40)


def pixels(img):
    """Row-major list of pixel values (ints for 'L', [r, g, b] lists for 'RGB')."""
    arr = np.asarray(img)
    return arr.reshape(-1, *arr.shape[2:]).tolist()


def test_transparent_images_composite_on_white(tmp_path):
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 255))
    rgba.putpixel((1, 0), (0, 0, 0, 0))
    rgba.save(tmp_path / "rgba.png")
    assert pixels(load_image(str(tmp_path / "rgba.png"), False)) == [[255, 0, 0], [255, 255, 255]]
    pal = Image.new("P", (2, 1), 0)
    pal.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    pal.putpixel((1, 0), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    assert pixels(load_image(str(tmp_path / "p.png"), False)) == [[255, 255, 255], [0, 255, 0]]
    assert load_image(str(tmp_path / "p.png"), True).mode == "L"


def test_16bit_is_rescaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(tmp_path / "16.png")
    img = load_image(str(tmp_path / "16.png"), grayscale=True)
    assert img.mode == "L" and pixels(img) == [0, 128, 255]
    assert load_image(str(tmp_path / "16.png"), grayscale=False).getpixel((1, 0)) == (128, 128, 128)


def test_cmyk_and_tiny_images_load(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.tif")
    r, g, b = load_image(str(tmp_path / "c.tif"), False).getpixel((0, 0))
    assert r > 200 and g < 50 and b < 50
    Image.new("L", (1, 1), 7).save(tmp_path / "one.bmp")
    assert load_image(str(tmp_path / "one.bmp"), False).size == (1, 1)


@pytest.mark.parametrize("kind", ["truncated", "empty", "text"])
def test_unreadable_files_raise_user_error_naming_file(tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "truncated":
        noise_image(np.random.default_rng(0), 32, 32).save(path)
        path.write_bytes(path.read_bytes()[:400])
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_text("not an image")
    with pytest.raises(UserError, match=rf"cannot read image .*{kind}\.png: .*--skip_bad_images") as err:
        load_image(str(path), grayscale=False)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- sampler

def test_sampler_reproducible_per_epoch():
    a, b = ResumableSampler(10, seed=1), ResumableSampler(10, seed=1)
    assert list(a) == list(b)
    assert sorted(i for i, _ in a) == list(range(10))
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    assert [i for i, _ in ResumableSampler(5, seed=1, shuffle=False)] == [0, 1, 2, 3, 4]
    seeds = [s for _, s in a]
    assert len(set(seeds)) == 10 and all(0 <= s < 2 ** 63 for s in seeds)


def test_sampler_set_start_yields_tail_and_resets():
    sampler = ResumableSampler(9, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    sampler.set_start(4)
    assert len(sampler) == 5 and list(sampler) == full[4:]
    sampler.set_epoch(2)
    assert list(sampler) == full


def test_sampler_ranks_partition_epoch():
    shards = [list(ResumableSampler(10, seed=0, rank=r, world_size=3)) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    indices = [i for shard in shards for i, _ in shard]
    assert set(indices) == set(range(10)) and len(indices) == 12  # padded by repetition
    assert len({s for shard in shards for _, s in shard}) == 12  # every position has its own seed
    dropped = [ResumableSampler(10, seed=0, rank=r, world_size=3, drop_last=True, batch_size=2) for r in range(3)]
    assert [len(s) for s in dropped] == [2, 2, 2]
    with pytest.raises(UserError, match="--batch_size"):
        ResumableSampler(3, seed=0, world_size=2, drop_last=True, batch_size=2)


def test_sampler_drives_dataloader_reproducibly(unaligned_root):
    ds = create_dataset(make_opt(unaligned_root))

    def run(workers):
        loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=ResumableSampler(len(ds), seed=5),
                                             num_workers=workers)
        return [batch["B_paths"] for batch in loader]

    assert run(0) == run(1)


# ---------------------------------------------------------------- sample data

def test_make_sample_writes_known_mapping(tmp_path, capsys):
    out = tmp_path / "sample"
    make_sample_main(["--out", str(out), "--size", "16", "--n_train", "3", "--n_test", "2", "--seed", "0"])
    assert "wrote" in capsys.readouterr().out
    for split, n in (("trainA", 3), ("trainB", 3), ("testA", 2), ("testB", 2)):
        assert sorted(os.listdir(out / split)) == [f"{i:06d}.png" for i in range(n)]
    assert (out / "README.txt").read_text().startswith("Synthetic")
    for name in os.listdir(out / "testA"):
        a = Image.open(out / "testA" / name)
        assert np.array_equal(np.asarray(Image.open(out / "testB" / name)), np.asarray(to_domain_b(a)))
        assert not np.array_equal(np.asarray(a), np.asarray(to_domain_b(a)))
    assert not np.array_equal(np.asarray(Image.open(out / "trainA" / "000000.png")),
                              np.asarray(Image.open(out / "testA" / "000000.png")))
    make_sample_main(["--out", str(out), "--size", "16", "--n_train", "1", "--n_test", "1", "--seed", "0"])
    assert os.listdir(out / "trainA") == ["000000.png"]  # rerun overwrites, no stale files


def test_render_scene_deterministic():
    first = render_scene(np.random.default_rng(4), 16)
    assert first.size == (16, 16) and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(render_scene(np.random.default_rng(4), 16)))
