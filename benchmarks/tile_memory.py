"""Peak memory and time of translating 1k/2k/4k images whole vs in tiles (CPU, small generator).

    python -m benchmarks.tile_memory [--sizes 1024 2048 4096] [--tile 512] [--tile_overlap 64]

Each measurement runs in a fresh subprocess and reads its peak resident set size (ru_maxrss), since
tracemalloc does not see torch's CPU allocations. Writes benchmarks/results/tile_memory.json, including
the largest and mean absolute difference between tiled and whole output where both ran.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from argparse import Namespace

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(size: int, tile: int, overlap: int, stats: str, out: str) -> None:
    """Translate one smooth random size x size image and save the output and peak memory to `out`."""
    sys.path.insert(0, ROOT)
    from models import networks
    from util.translate.inference import translate
    from util.translate.tiling import translate_tiled
    torch.manual_seed(0)
    opt = Namespace(netG="resnet_6blocks", ngf=8, norm="instance", init_type="normal", init_gain=0.02,
                    no_dropout=True, gpu_ids=[], upsample="transpose", antialias=False)
    generator = networks.build_generator(opt, 3, 3)
    gen = torch.Generator().manual_seed(size)
    low = torch.rand(1, 3, size // 32, size // 32, generator=gen) * 2 - 1
    image = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with torch.no_grad():
        output = translate(generator, image) if tile == 0 else translate_tiled(generator, image, tile, overlap, stats)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    torch.save({"output": output.half(), "peak_rss_mib": peak / 1024, "before_mib": base_rss / 1024,
                "seconds": seconds}, out)


def main() -> None:
    """Run every (size, whole/tiled) case in a subprocess and write the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096], help="square image sides")
    parser.add_argument("--tile", type=int, default=512, help="tile size of the tiled runs")
    parser.add_argument("--tile_overlap", type=int, default=64, help="overlap of the tiled runs")
    parser.add_argument("--tile_stats", default="mosaic", choices=["exact", "lowres", "mosaic"], help="statistics mode (test.py --tile_stats)")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "tile_memory.json"),
                        help="where the JSON goes")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, tile, overlap, stats, out = args.child
        return child(int(size), int(tile), int(overlap), stats, out)
    rows = []
    for size in args.sizes:
        outputs = {}
        for tile in (0, args.tile):
            tmp = f"{args.out}.{size}_{tile}.pt"
            subprocess.run([sys.executable, "-m", "benchmarks.tile_memory", "--child", str(size), str(tile),
                            str(args.tile_overlap), args.tile_stats, tmp], cwd=ROOT, check=True,
                           env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2")))
            result = torch.load(tmp, weights_only=True)
            os.remove(tmp)
            outputs[tile] = result.pop("output").float()
            rows.append({"size": size, "tile": tile or None, **result})
            print(json.dumps(rows[-1]), flush=True)
        diff = (outputs[0] - outputs[args.tile]).abs()
        rows.append({"size": size, "tiled_vs_whole_max_abs": diff.max().item(),
                     "tiled_vs_whole_mean_abs": diff.mean().item()})
        print(json.dumps(rows[-1]), flush=True)
    summary = {"generator": "resnet_6blocks, ngf 8, instance norm, random init", "device": "cpu",
               "tile": args.tile, "tile_overlap": args.tile_overlap, "tile_stats": args.tile_stats,
               "torch": torch.__version__, "rows": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
