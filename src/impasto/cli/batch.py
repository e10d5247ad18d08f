"""``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from impasto.cli.common import EXIT_FAILED, check_written, failed, input_files
from impasto.cli.progress import BatchBars
from impasto.cli.stylize import build_parser, config_from_args, save_config
from impasto.errors import ImpastoError


def batch_main(argv: Sequence[str]) -> int:
    """``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``: one bar for the batch, one for the image."""
    args = build_parser(batch=True).parse_args(argv)
    try:
        config = config_from_args(args)
        # The output folder's own checks (a folder, none of its images an input) are run_batch's.
        inputs = input_files([args.input_dir, *args.style], config, args.config)
        check_written({"-o": args.output, "--save-config": args.save_config}, inputs, checked=("-o",))
        save_config(args, config)
        from impasto.apps.batch import BatchInterrupted, Event, run_batch

        bars = BatchBars(disabled=args.quiet)

        def on_event(event: Event) -> None:
            bars.update(event)

        try:
            summary = run_batch(
                args.input_dir,
                args.style,
                args.output,
                config,
                recursive=args.recursive,
                force=args.force,
                suffix=f".{args.format}" if args.format else None,
                callback=on_event,
                ray_address=args.ray,
            )
        finally:
            bars.close()
    except BatchInterrupted as stop:
        print(stop.summary.line())
        return failed(stop, "interrupted; finished images are kept, a rerun does the rest")
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted before the batch began; nothing written")
    if summary.as_png:
        names = ", ".join(str(item.relative) for item in summary.as_png[:3])
        more = f" and {len(summary.as_png) - 3} more" if len(summary.as_png) > 3 else ""
        print(f"impasto: {names}{more} written as PNG (impasto cannot write their format)", file=sys.stderr)
    if summary.swept:
        print(f"removed {summary.swept} temporary files of an earlier, interrupted run", file=sys.stderr)
    if args.quiet:  # otherwise the bars said it as it happened
        for item, message in summary.failed:
            print(f"impasto: failed: {item.relative}: {message}", file=sys.stderr)
    print(summary.line())
    return EXIT_FAILED if summary.failed else 0
