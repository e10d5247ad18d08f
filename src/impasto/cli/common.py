"""What every command shares: its parser and the pieces each command builds its own from (the
picture's options, read from StyleConfig's fields; the options of how a run goes; --config and
--save-config), the exit codes, the one-line error."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NoReturn

from impasto._version import __version__
from impasto.choices import INIT_CHOICES
from impasto.config import BY_NAME, GROUPS, OPTIONS, Option, StyleConfig, default_text, read_value
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
        """One line instead of argparse's usage block: for an option of impasto's this command does
        not take, why (:data:`NOT_TAKEN`); else a suggestion for a mistyped option."""
        if message.startswith("unrecognized arguments:"):
            import difflib

            words = [word.split("=")[0] for word in message.split(":", 1)[1].split() if word.startswith("-")]
            command = self.prog.removeprefix("impasto").strip() or "stylize"
            for word in words:
                why = next(
                    (why for dest, why in NOT_TAKEN.get(command, {}).items() if word in _flags(dest)), None
                )
                if why is not None:
                    self.exit(EXIT_USAGE, f"{self.prog}: error: no {word} here: {why}\n")
            known = list(self._option_string_actions)
            for word in words:
                close = difflib.get_close_matches(word, known, n=1)
                if close:
                    message += f"; did you mean {close[0]}?"
                    break
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@dataclass(frozen=True)
class RunOption:
    """An option of how a command runs, not of the picture (those are config.OPTIONS, StyleConfig's
    fields). One entry serves every command that takes it (impasto, batch, video), with one flag, one
    parsing and one default; only the help may say how it applies to a command (``help_for``)."""

    dest: str
    flags: tuple[str, ...]
    help: str
    type: Any = None
    metavar: str | None = None
    default: Any = None
    action: str | None = None
    help_for: Mapping[str, str] = field(default_factory=dict)  # by command, instead of ``help``


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("quiet", ("-q", "--quiet"), "no progress bar or log lines", action="store_true"),
    RunOption(
        "time_budget",
        ("--time-budget",),
        "stop after S seconds (loading included) and save the best image so far, as the web app's time "
        "budget does",
        float,
        "S",
        help_for={
            "batch": "a budget per image: each stops after S seconds (its loading included) and its best "
            "image so far is saved, then the batch goes on; a rerun with the same budget skips it",
            "video": "a budget per frame: each stops after S seconds and its best image so far is kept",
        },
    ),
    RunOption(
        "log_every",
        ("--log-every",),
        "when stderr is not a terminal (a log file, a pipe), a plain line every N iterations of each "
        "scale, and at its first and last, instead of a progress bar (default: 25)",
        int,
        "N",
    ),
    RunOption(
        "log_json",
        ("--log-json",),
        "write a JSON line per iteration to FILE: scale, iteration, loss and its terms, seconds since the "
        "start (the file appears, whole, when the run ends; /dev/stdout or a pipe gets each line at once)",
        Path,
        "FILE",
        help_for={
            "batch": "one JSON-lines file for the whole batch: a line per iteration naming its image "
            '("item", its path in INPUT_DIR), then scale, iteration, loss and its terms, seconds since the '
            "start of the batch (the file appears, whole, when the batch ends)",
            "video": "one JSON-lines file for the whole video: a line per iteration naming its frame "
            '("frame", from 1), then iteration, loss and its terms, seconds since the start (the file '
            "appears, whole, when the run ends)",
        },
    ),
    RunOption(
        "save_every",
        ("--save-every",),
        "also save every N-th iteration beside the output as NAME_0100.EXT",
        int,
        "N",
        default=0,
    ),
    RunOption(
        "preview_first",
        ("--preview-first",),
        "write a feed-forward sketch (as 'impasto preview' makes, in about a second) to the output first, "
        "then replace it with the painting when the optimization ends; Ctrl-C during the optimization "
        "leaves the sketch there. Without onnxruntime: says so and paints",
        action="store_true",
    ),
    RunOption(
        "dry_run",
        ("--dry-run",),
        "print the plan (scales, iterations, tiles) after checking every option; optimize nothing",
        action="store_true",
        help_for={
            "batch": "print each image's plan (scales, iterations, tiles), or that it is up to date, after "
            "checking every option and image; write no image",
            "video": "print the plan of the frames (each shot's first, the later ones) and what an earlier "
            "run left in the work folder, after checking every option; write nothing",
        },
    ),
)

# The options a command deliberately does not take, and why; every other option of `impasto` it takes
# (tests/cli/test_options_everywhere.py walks the tables and each command's parser).
_NOT_OPTIMIZED = "the sketch is one pass of a feed-forward network: nothing is optimized"
_OWN_NETWORK = "the sketch runs its own network (Magenta's, on onnxruntime), not the backbone"
NOT_TAKEN: dict[str, dict[str, str]] = {
    "batch": {
        "save_every": "intermediates would land in the mirrored output folder, where NAME_0100.png can be "
        "another photo's output, and a rerun would not know them; try the options on one image first",
        "preview_first": "a sketch in the output folder would pass for a finished image; 'impasto preview' "
        "sketches one image to choose a style",
    },
    "video": {
        "save_every": "a frame's intermediates are of no use; the work folder keeps every finished frame",
        "preview_first": "frames reach the output only when the video is written, at the end",
    },
    "preview": {
        **dict.fromkeys(
            (
                "iterations",
                "multiscale",
                "base_size",
                "iteration_decay",
                "scale_step",
                "style_scale",
                "style_loss",
                "content_weight",
                "style_weight",
                "tv_weight",
                "content_layers",
                "style_layers",
                "init",
                "optimizer",
                "learning_rate",
                "seed",
                "time_budget",
                "log_every",
                "log_json",
                "save_every",
                "preview_first",
            ),
            _NOT_OPTIMIZED,
        ),
        **dict.fromkeys(
            ("model", "weights", "preprocessing", "pooling", "device", "precision", "compile", "max_memory"),
            _OWN_NETWORK,
        ),
        "content_masks": "a sketch is for choosing a style: one style over the whole photo",
        "style_masks": "a sketch is for choosing a style: one style over the whole photo",
        "dry_run": "the sketch takes a second: there is no plan to look at first",
        "config": "the sketch takes the few options above, on the command line",
        "save_config": "the sketch takes the few options above, on the command line",
    },
}


def add_images(parser: argparse.ArgumentParser, style: str, output: str) -> None:
    """CONTENT STYLE… -o OUTPUT, as ``impasto`` and ``impasto preview`` take them; ``style`` is the
    style's help, ``output`` what is written."""
    parser.add_argument("content", type=Path, help="the photo to repaint")
    parser.add_argument("style", type=Path, nargs="+", help=style)
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help=f"where to write {output}; .png, .jpg, .webp or .tif"
    )


def add_ray(parser: argparse.ArgumentParser, runs: str) -> None:
    """--ray ADDRESS: ``runs`` (what is sent) on a Ray cluster."""
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help=f"{runs} on a Ray cluster: its address, or local[:N] for one on this machine (N CPUs); "
        "needs pip install 'impasto[ray]'",
    )


def add_picture_options(parser: argparse.ArgumentParser) -> None:
    """Every option of the picture (StyleConfig's fields, config.OPTIONS) on ``parser``, each in its
    --help section; each lands on the namespace under its field's name, None when not given (so that
    a --config file or the defaults apply)."""
    groups = {group: parser.add_argument_group(group) for group in GROUPS}
    for option in OPTIONS:
        add_option(groups[option.group], option)


def add_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, option: Option) -> None:
    """One of StyleConfig's options as an argument: its flag, help and default as its field says, its
    value parsed and its choices offered as the field's are."""
    shown = default_text(option)
    keywords: dict[str, Any] = {
        "dest": option.name,
        "help": f"{option.help} (default: {shown})" if shown else option.help,
    }
    if option.switch:
        keywords["action"] = argparse.BooleanOptionalAction
    else:
        keywords.update(type=word_reader(option), metavar=option.metavar)
        if option.choices is not None:
            keywords["choices"] = list(option.choices)
        if option.many:
            keywords["nargs"] = "+"
    parser.add_argument(option.flags, **keywords)


@functools.cache
def word_reader(option: Option) -> Callable[[str], Any]:
    """argparse's ``type`` for ``option``: :func:`impasto.config.read_value` of one word, under its
    parse's name (argparse's "invalid int value: 'many'" names it); one per option, so that every
    command's argument is parsed by the same function."""

    def read_word(text: str) -> Any:
        return read_value(option, text, words=True)

    read_word.__name__ = (option.parse or str).__name__
    return read_word


def add_config_files(parser: argparse.ArgumentParser) -> None:
    """--config FILE (options from a TOML file or a PNG impasto made) and --save-config FILE.toml."""
    group = parser.add_argument_group("options from a file")
    group.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="take options from a TOML file (keys as in StyleConfig: style_weight = 20), or from a picture "
        "impasto made (a PNG, JPEG, WebP or TIFF carries the options that made it); flags given here "
        "override them",
    )
    group.add_argument(
        "--save-config",
        type=Path,
        metavar="FILE.toml",
        help="write the options of this run (those that differ from the defaults) to a TOML file, to "
        "repeat or share the run",
    )


def add_stylize_options(parser: argparse.ArgumentParser, command: str) -> None:
    """What every command that paints takes after its own arguments (``command``: "stylize", "batch"
    or "video"): --config and --save-config, every option of the picture, and the options of how the
    run goes that ``command`` takes."""
    add_config_files(parser)
    add_picture_options(parser)
    add_run_options(parser, command)


def config_from_args(args: argparse.Namespace) -> StyleConfig:
    """The StyleConfig the arguments ask for: given options override those of ``--config FILE`` (a
    TOML file, or a PNG impasto made), which override the defaults. (:func:`save_config` writes it to
    ``--save-config FILE``; a PNG output carries it too.)"""
    from impasto.config import from_toml

    base = from_toml(args.config) if getattr(args, "config", None) else StyleConfig()
    given: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in fields(StyleConfig) if getattr(args, f.name, None) is not None
    }
    return base.with_options(**given)


def save_config(args: argparse.Namespace, config: StyleConfig) -> None:
    """``--save-config FILE``: ``config`` written to FILE, atomically. A failure to write it is one
    warning line, not an error: the run it describes goes on."""
    if not getattr(args, "save_config", None):
        return
    from impasto.config import to_toml
    from impasto.io import files

    try:
        files.write_atomically(args.save_config, to_toml(config).encode())
    except OSError as error:
        warn(f"cannot write the options to {args.save_config} ({error.strerror or error}); the run goes on")
    except ConfigError as error:  # an option TOML cannot hold
        warn(f"cannot write the options to {args.save_config} ({error}); the run goes on")


def add_run_options(parser: argparse.ArgumentParser, command: str) -> None:
    """The RUN_OPTIONS that ``command`` ("stylize", "batch", "video") takes, in one group of ``parser``."""
    group = parser.add_argument_group("output and progress")
    for option in RUN_OPTIONS:
        if option.dest in NOT_TAKEN.get(command, {}):
            continue
        keywords: dict[str, Any] = {"dest": option.dest, "help": option.help_for.get(command, option.help)}
        if option.default is not None:  # else argparse's: None, or False for a switch
            keywords["default"] = option.default
        if option.action is not None:
            keywords["action"] = option.action
        else:
            keywords.update(type=option.type, metavar=option.metavar)
        group.add_argument(*option.flags, **keywords)


def _flags(dest: str) -> tuple[str, ...]:
    """The flags of the option of impasto's stored under ``dest`` (a picture's option, a run's, or
    --config and the like)."""
    if dest in BY_NAME:
        return (BY_NAME[dest].flags,)
    run = next((option for option in RUN_OPTIONS if option.dest == dest), None)
    return run.flags if run is not None else ("--" + dest.replace("_", "-"),)


def check_run_options(args: argparse.Namespace) -> None:
    """The RUN_OPTIONS' values a type cannot check, one ConfigError each."""
    if getattr(args, "save_every", 0) < 0:
        raise ConfigError(f"save-every must be ≥ 0, got {args.save_every}")
    log_every = getattr(args, "log_every", None)
    if log_every is not None and log_every < 1:
        raise ConfigError(f"log-every must be ≥ 1, got {log_every}")
    budget = getattr(args, "time_budget", None)
    if budget is not None and not budget > 0:
        raise ConfigError(f"time-budget must be > 0 seconds, got {budget}")


def default_of(name: str) -> str:
    return default_text(BY_NAME[name])


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
    _say("warning", message)


def fail(message: str, code: int) -> int:
    """One line on stderr saying why the command failed; returns ``code``, its exit code."""
    _say("error", message)
    return code


def _say(level: str, message: str) -> None:
    # One line whatever the message holds (a library's multi-line text; a path with a newline in it).
    print(f"impasto: {level}: {printable(' '.join(message.splitlines()))}", file=sys.stderr)


def printable(text: object) -> str:
    """``text`` as one line a terminal shows as it is: control characters (a newline in a file name, a
    terminal's escape sequence) written as Python writes them (``\\n``, ``\\x1b``), so that no name
    can break a printed path or forge a log line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


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
