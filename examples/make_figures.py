"""Make the README's pictures with impasto itself.

python examples/make_figures.py       # writes docs/demo.png (about a minute on a laptop CPU)

The figure: photo, painting, the feed-forward sketch (where a run starts) and the finished painting,
each result with the seconds it took on this machine (the sketch warm: its network already loaded).
"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image, ImageDraw

import impasto
from impasto import examples

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs"
LABEL_HEIGHT = 22


def labelled_row(cells: list[tuple[str, Image.Image]], height: int) -> Image.Image:
    """Images side by side at one height, each with a caption underneath."""
    resized = [(label, im.resize((round(im.width * height / im.height), height))) for label, im in cells]
    gap = 6
    width = sum(im.width for _, im in resized) + gap * (len(resized) - 1)
    row = Image.new("RGB", (width, height + LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(row)
    x = 0
    for label, im in resized:
        row.paste(im, (x, 0))
        draw.text((x + 4, height + 5), label, fill="black")
        x += im.width + gap
    return row


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    content = Image.open(examples.CONTENT).convert("RGB")
    style = Image.open(examples.STYLE).convert("RGB")
    impasto.sketch(content, style, size=64)  # loads the sketch network: the figure times a warm sketch
    start = time.perf_counter()
    sketch = impasto.sketch(content, style, size=384)
    sketched = time.perf_counter() - start
    start = time.perf_counter()
    result = impasto.stylize(content, style, size=384, device="cpu")
    painted = time.perf_counter() - start
    result.save(DOCS / "chelsea_swirls.png")
    figure = labelled_row(
        [
            ("content: chelsea.png", content),
            ("style: swirls.png", style),
            (f"the sketch, {sketched:.1f} s", sketch),
            (f"impasto, defaults, 384 px, {painted:.0f} s", result),
        ],
        height=256,
    )
    figure.save(DOCS / "demo.png")
    print(DOCS / "demo.png")


if __name__ == "__main__":
    main()
