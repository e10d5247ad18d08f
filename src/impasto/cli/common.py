"""What every command shares: its argument parser, the exit codes, the one-line error."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from impasto import __version__, options
from impasto.choices import INIT_CHOICES
from impasto.config import StyleConfig
from impasto.errors import ConfigError, ImpastoError

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


def input_files(
    images_given: Sequence[Path], config: StyleConfig, config_file: Path | None = None
) -> list[Path]:
    """Every file a run reads, which nothing it writes may be: the images given (a folder: the images
    in it), the masks, a start image, a weights file and the --config file."""
    from impasto.io import images

    found: list[Path] = []
    for path in images_given:
        try:
            found += [Path(p) for p in images.expand(path) if isinstance(p, str | os.PathLike)]
        except ImpastoError:  # a folder without images: the run itself says so
            continue
    found += [Path(p) for p in (*config.content_masks, *config.style_masks) if isinstance(p, Path)]
    if config.init not in INIT_CHOICES:
        found.append(Path(config.init))
    found += [p for p in (config.weights, config_file) if p is not None]
    return found


def check_written(
    written: Mapping[str, Path | None], inputs: Sequence[Path], checked: Collection[str] = ()
) -> None:
    """The files a command writes, by the option that names them (None: not asked for): each one
    writable (but for those in ``checked``, which their command checks its own way), none of them one
    of ``inputs``, no two of them the same file. Before the run, so that it fails at once."""
    from impasto.io import files

    named = []
    for option, path in written.items():
        if path is None:
            continue
        if option not in checked:
            reason = files.unwritable(path)
            if reason is not None:
                raise ConfigError(f"{option} {path}: {reason}")
        named.append((option, path))
    files.check_outputs(named, inputs)


def checked_output(
    output: Path, inputs: Sequence[Path], others: Mapping[str, Path | None] | None = None
) -> Path:
    """``output``, once it is known to be writable in a format impasto writes and not one of ``inputs``
    (checked before a run, not after it). ``others``: the files the run writes besides it, by the option
    that names them (--log-json, --save-config), checked as :func:`check_written` does."""
    from impasto.io import images

    output, _ = images.check_output(output)
    check_written({"-o": output, **(others or {})}, inputs, checked=("-o",))
    return output


def warn(message: str) -> None:
    """One line on stderr about something that went wrong without costing the result."""
    one_line = " ".join(message.splitlines())
    print(f"impasto: warning: {one_line}", file=sys.stderr)


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
