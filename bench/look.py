"""The look benchmark: how much of the style a viewer sees, and how much of the photo is kept.

    python bench/look.py run --config old:model=vgg16,multiscale=false --size 256 --weights 5
    python bench/look.py run --config new: --size 256 --weights 1,3,10 --pairs chelsea-scream,coffee-wreck
    python bench/look.py table bench/results/look.jsonl
    python bench/look.py plot bench/results/look.jsonl -o docs/pareto.png
    python bench/look.py sheet bench/results/look.jsonl -o docs/look_sheet.png --columns old@5,new@20@384

``run`` stylizes every pair with every configuration (``NAME:option=value,…``, options of
``impasto.StyleConfig``; ``NAME:`` alone is the library's defaults) at every style weight, scores each
output with the judge below, appends one JSON line per output to ``--results`` and keeps the images under
``--images``. The judge is not the objective being optimized:

- ``style@L`` (L = 512, 256, 128): output and style image resized so their long side is L; the Gram
  distance between them (relative, averaged over relu1_1 … relu5_1 of the paper's VGG-19) divided by the
  same distance between the content image (at L) and the style. 1: no style at all; lower: more of the
  style at the scale of a picture L px wide. Fine texture alone scores well at 512 and badly at 128;
  strokes and structures score well at 128.
- ``content``: relu4_2 distance between output and content (both at 256 px) divided by that between
  style (resized to the content's shape) and content. 0: the photo itself; 1: as far as the style.
- ``embedding``: a second opinion on the style, from another network: |v(output) − v(style)| /
  |v(photo) − v(style)|, v the 100-number style vector of Magenta's style predictor (Ghiasi et al., 2017;
  ``impasto.preview``), averaged over two views of each picture at 256×256: its centred square and the
  whole of it squeezed square. 1: no nearer the style than the photo; 0: the style's own vector. The
  predictor is a network of its own (trained with its transformer on paintings and textures; the
  paper's embedding groups paintings by artist and genre), so it sees painting style without VGG's
  Gram statistics, which the outputs were optimized on and style@L measures (it learnt what to see
  through VGG-16 Gram losses all the same). It is biased towards outputs that start from its own
  network's preview (``impasto.preview.sketch``: such a start scores well before any optimization),
  so compare configurations that start alike.

``plot`` draws content against style@128 for each configuration, one curve over its style weights (a
Pareto view: compare configurations at equal content, not at one weight). ``sheet`` puts chosen
outputs side by side, with their scores. Not a test: for reports and decisions.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

import common
import impasto
from impasto import examples, preview
from impasto.core import losses, pyramid
from impasto.core.backbone import FeatureExtractor
from impasto.core.weights import load_params
from impasto.io import images

ROOT = Path(__file__).resolve().parent.parent
CALIBRATION = ROOT.parent / "shared" / "images"  # public-domain paintings beside the repo
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VIEW_SIZES = (512, 256, 128)
SCORES = ("style@512", "style@256", "style@128", "content", "embedding", "palette")


def photo(name: str) -> Image.Image:
    """A content photo: the repo's example, or one of scikit-image's bundled photos (dev extra)."""
    if name == "chelsea":
        return images.load(examples.CONTENT, 10**9).image
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


STYLES = {
    "scream": lambda: images.load(CALIBRATION / "the_scream.jpg", 10**9).image,
    "wreck": lambda: images.load(CALIBRATION / "shipwreck.jpg", 10**9).image,
    "swirls": lambda: images.load(examples.STYLE, 10**9).image,
    # Paintings with faces and figures: do their objects appear in the photo?
    "mona": lambda: images.load(CALIBRATION / "mona_lisa.jpg", 10**9).image,
    "seurat": lambda: images.load(CALIBRATION / "seurat_sunday_afternoon.jpg", 10**9).image,
}
# Photos × styles: two real paintings and the rendered swirls, on a cat, a portrait, a still life and
# a landscape-like scene.
PAIRS = {
    "chelsea-scream": ("chelsea", "scream"),
    "chelsea-wreck": ("chelsea", "wreck"),
    "astronaut-scream": ("astronaut", "scream"),
    "coffee-wreck": ("coffee", "wreck"),
    "rocket-swirls": ("rocket", "swirls"),
    "astronaut-swirls": ("astronaut", "swirls"),
    # The calibration pairs of the figure paintings: a portrait on an animal (face to face: the
    # hardest case), figures on a launch pad and its sky, The Scream's figure on a still life.
    "chelsea-mona": ("chelsea", "mona"),
    "rocket-seurat": ("rocket", "seurat"),
    "coffee-scream": ("coffee", "scream"),
}
FIGURE_PAIRS = ("chelsea-mona", "rocket-seurat", "coffee-scream")


class Judge:
    """Scores outputs with the paper's VGG-19 (fixed, whatever network made the output)."""

    def __init__(self) -> None:
        entry, params = load_params("vgg19")
        self.net = FeatureExtractor(
            entry.architecture, params, entry.preprocessing, [*STYLE_LAYERS, "relu4_2"], "max"
        )

    @torch.no_grad()
    def grams(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = self.net(image)
        return [losses.gram(features[name]) for name in STYLE_LAYERS]

    def gram_distance(self, a: torch.Tensor, b: torch.Tensor) -> float:
        """Mean over the style layers of ‖G(a) − G(b)‖² / ‖G(b)‖²."""
        pairs = zip(self.grams(a), self.grams(b), strict=True)
        return sum(float((ga - gb).pow(2).sum() / gb.pow(2).sum()) for ga, gb in pairs) / len(STYLE_LAYERS)

    @torch.no_grad()
    def content_distance(self, a: torch.Tensor, b: torch.Tensor) -> float:
        fa, fb = self.net(a)["relu4_2"], self.net(b)["relu4_2"]
        return float(losses.content_loss(fa, fb))

    def score(self, output: Image.Image, content: Image.Image, style: Image.Image) -> dict[str, float]:
        scores: dict[str, float] = {}
        for size in VIEW_SIZES:
            out, photo_, paint = (images.to_tensor(images.fit(i, size)) for i in (output, content, style))
            out = pyramid.resize(out, tuple(photo_.shape[-2:]))  # type: ignore[arg-type]
            scores[f"style@{size}"] = self.gram_distance(out, paint) / self.gram_distance(photo_, paint)
        photo_ = images.to_tensor(images.fit(content, 256))
        shape = (photo_.shape[-2], photo_.shape[-1])
        out = pyramid.resize(images.to_tensor(output), shape)
        paint = pyramid.resize(images.to_tensor(style), shape)
        scores["content"] = self.content_distance(out, photo_) / self.content_distance(paint, photo_)
        scores["embedding"] = embedding_distance(output, content, style)
        scores["palette"] = palette_distance(output, content, style)
        return scores


def embedding_distance(output: Image.Image, content: Image.Image, style: Image.Image) -> float:
    """|v(output) − v(style)| / |v(content) − v(style)| with v Magenta's style vector (100 numbers),
    the mean over the two views the predictor can take (the centred square, the whole picture squeezed)."""
    ratios = []
    for view in ("centre", "whole"):
        out, photo_, paint = (preview.style_vector(i, view) for i in (output, content, style))
        ratios.append(float(np.linalg.norm(out - paint) / np.linalg.norm(photo_ - paint)))
    return sum(ratios) / len(ratios)


PALETTE_SIDE = 128  # pictures are compared at this long side: colours, not detail
PALETTE_DIRECTIONS = 64


def palette_distance(output: Image.Image, content: Image.Image, style: Image.Image) -> float:
    """SW(output, painting) / SW(photo, painting): the sliced Wasserstein distance between the pictures'
    pixels in CIELAB (64 fixed directions, each picture at 128 px). 1: the photo's colours; 0: the
    painting's palette (lower is more of the painting)."""
    from skimage.color import rgb2lab

    def lab(image: Image.Image) -> torch.Tensor:
        pixels = np.asarray(images.fit(image, PALETTE_SIDE), dtype=np.float64) / 255
        return torch.from_numpy(rgb2lab(pixels).reshape(-1, 3)).float()  # (N, 3)

    directions = losses.random_directions(3, PALETTE_DIRECTIONS)  # (3, K), the same for every score
    paint = losses.sliced([lab(style).T[None, :, None, :]], directions)

    def distance(image: Image.Image) -> float:
        return float(losses.sliced_wasserstein_loss(lab(image).T[None, :, None, :], paint))

    return distance(output) / distance(content)


@dataclass(frozen=True)
class Config:
    name: str
    options: dict[str, Any]


def parse_config(text: str) -> Config:
    """ "name:key=value,key=value" → Config; values are JSON where they parse, strings otherwise."""
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    # A comma starts a new option only before "key=": a value may hold commas ("relu1_1:3,relu2_1").
    for part in filter(None, re.split(r",(?=\w+=)", rest)):
        key, _, value = part.partition("=")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return Config(name, options)


def run(args: argparse.Namespace) -> None:
    judge = Judge()
    args.images.mkdir(parents=True, exist_ok=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for config in args.config:
        for pair in args.pairs:
            photo_name, style_name = PAIRS[pair]
            content, style = photo(photo_name), STYLES[style_name]()
            for weight in args.weights:
                options = {"size": args.size, "device": "cpu", **config.options, "style_weight": weight}
                start = time.perf_counter()
                done = impasto.stylize_detailed(content, style, **options)
                seconds = time.perf_counter() - start
                path = args.images / config.name / f"{pair}_{weight:g}_{args.size}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                images.save(done.image, path)
                row = {
                    "config": config.name,
                    "options": config.options,
                    "pair": pair,
                    "size": args.size,
                    "style_weight": weight,
                    "seconds": round(seconds, 1),
                    "scales": list(done.sizes),
                    "image": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                    "machine": common.machine(),
                    **{k: round(v, 4) for k, v in judge.score(done.image, content, style).items()},
                }
                print(json.dumps(row), flush=True)
                with args.results.open("a") as out:
                    out.write(json.dumps(row) + "\n")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def table(args: argparse.Namespace) -> None:
    """Per configuration, size and weight: the geometric means of the scores over the pairs, and with
    ``--pairs`` each pair's style@128 / content / embedding. Rows recorded before the embedding judge
    existed leave it out of their means ("–" where no row of a group has it)."""
    rows = read(args.results)
    groups: dict[tuple[str, int, float], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["config"], row["size"], row["style_weight"])].append(row)
    print("| config | size | β | pairs | " + " | ".join(SCORES) + " | s/run |")
    print("|---|---|---|---|" + "---|" * len(SCORES) + "---|")
    for (name, size, weight), group in sorted(groups.items()):
        means = [_mean_of(group, key) for key in SCORES]
        seconds = sum(r["seconds"] for r in group) / len(group)
        print(f"| {name} | {size} | {weight:g} | {len(group)} | " + " | ".join(means) + f" | {seconds:.0f} |")
    if args.pairs:
        print("\n| config | size | β | " + " | ".join(sorted({r["pair"] for r in rows})) + " |")
        print("|---|---|---|" + "---|" * len({r["pair"] for r in rows}))
        for (name, size, weight), group in sorted(groups.items()):
            by_pair = {r["pair"]: r for r in group}
            cells = [
                _pair_scores(by_pair[p]) if p in by_pair else "" for p in sorted({r["pair"] for r in rows})
            ]
            print(f"| {name} | {size} | {weight:g} | " + " | ".join(cells) + " |")


def _mean_of(group: Sequence[dict[str, Any]], key: str) -> str:
    """The geometric mean of ``key`` over the rows that have it, formatted; "–" if none has."""
    values = [r[key] for r in group if key in r]
    return f"{geomean(values):.3f}" if values else "–"


def _pair_scores(row: dict[str, Any]) -> str:
    """ "style@128 / content / embedding" of one output (its embedding only where it was scored)."""
    text = f"{row['style@128']:.3f} / {row['content']:.3f}"
    return text + (f" / {row['embedding']:.3f}" if "embedding" in row else "")


def geomean(values: Sequence[float]) -> float:
    product = 1.0
    for value in values:
        product *= max(value, 1e-6)
    return float(product ** (1 / len(values)))


def plot(args: argparse.Namespace) -> None:
    import matplotlib  # the dev extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read(args.results) if not args.configs or r["config"] in args.configs]
    rows = [r for r in rows if not args.pairs or r["pair"] in args.pairs]
    curves: dict[tuple[str, int], dict[float, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        curves[(row["config"], row["size"])][row["style_weight"]].append(row)
    figure, axis = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for (name, size), by_weight in sorted(curves.items()):
        weights = sorted(by_weight)
        # Only weights every pair was run at, so each point averages the same pairs.
        pairs = set.intersection(*({r["pair"] for r in by_weight[w]} for w in weights))
        xs = [geomean([r["content"] for r in by_weight[w] if r["pair"] in pairs]) for w in weights]
        ys = [geomean([r["style@128"] for r in by_weight[w] if r["pair"] in pairs]) for w in weights]
        axis.plot(xs, ys, marker="o", label=f"{name} ({size} px, {len(pairs)} pairs)")
        for x, y, w in zip(xs, ys, weights, strict=True):
            axis.annotate(f"β={w:g}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
    axis.set_xlabel("content distance (lower keeps more of the photo)")
    axis.set_ylabel("style@128 (lower carries more of the style)")
    axis.set_title("The look: style seen at 128 px against content kept")
    axis.set_yscale("log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.output)
    print(args.output)


def sheet(args: argparse.Namespace) -> None:
    """One row per pair: photo, style, then one column per ``CONFIG@WEIGHT[@SIZE]``."""
    rows = [r for r in read(args.results) if "image" in r]  # time_to_look.py's inner points have none
    columns = [tuple(c.split("@")) for c in args.columns]
    pairs = args.pairs or sorted({r["pair"] for r in rows})
    cell, label, caption = args.cell, 14, 26  # caption: two lines of scores under each output
    canvas = Image.new("RGB", (cell * (len(columns) + 2), (cell + caption) * len(pairs) + label), "white")
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(["photo", "style", *args.columns]):
        draw.text((column * cell + 4, 2), title, fill="black")
    for r, pair in enumerate(pairs):
        photo_name, style_name = PAIRS[pair]
        y = label + r * (cell + caption)
        cells = [photo(photo_name), STYLES[style_name]()]
        for spec in columns:
            found = [
                row
                for row in rows
                if row["config"] == spec[0]
                and row["pair"] == pair
                and row["style_weight"] == float(spec[1])
                and (len(spec) < 3 or row["size"] == int(spec[2]))
            ]
            cells.append(
                Image.open(ROOT / found[-1]["image"]).convert("RGB") if found else Image.new("RGB", (1, 1))
            )
            if found:
                scores = f"style@128 {found[-1]['style@128']:.3f}  content {found[-1]['content']:.2f}"
                if "embedding" in found[-1]:
                    scores += f"\nembedding {found[-1]['embedding']:.3f}"
                if "palette" in found[-1]:
                    scores += f"  palette {found[-1]['palette']:.3f}"
                draw.multiline_text(((len(cells) - 1) * cell + 4, y + cell), scores, fill="black", spacing=2)
        for column, picture in enumerate(cells):
            picture = images.fit(picture, cell)
            canvas.paste(
                picture, (column * cell + (cell - picture.width) // 2, y + (cell - picture.height) // 2)
            )
    canvas.save(args.output)
    print(args.output)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run")
    p.add_argument("--config", type=parse_config, action="append", required=True)
    p.add_argument("--pairs", type=lambda s: s.split(","), default=list(PAIRS))
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--weights", type=lambda s: [float(w) for w in s.split(",")], default=[5.0])
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "look.jsonl")
    p.add_argument("--images", type=Path, default=ROOT / "out" / "look")
    p.set_defaults(func=run)
    p = commands.add_parser("table")
    p.add_argument("results", type=Path)
    p.add_argument("--pairs", action="store_true", help="also each pair's style@128 / content / embedding")
    p.set_defaults(func=table)
    p = commands.add_parser("plot")
    p.add_argument("results", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--configs", type=lambda s: s.split(","), help="only these configurations")
    p.add_argument("--pairs", type=lambda s: s.split(","), help="only these pairs (the same for every curve)")
    p.set_defaults(func=plot)
    p = commands.add_parser("sheet")
    p.add_argument("results", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--columns", type=lambda s: s.split(","), required=True, help="CONFIG@WEIGHT[@SIZE],…")
    p.add_argument("--pairs", type=lambda s: s.split(","))
    p.add_argument("--cell", type=int, default=192)
    p.set_defaults(func=sheet)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
