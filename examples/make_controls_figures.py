"""Make the README's pictures of issue 0.2's controls with impasto itself (slow on a CPU: ~25 min).

    python examples/make_controls_figures.py [NAME ...]   # all, or some of: explain sweep colors masks

Writes docs/explain.png, docs/sweep.png, docs/colors.png and docs/masks.png (the look at several sizes:
examples/make_look_figures.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

import impasto
from impasto import examples
from impasto.apps.figures import grid
from impasto.core.color import stats_distance
from impasto.io.images import to_tensor

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
CONTENT, STYLE = examples.CONTENT, examples.STYLE


def explain() -> None:
    impasto.explain(CONTENT, size=128, iterations=150, device="cpu").save(DOCS / "explain.png")


def sweep() -> None:
    figure = impasto.sweep(CONTENT, STYLE, [0.02, 0.2, 2.0], size=192, iterations=150, device="cpu")
    figure.save(DOCS / "sweep.png")


def colors() -> None:
    content = Image.open(CONTENT).convert("RGB")
    cells = [content.resize((256, 170))]
    for mode in ("none", "luminance", "histogram"):
        cells.append(impasto.stylize(CONTENT, STYLE, size=256, preserve_colors=mode, device="cpu"))
        # How far the output's colour statistics are from the content's (bench/colors.py's measure).
        distance = stats_distance(to_tensor(cells[-1]), to_tensor(content.resize(cells[-1].size)))
        print(f"colour distance to the content, preserve_colors={mode}: {distance:.4f}", flush=True)
    labels = ["content", "--preserve-colors none", "luminance", "histogram"]
    grid([cells], ["chelsea + swirls"], labels, "Colour control").save(DOCS / "colors.png")


def masks() -> None:
    # Two styles the project paints itself: the swirls, and warm horizontal bands.
    bands = Image.new("RGB", (256, 256))
    draw = ImageDraw.Draw(bands)
    for y in range(0, 256, 16):
        draw.rectangle((0, y, 255, y + 7), fill=(200, 80 + y // 4, 40))
        draw.rectangle((0, y + 8, 255, y + 15), fill=(250, 200, 120))
    mask = Image.new("L", (451, 300), 0)
    ImageDraw.Draw(mask).ellipse((90, 10, 380, 300), fill=255)  # the cat's head: swirls; around it: bands
    mask_path = DOCS / "mask_head.png"
    mask.save(mask_path)
    result = impasto.stylize(CONTENT, [STYLE, bands], content_masks=(mask_path,), size=256, device="cpu")
    cells = [
        Image.open(CONTENT).convert("RGB").resize((256, 170)),
        mask.convert("RGB").resize((256, 170)),
        bands.resize((170, 170)),
        result,
    ]
    labels = ["content", "--content-mask (white: swirls)", "second style", "result"]
    grid([cells], ["two styles"], labels, "Spatial control").save(DOCS / "masks.png")


if __name__ == "__main__":
    DOCS.mkdir(exist_ok=True)
    jobs = {"explain": explain, "sweep": sweep, "colors": colors, "masks": masks}
    for name in sys.argv[1:] or list(jobs):
        jobs[name]()
        print(DOCS / f"{name}.png", flush=True)
