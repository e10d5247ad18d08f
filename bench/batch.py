"""Images per minute of ``impasto batch``: on this machine alone, and on a local Ray cluster.

    python bench/batch.py                      # 8 images, 128 px, 40 iterations; local, then --ray local:2
    python bench/batch.py --images 16 --ray local:2 --ray local:1

Each run gets a fresh output folder (nothing skipped). Not a test: for reports.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import common
from impasto import examples
from impasto.apps import batch
from impasto.config import StyleConfig

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--ray", action="append", help="cluster addresses to compare (default: local:2)")
    args = parser.parse_args()
    print(common.header(), flush=True)
    config = StyleConfig(size=args.size, iterations=args.iterations, device="cpu")
    photo = Image.open(examples.CONTENT).convert("RGB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for index in range(args.images):  # different crops of the photo
            left, top = int(rng.integers(0, 150)), int(rng.integers(0, 100))
            photo.crop((left, top, left + 300, top + 200)).save(folder / f"{index:03d}.png")
        for target in [None, *(args.ray or ["local:2"])]:
            out = Path(tmp) / f"out-{target or 'local'}".replace(":", "-")
            start = time.perf_counter()
            summary = batch.run_batch(folder, [examples.STYLE], out, config, ray_address=target)
            seconds = time.perf_counter() - start
            print(
                common.emit(
                    "batch",
                    {
                        "where": target or "this process",
                        "images": len(summary.done),
                        "failed": len(summary.failed),
                        "seconds": round(seconds, 1),
                        "images_per_minute": round(len(summary.done) / seconds * 60, 2),
                    },
                ),
                flush=True,
            )
            if target is not None:
                import ray

                ray.shutdown()


if __name__ == "__main__":
    main()
