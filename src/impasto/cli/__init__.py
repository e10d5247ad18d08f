"""The command line: ``impasto CONTENT STYLE -o OUT`` and its commands, thin layers over the library.

    stylize.py    impasto [stylize] CONTENT STYLE… -o OUT, impasto demo
    preview.py    impasto preview CONTENT STYLE… -o OUT: the feed-forward sketch, in a second
    figures.py    impasto explain, impasto sweep
    batch.py      impasto batch
    video.py      impasto video, impasto metrics
    serve.py      impasto serve
    examples.py   impasto examples: the bundled images, which example:NAME names wherever one is taken
    weights.py    impasto weights
    (here)        impasto help [COMMAND]: a command's --help
    progress.py   the one progress display: status line, bars, log lines, JSON lines
    common.py     the parser and the shared pieces each command builds its own from (the picture's
                  options, read from StyleConfig's fields; the run's options; --config), the exit
                  codes and the one-line error every command uses

Every problem a user can fix ends in one line on stderr and a non-zero exit code:
1 for a failed run, 2 for bad arguments, 130 for Ctrl-C, SIGTERM or SIGHUP (after saving the best
image so far).
Nothing a command writes may be one of its inputs (common.check_written). A file that only records
the run (--log-json, --save-config) and fails to be written costs one warning line, not the picture:
the exit code stays 0.
Importing it loads no torch: --help and --version answer at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence

from impasto.cli.batch import batch_main
from impasto.cli.common import CLEAR_LINE, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, config_from_args
from impasto.cli.examples import examples_main
from impasto.cli.figures import FIGURES, figure_main
from impasto.cli.preview import preview_main
from impasto.cli.progress import Feedback
from impasto.cli.serve import serve_main
from impasto.cli.stylize import build_parser, demo_main, stylize_main
from impasto.cli.video import metrics_main, video_main
from impasto.cli.weights import weights_main

__all__ = [
    "CLEAR_LINE",
    "COMMANDS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "Feedback",
    "build_parser",
    "config_from_args",
    "help_main",
    "main",
]


def _stop_as_on_ctrl_c() -> None:
    """SIGTERM (a shutdown, a supervisor) and SIGHUP (the terminal closed) stop a command as Ctrl-C
    does: the best image so far saved, the batch's summary printed. From the main thread only (the
    tests call main from others)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):  # no SIGHUP on Windows
            signal.signal(getattr(signal, name), signal.default_int_handler)


def help_main(argv: Sequence[str]) -> int:
    """``impasto help [COMMAND]``: the command's --help, or impasto's with the list of commands."""
    if not argv:
        return stylize_main(["--help"])
    name = argv[0]
    if name in ("stylize", "help") or name in FIGURES or name in COMMANDS:
        return main([name, "--help"] if name != "help" else ["--help"])
    import difflib

    known = sorted(["stylize", *FIGURES, *COMMANDS])
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    print(f"impasto help: no command {name!r}; {hint}the commands: {', '.join(known)}", file=sys.stderr)
    return EXIT_USAGE


# Commands other than stylize, by the name that starts them (explain and sweep: FIGURES).
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "batch": batch_main,
    "video": video_main,
    "metrics": metrics_main,
    "serve": serve_main,
    "demo": demo_main,
    "examples": examples_main,
    "preview": preview_main,
    "weights": weights_main,
    "help": help_main,
}


def main(argv: Sequence[str] | None = None) -> int:
    """``impasto [stylize] CONTENT STYLE… -o OUT``, or one of the other commands by its name. A content
    image named like a command is stylized with the explicit ``impasto stylize batch style.jpg …``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else ""
    if command != "serve":  # the server stops on these itself, after its running job
        _stop_as_on_ctrl_c()
    try:
        if command == "stylize":
            return stylize_main(arguments[1:])
        if command in FIGURES:
            return figure_main(command, arguments[1:])
        if command in COMMANDS:
            return COMMANDS[command](arguments[1:])
        return stylize_main(arguments)
    except KeyboardInterrupt:
        # A second Ctrl-C that lands while the first is being handled (the best image being saved, the
        # progress bar closing) is the command's end too: one line, never a traceback. What the first
        # saved is whole: every file is written atomically.
        print(f"{CLEAR_LINE if sys.stderr.isatty() else ''}impasto: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
