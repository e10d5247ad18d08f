"""The README's picture of the look at several output sizes, made by impasto itself.

    python examples/make_look_figures.py --sizes 512,1024 --iterations 100   # ~15 min on a 2-core CPU
    python examples/make_look_figures.py --sizes 512,1024,2048 --device cuda  # on a GPU

Stylizes one pair (the cat in the style of Munch's *The Scream*) with the defaults at each size, then shows
every output at the same width — as a viewer sees them — with its style@128 score from bench/look.py's
judge. Writes docs/look_sizes.png; each full-size output goes to out/look_sizes/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

import impasto
from impasto import examples
from impasto.io import images

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "bench"))
from look import Judge  # noqa: E402  (bench/ is not a package)

CALIBRATION = ROOT.parent / "shared" / "images"
WIDTH, LABEL = 320, 30


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument(
        "--iterations", type=int, help="iterations at the first scale (default: the library's)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--style", type=Path, default=CALIBRATION / "the_scream.jpg")
    args = parser.parse_args()
    content = images.load(examples.CONTENT, 10**9).image
    style = images.load(args.style, 10**9).image
    judge = Judge()
    cells: list[tuple[str, Image.Image]] = []
    out = ROOT / "out" / "look_sizes"
    out.mkdir(parents=True, exist_ok=True)
    for size in map(int, args.sizes.split(",")):
        start = time.perf_counter()
        done = impasto.stylize_detailed(
            content, style, size=size, iterations=args.iterations, device=args.device
        )
        seconds = time.perf_counter() - start
        images.save(done.image, out / f"chelsea_scream_{size}.png")
        score = judge.score(done.image, content, style)
        label = f"{size} px ({len(done.sizes)} scales, {seconds:.0f} s)  style@128 {score['style@128']:.3f}"
        print(label, flush=True)
        cells.append((label, done.image))
    height = round(WIDTH * cells[0][1].height / cells[0][1].width)
    figure = Image.new("RGB", (len(cells) * (WIDTH + 6), height + LABEL), "white")
    draw = ImageDraw.Draw(figure)
    for i, (label, image) in enumerate(cells):
        figure.paste(image.resize((WIDTH, height), Image.Resampling.LANCZOS), (i * (WIDTH + 6), 0))
        draw.text((i * (WIDTH + 6) + 4, height + 4), label, fill="black")
    figure.save(ROOT / "docs" / "look_sizes.png")
    print(ROOT / "docs" / "look_sizes.png")


if __name__ == "__main__":
    main()
