"""Time to the look: the look judges' scores against seconds, for choosing the defaults by what a run costs.

    python bench/time_to_look.py run --config old:style_loss=gram,iterations=200 --config new: --size 512
    python bench/time_to_look.py table bench/results/time_to_look.jsonl
    python bench/time_to_look.py plot bench/results/time_to_look.jsonl -o docs/time_to_look.png

``run`` stylizes each calibration pair (bench/look.py's figure pairs by default) with each configuration
(``NAME:option=value,…``, options of ``impasto.StyleConfig``; ``NAME:`` alone is the defaults) at
``--size``, on the CPU unless a configuration says otherwise. While it runs, the image is kept at a few
points: within the base scale after each of ``--checkpoints`` iterations, and at the end of every scale.
After the run (outside the clock) each kept image, resized to the output's size, is scored with the look
judges (bench/look.py: style@512/256/128, content, embedding), so one run gives a curve of the look
against the seconds it took to get there. One JSON line per point is appended to ``--results``; the
final point of a run also names its image (kept under ``--images``), for ``bench/look.py sheet``.

A point inside a run is what that run had made by then, not what a run stopped there would make: a run
with fewer iterations also spends fewer at its later scales. Run the candidate defaults themselves to
confirm a choice. Seconds include loading and the targets, as a user waits for them; they are wall
seconds on a machine that should be idle (the record says which). Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

import common
import impasto
from impasto.core import pyramid
from impasto.io import images
from look import FIGURE_PAIRS, PAIRS, SCORES, STYLES, Judge, geomean, parse_config, photo, read

ROOT = common.ROOT
RESULTS = common.RESULTS / "time_to_look.jsonl"


def stylize_keeping(
    content: Image.Image, style: Image.Image, options: dict[str, Any], checkpoints: set[int]
) -> tuple[impasto.Stylized, list[tuple[str, float, torch.Tensor]], float]:
    """Stylize, keeping the image (1, 3, h, w) with its seconds at the base scale's ``checkpoints`` and
    at the end of every scale; returns the result, the kept images and the run's seconds."""
    kept: list[tuple[str, float, torch.Tensor]] = []
    start = time.perf_counter()

    def keep(progress: impasto.Progress) -> None:
        at_checkpoint = progress.scale == 1 and progress.iteration in checkpoints
        if at_checkpoint or progress.iteration == progress.total:
            where = f"scale {progress.scale}/{progress.scales}, iteration {progress.iteration}"
            kept.append((where, time.perf_counter() - start, progress.image.clone()))

    done = impasto.stylize_detailed(content, style, callback=keep, **options)
    return done, kept, time.perf_counter() - start


def run(args: argparse.Namespace) -> None:
    judge = Judge()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for config in args.config:
        for pair in args.pairs:
            photo_name, style_name = PAIRS[pair]
            content, style = photo(photo_name), STYLES[style_name]()
            options = {"size": args.size, "device": "cpu", **config.options}
            done, kept, seconds = stylize_keeping(content, style, options, args.checkpoints)
            final_shape = (done.image.height, done.image.width)
            path = args.images / config.name / f"{pair}_{args.size}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            images.save(done.image, path)
            points = [(w, s, images.to_pil(pyramid.resize(i, final_shape))) for w, s, i in kept]
            points.append(("final", seconds, done.image))
            for where, at, picture in points:
                row = {
                    "config": config.name,
                    "options": config.options,
                    "pair": pair,
                    "size": args.size,
                    "style_weight": done.config.style_weight,
                    "point": where,
                    "seconds": round(at, 1),
                    **({"image": str(path.relative_to(ROOT))} if where == "final" else {}),
                    "machine": common.machine(),
                    **{k: round(v, 4) for k, v in judge.score(picture, content, style).items()},
                }
                print(json.dumps(row), flush=True)
                with args.results.open("a") as out:
                    out.write(json.dumps(row) + "\n")


def table(args: argparse.Namespace) -> None:
    """Per configuration, each run's final point: seconds and scores, and their geometric means."""
    finals = [r for r in read(args.results) if r["point"] == "final"]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in finals:
        groups[(row["config"], row["size"])].append(row)
    print("| config | size | pair | seconds | " + " | ".join(SCORES) + " |")
    print("|---|---|---|---|" + "---|" * len(SCORES))
    for (name, size), group in sorted(groups.items()):
        for row in group:
            cells = [f"{row[key]:.3f}" for key in SCORES]
            print(f"| {name} | {size} | {row['pair']} | {row['seconds']:.0f} | " + " | ".join(cells) + " |")
        means = [f"{geomean([r[key] for r in group]):.3f}" for key in SCORES]
        seconds = geomean([r["seconds"] for r in group])
        print(f"| **{name}** | {size} | mean of {len(group)} | {seconds:.0f} | " + " | ".join(means) + " |")


def plot(args: argparse.Namespace) -> None:
    """style@128 and embedding against seconds: one curve per configuration, averaged over its pairs."""
    import matplotlib  # the bench extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in read(args.results) if not args.configs or r["config"] in args.configs]
    rows = [r for r in rows if not args.size or r["size"] == args.size]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        runs[f"{row['config']} ({row['size']} px)"][row["point"]].append(row)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    for label, points in sorted(runs.items()):
        pairs = set.intersection(*({r["pair"] for r in group} for group in points.values()))
        order = sorted(points, key=lambda p: geomean([r["seconds"] for r in points[p] if r["pair"] in pairs]))
        xs = [geomean([r["seconds"] for r in points[p] if r["pair"] in pairs]) for p in order]
        for axis, key in zip(axes, ("style@128", "embedding"), strict=True):
            ys = [geomean([r[key] for r in points[p] if r["pair"] in pairs]) for p in order]
            axis.plot(xs, ys, marker="o", label=f"{label}, {len(pairs)} pairs")
    for axis, key in zip(axes, ("style@128", "embedding"), strict=True):
        axis.set_xlabel(f"seconds ({rows[0]['machine']})" if rows else "seconds")
        axis.set_ylabel(f"{key} (lower: more of the painting)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle("Time to the look: each point a kept image, scored at the output's size")
    figure.tight_layout()
    figure.savefig(args.output)
    print(args.output)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("run")
    p.add_argument("--config", type=parse_config, action="append", required=True)
    p.add_argument("--pairs", type=lambda s: s.split(","), default=list(FIGURE_PAIRS))
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--checkpoints", type=lambda s: {int(i) for i in s.split(",")}, default={25, 50, 100})
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--images", type=Path, default=ROOT / "out" / "time_to_look")
    p.set_defaults(func=run)
    p = commands.add_parser("table")
    p.add_argument("results", type=Path)
    p.set_defaults(func=table)
    p = commands.add_parser("plot")
    p.add_argument("results", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--configs", type=lambda s: s.split(","), help="only these configurations")
    p.add_argument("--size", type=int, help="only the runs at this output size")
    p.set_defaults(func=plot)
    args = parser.parse_args(argv)
    print(common.header())
    args.func(args)


if __name__ == "__main__":
    main()
