"""Make the README's pictures with impasto itself.

python examples/make_figures.py       # writes docs/demo.png (a few minutes on a laptop CPU)
"""

from __future__ import annotations

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
    result = impasto.stylize(content, style, size=384, iterations=200, device="cpu")
    result.save(DOCS / "chelsea_swirls.png")
    figure = labelled_row(
        [
            ("content: chelsea.png", content),
            ("style: swirls.png", style),
            ("impasto, defaults, 384 px", result),
        ],
        height=256,
    )
    figure.save(DOCS / "demo.png")
    print(DOCS / "demo.png")


if __name__ == "__main__":
    main()
