"""``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from impasto.cli.common import EXIT_FAILED, check_run_options, check_written, failed, input_files
from impasto.cli.progress import BatchFeedback
from impasto.cli.stylize import build_parser, config_from_args, save_config
from impasto.config import StyleConfig
from impasto.errors import ImpastoError


def batch_main(argv: Sequence[str]) -> int:
    """``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``: on a terminal one bar for the batch and one for
    the image, in a log lines that name their image; ``--dry-run`` prints each image's plan instead."""
    args = build_parser(batch=True).parse_args(argv)
    try:
        check_run_options(args)
        config = config_from_args(args)
        # The output folder's own checks (a folder, none of its images an input) are run_batch's.
        inputs = input_files([args.input_dir, *args.style], config, args.config)
        written = {"-o": args.output, "--log-json": args.log_json, "--save-config": args.save_config}
        check_written(written, inputs, checked=("-o",))
        save_config(args, config)
        if args.dry_run:
            return _dry_run(args, config)
        feedback = BatchFeedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
        try:
            feedback.say("loading PyTorch…")  # seconds on a busy machine, before the first image
            from impasto.apps.batch import BatchInterrupted, run_batch

            try:
                summary = run_batch(
                    args.input_dir,
                    args.style,
                    args.output,
                    config,
                    **_shared_options(args),
                    callback=feedback.update,
                    ray_address=args.ray,
                )
            except BatchInterrupted as stop:
                feedback.close()
                print(stop.summary.line())
                return failed(stop, "interrupted; finished images are kept, a rerun does the rest")
        finally:
            feedback.close()
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted before the batch began; nothing written")
    if summary.as_png:
        names = ", ".join(str(item.relative) for item in summary.as_png[:3])
        more = f" and {len(summary.as_png) - 3} more" if len(summary.as_png) > 3 else ""
        print(f"impasto: {names}{more} written as PNG (impasto cannot write their format)", file=sys.stderr)
    if summary.swept:
        print(f"removed {summary.swept} temporary files of an earlier, interrupted run", file=sys.stderr)
    if args.quiet:  # otherwise the bars or the log lines said it as it happened
        for item, message in summary.failed:
            print(f"impasto: failed: {item.relative}: {message}", file=sys.stderr)
    print(summary.line())
    return EXIT_FAILED if summary.failed else 0


def _shared_options(args: argparse.Namespace) -> dict[str, Any]:
    """What a batch and its --dry-run are both told besides the folders, the styles and the config."""
    return {
        "recursive": args.recursive,
        "force": args.force,
        "suffix": f".{args.format}" if args.format else None,
        "time_budget": args.time_budget,
    }


def _dry_run(args: argparse.Namespace, config: StyleConfig) -> int:
    """--dry-run: each image's plan, or that it is up to date or cannot be made, on stdout; no image
    written. Exit 1 when an image cannot be made, as the batch itself would."""
    from impasto.apps.batch import plan_batch

    planned = plan_batch(args.input_dir, args.style, args.output, config, **_shared_options(args))
    for entry in planned:
        item = entry.item
        if entry.state == "to do":
            plan = "\n".join(f"  {line}" for line in entry.plan.describe().splitlines())
            print(f"{item.relative} → {item.output}:\n{plan}")
        elif entry.state == "up to date":
            print(f"{item.relative} → {item.output}: up to date, skipped (--force redoes it)")
        else:
            print(f"{item.relative}: cannot be made: {entry.message}")
    counts = {
        state: sum(1 for e in planned if e.state == state) for state in ("to do", "up to date", "cannot")
    }
    print(
        f"{len(planned)} images: {counts['to do']} to do, {counts['up to date']} up to date, "
        f"{counts['cannot']} cannot be made"
    )
    return EXIT_FAILED if counts["cannot"] else 0
