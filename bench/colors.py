"""Whether the photo's colours are kept, for every kind of style loss and every start.

    python bench/colors.py run [--size 384] [--pairs chelsea-scream,rocket-seurat] [--kinds gram,...]
                               [--inits preview,content,noise] [--modes histogram,luminance]
    python bench/colors.py table [--size 384]     # the rows recorded, as the table docs/look.md shows

For each pair, kind of style loss, start (``--init``) and colour mode (``--preserve-colors``), one
run with the defaults otherwise, scored by:

- **chroma**: the distance of the output's chroma statistics to the photo's, over the painting's:
  (‖Δμ‖ + ‖ΔΣ‖_F) of the Cb/Cr channels (YCbCr, in [0, 1]). 0: the photo's colours; 1: as far from
  them as the painting. Both modes should keep it low (2.3 asks ≤ 0.25).
- **texture** (luminance mode): the style judge of bench/look.py (mean over VGG-19's style layers of
  ‖G(a) − G(b)‖² / ‖G(b)‖²) on the grey pictures at 256 px, the output's distance to the painting
  over the photo's: below 1, the luminance carries the painting's texture.

Rows are kept in bench/results/colors.jsonl. The pairs are bench/look.py's (the paintings beside
the repository in ../shared/images).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from PIL import Image

import common
import impasto
from impasto.core import pyramid
from impasto.io import images
from look import PAIRS, STYLES, Judge, photo

KINDS = ("neighbours", "gram", "nearest", "mean-cov", "sliced-wasserstein")
INITS = ("preview", "content", "noise")


def chroma_stats(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The mean (2,) and covariance (2, 2) of the picture's Cb/Cr channels, in [0, 1]."""
    pixels = np.asarray(image.convert("RGB").convert("YCbCr"), dtype=np.float64)[..., 1:].reshape(-1, 2)
    pixels /= 255.0
    return pixels.mean(axis=0), np.cov(pixels.T)


def chroma_distance(image: Image.Image, reference: Image.Image) -> float:
    (mean_a, cov_a), (mean_b, cov_b) = chroma_stats(image), chroma_stats(reference.resize(image.size))
    return float(np.linalg.norm(mean_a - mean_b) + np.linalg.norm(cov_a - cov_b))


def texture(judge: Judge, output: Image.Image, content: Image.Image, style: Image.Image) -> float:
    """The grey output's style distance to the grey painting over the grey photo's, at 256 px."""

    def grey(image: Image.Image) -> torch.Tensor:
        return images.to_tensor(images.fit(image.convert("L").convert("RGB"), 256))

    out, photo_, paint = grey(output), grey(content), grey(style)
    out = pyramid.resize(out, (photo_.shape[-2], photo_.shape[-1]))
    return judge.gram_distance(out, paint) / judge.gram_distance(photo_, paint)


def run(args: argparse.Namespace) -> None:
    judge = Judge()
    print(common.header())
    for pair in args.pairs:
        photo_name, style_name = PAIRS[pair]
        content, style = photo(photo_name), STYLES[style_name]()
        for mode in args.modes:
            for kind in args.kinds:
                for init in args.inits:
                    start = time.monotonic()
                    output = impasto.stylize(
                        content,
                        style,
                        size=args.size,
                        style_loss=kind,
                        init=init,
                        preserve_colors=mode,
                        device="cpu",
                        seed=0,
                    )
                    row = {
                        "pair": pair,
                        "kind": kind,
                        "init": init,
                        "mode": mode,
                        "size": args.size,
                        "chroma": round(
                            chroma_distance(output, content) / chroma_distance(style, content), 3
                        ),
                        "texture": round(texture(judge, output, content, style), 3)
                        if mode == "luminance"
                        else None,
                        "seconds": round(time.monotonic() - start, 1),
                        "label": args.label,
                    }
                    print(common.emit("colors", row), flush=True)


def table(args: argparse.Namespace) -> None:
    """Per label, mode, kind and start: the largest chroma over the pairs (and the mean texture)."""
    path = common.RESULTS / "colors.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("size") == args.size and "chroma" in r]
    groups: dict[tuple[str, str, str, str], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((row["label"], row["mode"], row["kind"], row["init"]), []).append(row)
    print("| label | mode | kind | start | pairs | chroma, largest | chroma, each pair | texture, mean |")
    print("|---|---|---|---|---|---|---|---|")
    for (label, mode, kind, init), group in sorted(groups.items()):
        chromas = [float(r["chroma"]) for r in group]  # type: ignore[arg-type]
        textures = [float(r["texture"]) for r in group if r.get("texture") is not None]  # type: ignore[arg-type]
        each = ", ".join(f"{r['pair']} {r['chroma']}" for r in group)
        mean_texture = f"{sum(textures) / len(textures):.2f}" if textures else ""
        cells = [label, mode, kind, init, str(len(group)), f"{max(chromas):.3f}", each, mean_texture]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=("run", "table"))
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--pairs", type=lambda t: t.split(","), default=["chelsea-scream", "rocket-seurat"])
    parser.add_argument("--kinds", type=lambda t: t.split(","), default=list(KINDS))
    parser.add_argument("--inits", type=lambda t: t.split(","), default=list(INITS))
    parser.add_argument("--modes", type=lambda t: t.split(","), default=["histogram", "luminance"])
    parser.add_argument("--label", default="", help="what this run measures (before, after, …)")
    args = parser.parse_args()
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    main()
