"""Pixel hashes of short fixed-seed runs, one per style-loss kind and a masked one: proof that a refactor
changed no picture.

    python bench/pixel_hashes.py                    # prints "name sha256" lines
    PYTHONPATH=/other/checkout/src python bench/pixel_hashes.py > before.txt   # another checkout's

Each run is small (160 px over two scales, a few iterations, fp32 on the CPU) so the whole set takes a
minute or two on 2 cores; the hash is of the output's RGB bytes. Run it before and after a change on
the same machine and compare the two lists (``diff``): any line that differs is a picture that changed.
Not a test: floating-point results may differ between CPUs, so the hashes are only comparable on one.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

from PIL import Image

import impasto
from impasto import examples

RUN = {
    "size": 160,
    "base_size": 96,  # two scales: 96 and 160 px
    "iterations": 6,
    "device": "cpu",
    "precision": "fp32",
    "compile": "off",
    "seed": 3,
}


def left_half_mask(folder: Path) -> Path:
    """A content mask: white on the left half (the first style there, the second on the right)."""
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    path = folder / "left.png"
    mask.save(path)
    return path


def runs(folder: Path) -> dict[str, tuple[list[Path], dict[str, object]]]:
    """name → (styles, options) of every run hashed."""
    style = examples.STYLE
    second = Path(__file__).resolve().parents[2] / "shared" / "images" / "the_scream.jpg"
    both = [style, second if second.exists() else style]
    kinds = ("gram", "nearest", "mean-cov", "sliced-wasserstein", "neighbours")
    table: dict[str, tuple[list[Path], dict[str, object]]] = {
        kind: ([style], {"style_loss": kind}) for kind in kinds
    }
    table["blend-sliced-wasserstein"] = (both, {"style_loss": "sliced-wasserstein"})
    masked = {"content_masks": (left_half_mask(folder),), "init": "content"}
    table["masked-gram"] = (both, {"style_loss": "gram", **masked})
    table["masked-nearest"] = (both, {"style_loss": "nearest", **masked})
    table["masked-neighbours"] = (both, {"style_loss": "neighbours", **masked})
    return table


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        for name, (styles, options) in runs(Path(folder)).items():
            image = impasto.stylize(examples.CONTENT, styles, **RUN, **options)  # type: ignore[arg-type]
            digest = hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()
            print(f"{name} {digest}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
