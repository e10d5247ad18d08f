"""Outputs larger than memory: time, peak memory and seam visibility of a tiled run.

    python bench/tiling.py --size 2048 --max-memory 2GB --iterations 5
    python bench/tiling.py --size 4096 --iterations 3          # budget: the machine's free memory

The content is a square crop of the example photo scaled up to SIZE × SIZE. Seams: the mean image
gradient magnitude on the lines where tiles meet (each tile's top and left edges and the end of its
blending ramp), divided by the mean over the whole image; about 1 means no visible seam. Not a test.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import common
import impasto
from impasto import examples
from impasto.core import tiling


def seam_ratio(image: Image.Image, windows: list[tiling.Tile]) -> float:
    pixels = np.asarray(image, dtype=np.float64).mean(axis=2)  # (H, W) grey
    dx = np.abs(np.diff(pixels, axis=1))  # (H, W-1): between columns x and x+1
    dy = np.abs(np.diff(pixels, axis=0))
    columns = {
        x + d for w in windows if w.left > 0 for x in (w.left, w.left + tiling.OVERLAP) for d in (-1, 0)
    }
    rows = {y + d for w in windows if w.top > 0 for y in (w.top, w.top + tiling.OVERLAP) for d in (-1, 0)}
    on_seams = np.concatenate([dx[:, sorted(columns)].ravel(), dy[sorted(rows), :].ravel()])
    return float(on_seams.mean() / np.concatenate([dx.ravel(), dy.ravel()]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--max-memory", default=None)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("out/tiled.png"))
    args = parser.parse_args()
    cat = Image.open(examples.CONTENT).convert("RGB")
    side = min(cat.size)
    square = cat.crop(((cat.width - side) // 2, 0, (cat.width + side) // 2, side))
    content = square.resize((args.size, args.size), Image.Resampling.BICUBIC)

    seen: list[impasto.Progress] = []
    start = time.perf_counter()
    done = impasto.stylize_detailed(
        content,
        examples.STYLE,
        size=args.size,
        iterations=args.iterations,
        device="cpu",
        max_memory=args.max_memory,
        callback=seen.append,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tile_side = max(max(p.image.shape[-2:]) for p in seen)
    windows = tiling.tiles(args.size, args.size, tile_side, tiling.OVERLAP)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    done.image.save(args.output)
    print(
        common.emit(
            "tiling",
            {
                "size": args.size,
                "max_memory": args.max_memory or "free memory",
                "tiles": done.tiles,
                "tile_side": tile_side,
                "iterations_per_tile": args.iterations,
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(peak_mb),
                "seam_gradient_ratio": round(seam_ratio(done.image, windows), 3),
                "torch": torch.__version__,
                "output": str(args.output),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
