"""Figures that show what the network sees: layer reconstructions (Gatys et al., Figure 1) and grids
of results over α/β ratios and layer sets.

Each cell is a full optimization (through :func:`impasto.pipeline.stylize`) from white noise, so the cell
shows only what the chosen loss keeps: a content reconstruction from relu3_1 alone is the image that
relu3_1 cannot tell from the original.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from impasto import pipeline
from impasto.core.optimize import Progress

CellCallback = Callable[[str, Progress], None]  # (the cell's label, its progress)

EXPLAIN_CONTENT_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
EXPLAIN_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
FONT_SIZE = 15
PAD = 8


def explain(
    image: pipeline.ImageLike,
    *,
    callback: CellCallback | None = None,
    **options: Any,
) -> Image.Image:
    """Gatys et al.'s Figure 1 for ``image``: a labelled grid of two rows.

    Top: content reconstructions from white noise, each from one layer alone (relu1_1 … relu5_1):
    early layers keep the exact pixels, deep ones only the arrangement of objects. Bottom: style
    (texture) reconstructions from the growing layer sets {relu1_1}, {relu1_1, relu2_1}, … : more
    layers capture larger structures of the texture. ``options`` are StyleConfig fields (size,
    iterations, model, …); the start is always white noise at a single scale.
    """
    options = {"size": 128, "iterations": 150, **options, "init": "noise", "multiscale": False}
    content_row = []
    for layer in EXPLAIN_CONTENT_LAYERS:
        content_row.append(
            _cell(
                image,
                image,
                f"content {layer}",
                callback,
                content_layers=layer,
                content_weight=1.0,
                style_weight=0.0,
                **options,
            )
        )
    style_row = []
    for count in range(1, len(EXPLAIN_STYLE_LAYERS) + 1):
        layers = ",".join(EXPLAIN_STYLE_LAYERS[:count])
        style_row.append(
            _cell(
                image,
                image,
                f"style {layers}",
                callback,
                style_layers=layers,
                content_weight=0.0,
                style_weight=1.0,
                **options,
            )
        )
    return grid(
        [content_row, style_row],
        row_labels=["content from one layer", "style from layers up to"],
        column_labels=[f"{layer}" for layer in EXPLAIN_CONTENT_LAYERS],
        title="What each layer sees: reconstructions from white noise",
    )


def sweep(
    content: pipeline.ImageLike,
    style: pipeline.StyleLike,
    ratios: Sequence[float],
    *,
    layer_sets: Sequence[str] | None = None,
    callback: CellCallback | None = None,
    **options: Any,
) -> Image.Image:
    """One result per α/β ratio (columns) and per style layer set (rows, optional), as a labelled grid.

    α/β is in impasto's normalized units (losses.py): the default is 1/5 = 0.2; smaller ratios give
    more style, larger more content.
    """
    if not ratios or any(r <= 0 for r in ratios):
        raise ValueError(f"ratios must be positive numbers, got {list(ratios)}")
    rows: list[list[Image.Image]] = []
    sets: list[str | None] = list(layer_sets) if layer_sets else [None]
    for layers in sets:
        layer_option = {"style_layers": layers} if layers else {}
        rows.append(
            [
                _cell(
                    content,
                    style,
                    f"α/β={ratio:g}" + (f" {layers}" if layers else ""),
                    callback,
                    content_weight=ratio,
                    style_weight=1.0,
                    **layer_option,
                    **options,
                )
                for ratio in ratios
            ]
        )
    return grid(
        rows,
        row_labels=[layers or "default style layers" for layers in sets],
        # Spelled out: Pillow's built-in font has no Greek letters.
        column_labels=[f"alpha/beta = {ratio:g}" for ratio in ratios],
        title="Content against style: alpha/beta",
    )


def _cell(
    content: pipeline.ImageLike,
    style: pipeline.StyleLike,
    label: str,
    callback: CellCallback | None,
    **options: Any,
) -> Image.Image:
    report = None if callback is None else (lambda progress: callback(label, progress))
    return pipeline.stylize(content, style, callback=report, **options)


def grid(
    rows: Sequence[Sequence[Image.Image]],
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str = "",
) -> Image.Image:
    """Images in a grid of equal cells (each row's images resized to the first cell's size), with a
    title, a label over each column and one beside each row."""
    font = _font(FONT_SIZE)
    cell_w, cell_h = rows[0][0].size
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = max(int(measure.textlength(label, font=font)) for label in row_labels) + 2 * PAD
    line_h = FONT_SIZE + PAD
    top = (line_h + PAD if title else 0) + line_h
    columns = max(len(row) for row in rows)
    width = label_w + columns * (cell_w + PAD)  # each cell followed by a gap, the last one the margin
    height = top + len(rows) * (cell_h + PAD)
    figure = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(figure)
    if title:
        draw.text((PAD, PAD), title, fill="black", font=_font(FONT_SIZE + 3))
    for c, label in enumerate(column_labels):
        x = label_w + c * (cell_w + PAD)
        draw.text((x, top - line_h), _fit(draw, label, font, cell_w), fill="black", font=font)
    for r, (row, label) in enumerate(zip(rows, row_labels, strict=True)):
        y = top + r * (cell_h + PAD)
        draw.text((PAD, y + cell_h // 2 - FONT_SIZE // 2), label, fill="black", font=font)
        for c, cell in enumerate(row):
            resized = cell if cell.size == (cell_w, cell_h) else cell.resize((cell_w, cell_h))
            figure.paste(resized, (label_w + c * (cell_w + PAD), y))
    return figure


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """``text`` shortened with an ellipsis to fit ``width`` pixels."""
    while len(text) > 1 and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text
