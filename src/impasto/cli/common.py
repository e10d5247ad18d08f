"""What every command shares: its argument parser, the exit codes, the one-line error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from impasto import __version__, options
from impasto.config import StyleConfig
from impasto.errors import ConfigError

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
CLEAR_LINE = "\r\x1b[K"  # back to the start of the terminal's line, and erase it
DEFAULTS = StyleConfig()


class Parser(argparse.ArgumentParser):
    """Every command's parser: one-line errors that name the command's own --help, and --version."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_argument("-V", "--version", action="version", version=f"impasto {__version__}")

    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block, with a suggestion for a mistyped option."""
        if message.startswith("unrecognized arguments:"):
            import difflib

            known = list(self._option_string_actions)
            for word in message.split(":", 1)[1].split():
                close = (
                    difflib.get_close_matches(word.split("=")[0], known, n=1) if word.startswith("-") else []
                )
                if close:
                    message += f"; did you mean {close[0]}?"
                    break
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def default_of(name: str) -> str:
    return options.default_text(options.BY_NAME[name])


def checked_output(output: Path, inputs: Sequence[Path]) -> Path:
    """``output``, once it is known to be writable in a format impasto writes and not one of ``inputs``
    (checked before a run, not after it)."""
    from impasto.io import images

    output, _ = images.check_output(output)
    if any(path.exists() and path.resolve() == output.resolve() for path in inputs):
        raise ConfigError(f"{output} is one of the input images; choose another -o")
    return output


def fail(message: str, code: int) -> int:
    # One line whatever the message holds (a path with a newline in it, a library's multi-line text).
    one_line = " ".join(message.splitlines())
    print(f"impasto: error: {one_line}", file=sys.stderr)
    return code


def failed(error: BaseException, interrupted: str = "interrupted", kept: str = "") -> int:
    """The one rule from an error to its line and exit code: a bad option or combination (ConfigError)
    2, Ctrl-C 130 (saying ``interrupted``: what was kept), anything else a user can fix — an image, the
    weights, the device, memory — 1. ``kept``, if given, follows the other messages after a semicolon
    (what a failed run leaves behind)."""
    after = f"; {kept}" if kept else ""
    if isinstance(error, ConfigError):
        return fail(f"{error}{after}", EXIT_USAGE)
    if isinstance(error, KeyboardInterrupt):
        return fail(interrupted, EXIT_INTERRUPTED)
    if isinstance(error, MemoryError):
        return fail(f"out of memory; try a smaller --size{after}", EXIT_FAILED)
    return fail(f"{error}{after}", EXIT_FAILED)
