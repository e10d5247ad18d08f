"""``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.cli import common
from impasto.cli.progress import BatchFeedback

if TYPE_CHECKING:  # at run time the batch app (and torch) load only once a command runs
    from impasto.apps.batch import BatchOptions
from impasto.config import StyleConfig
from impasto.errors import ImpastoError


def build_parser() -> argparse.ArgumentParser:
    """``impasto batch``'s parser: its folders and its own switches, then what every command that
    paints takes (common.add_stylize_options)."""
    p = common.Parser(
        prog="impasto batch",
        description="Paint every image of INPUT_DIR in the style of STYLE into OUTPUT_DIR, mirroring "
        "its folders. A rerun skips what is done and redoes what changed (input, style or options).",
    )
    p.add_argument("input_dir", type=Path, help="the folder of photos")
    p.add_argument("style", type=Path, nargs="+", help="the style image(s), or a folder of them")
    p.add_argument("-o", "--output", type=Path, required=True, help="the output folder (created if missing)")
    p.add_argument("-r", "--recursive", action="store_true", help="also the images in subfolders")
    p.add_argument("--force", action="store_true", help="redo every image, even those up to date")
    p.add_argument(
        "--format", choices=["png", "jpg", "webp", "tif"], help="output format (default: the input's own)"
    )
    common.add_ray(p, "run the images")
    common.add_stylize_options(p, "batch")
    return p


def batch_main(argv: Sequence[str]) -> int:
    """``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``: on a terminal one bar for the batch and one for
    the image, in a log lines that name their image; ``--dry-run`` prints each image's plan instead."""
    args = build_parser().parse_args(argv)
    try:
        common.check_run_options(args)
        config = common.config_from_args(args)
        # The output folder's own checks (a folder, none of its images an input) are run_batch's.
        inputs = common.input_files([args.input_dir, *args.style], config, args.config)
        written = {"-o": args.output, "--log-json": args.log_json, "--save-config": args.save_config}
        common.check_written(written, inputs, checked=("-o",))
        common.save_config(args, config)
        if args.dry_run:
            return _dry_run(args, config)
        feedback = BatchFeedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
        try:
            feedback.say("loading PyTorch…")  # seconds on a busy machine, before the first image
            from impasto.apps.batch import BatchInterrupted, run_batch

            try:
                how = _batch_options(args)
                summary = run_batch(
                    args.input_dir, args.style, args.output, config, how, callback=feedback.update
                )
            except BatchInterrupted as stop:
                feedback.close()
                print(stop.summary.line())
                return common.failed(stop, "interrupted; finished images are kept, a rerun does the rest")
        finally:
            feedback.close()
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return common.failed(error, "interrupted before the batch began; nothing written")
    if summary.as_png:
        names = ", ".join(str(item.relative) for item in summary.as_png[:3])
        more = f" and {len(summary.as_png) - 3} more" if len(summary.as_png) > 3 else ""
        print(
            common.printable(f"impasto: {names}{more} written as PNG (impasto cannot write their format)"),
            file=sys.stderr,
        )
    if summary.swept:
        print(f"removed {summary.swept} temporary files of an earlier, interrupted run", file=sys.stderr)
    if args.quiet:  # otherwise the bars or the log lines said it as it happened
        for item, message in summary.failed:
            print(common.printable(f"impasto: failed: {item.relative}: {message}"), file=sys.stderr)
    print(summary.line())
    return common.EXIT_FAILED if summary.failed else 0


def _batch_options(args: argparse.Namespace) -> BatchOptions:
    """The command line's batch options (--recursive, --force, --format, --ray, --time-budget) as the
    library takes them: what a batch and its --dry-run are both told."""
    from impasto.apps.batch import BatchOptions

    suffix = f".{args.format}" if args.format else None
    return BatchOptions(args.recursive, args.force, suffix, args.ray, args.time_budget)


def _dry_run(args: argparse.Namespace, config: StyleConfig) -> int:
    """--dry-run: each image's plan, or that it is up to date or cannot be made, on stdout; no image
    written. Exit 1 when an image cannot be made, as the batch itself would."""
    from impasto.apps.batch import plan_batch

    planned = plan_batch(args.input_dir, args.style, args.output, config, _batch_options(args))
    for entry in planned:
        item = entry.item
        if entry.state == "to do":
            plan = "\n".join(f"  {line}" for line in entry.plan.describe().splitlines())
            print(f"{common.printable(item.relative)} → {common.printable(item.output)}:\n{plan}")
        elif entry.state == "up to date":
            print(
                common.printable(f"{item.relative} → {item.output}: up to date, skipped (--force redoes it)")
            )
        else:
            print(common.printable(f"{item.relative}: cannot be made: {entry.message}"))
    counts = {
        state: sum(1 for e in planned if e.state == state) for state in ("to do", "up to date", "cannot")
    }
    print(
        f"{len(planned)} images: {counts['to do']} to do, {counts['up to date']} up to date, "
        f"{counts['cannot']} cannot be made"
    )
    return common.EXIT_FAILED if counts["cannot"] else 0
