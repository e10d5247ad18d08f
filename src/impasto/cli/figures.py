"""``impasto explain`` and ``impasto sweep``: the figures that show what the method does."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from impasto.choices import MODELS
from impasto.cli.common import Parser, checked_output, default_of, failed, input_files, printable
from impasto.cli.progress import CellFeedback
from impasto.config import DEFAULT_ITERATIONS, StyleConfig, floats
from impasto.errors import ImpastoError

FIGURES = ("explain", "sweep")


def build_figure_parser(kind: str) -> argparse.ArgumentParser:
    if kind == "explain":
        p = Parser(
            prog="impasto explain",
            description="What each layer sees: content reconstructions from white noise using each of "
            "relu1_1 … relu5_1 alone, and style reconstructions from the layer sets {relu1_1}, "
            "{relu1_1, relu2_1}, … (Gatys et al., Figure 1), as one labelled grid.",
        )
        p.add_argument("image", type=Path, help="the image to reconstruct")
        size, iterations = 128, 150
    else:
        p = Parser(
            prog="impasto sweep",
            description="The same content and style at several α/β ratios (and optionally several "
            "style layer sets), as one labelled grid.",
        )
        p.add_argument("content", type=Path)
        p.add_argument("style", type=Path, nargs="+")
        p.add_argument(
            "--ratios",
            type=floats,
            default=(0.02, 0.2, 2.0),
            metavar="R1,R2,…",
            help="α/β ratios in impasto's normalized units, one column each (default: 0.02,0.2,2; "
            "the stylize default is 0.2)",
        )
        p.add_argument(
            "--layer-sets",
            metavar="SET;SET;…",
            help="style layer sets separated by ';', one row each, e.g. 'relu1_1,relu2_1;relu3_1,relu4_1'",
        )
        size, iterations = 192, DEFAULT_ITERATIONS["cpu"]
    p.add_argument("-o", "--output", type=Path, required=True, help="the figure, as .png")
    p.add_argument(
        "--size", type=int, default=size, metavar="PX", help=f"each cell's long side (default: {size})"
    )
    p.add_argument(
        "--iterations", type=int, default=iterations, metavar="N", help=f"per cell (default: {iterations})"
    )
    p.add_argument("--model", choices=sorted(MODELS), help=f"(default: {default_of('model')})")
    p.add_argument("--weights", type=Path, metavar="PATH")
    p.add_argument("--pooling", choices=["max", "avg"], help=f"(default: {default_of('pooling')})")
    p.add_argument("--device", metavar="{auto,cpu,cuda,cuda:N,mps}", help="(default: auto)")
    p.add_argument("--seed", type=int, help=f"(default: {default_of('seed')})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or log lines")
    return p


def figure_main(kind: str, argv: Sequence[str]) -> int:
    """``impasto explain`` and ``impasto sweep``."""
    args = build_figure_parser(kind).parse_args(argv)
    options = {
        name: getattr(args, name)
        for name in ("size", "iterations", "model", "weights", "pooling", "device", "seed")
        if getattr(args, name) is not None
    }
    try:
        from impasto.io import images

        config = StyleConfig(**options)  # every option checked before the first cell's long run
        read = [args.image] if kind == "explain" else [args.content, *args.style]
        output = checked_output(args.output, input_files(read, config))
        from impasto.apps import figures

        if kind == "explain":
            cells = len(figures.EXPLAIN_CONTENT_LAYERS) + len(figures.EXPLAIN_STYLE_LAYERS)
        else:
            cells = len(args.ratios) * len((args.layer_sets or "all").split(";"))
        bar = CellFeedback(cells, quiet=args.quiet)
        bar.say(f"{cells} cells of {args.iterations} iterations at {args.size} px; loading the network…")
        try:
            if kind == "explain":
                figure = figures.explain(args.image, callback=bar.update, **options)
            else:
                sets = [s.strip() for s in args.layer_sets.split(";")] if args.layer_sets else None
                figure = figures.sweep(
                    args.content, args.style, args.ratios, layer_sets=sets, callback=bar.update, **options
                )
        finally:
            bar.close()
        images.save(figure, output)
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted; no figure written")
    print(printable(output))
    return 0
