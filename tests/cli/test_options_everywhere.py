"""One option set for every command: the option tables (config.OPTIONS, the picture's; common.RUN_OPTIONS,
the run's) walked against each command's parser, so that an option added to `impasto` and forgotten in
`impasto batch`, `impasto video` or `impasto preview` fails here — unless common.NOT_TAKEN says why that
command does without it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from impasto.cli import batch, common, main, preview, video
from impasto.cli.stylize import build_parser
from impasto.config import OPTIONS

PARSERS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "stylize": build_parser,
    "batch": batch.build_parser,
    "video": video.build_parser,
    "preview": preview.build_parser,
}
OWN = {"output"}  # -o: a file, a folder or a video, each command's own


def taken(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options by the name they land under (--help and --version, every Parser's, left out)."""
    return {
        action.dest: action
        for action in parser._actions
        if action.option_strings and action.dest not in ("help", "version")
    }


def how_parsed(action: argparse.Action) -> tuple[object, ...]:
    """Everything about an option but its help: flags, kind, parsing, default, choices, arity."""
    return (
        tuple(action.option_strings),
        type(action),
        action.type,
        action.default,
        action.choices,
        action.nargs,
        action.const,
    )


def test_the_stylize_parser_takes_every_option_of_both_tables() -> None:
    stylize = taken(build_parser())
    for option in OPTIONS:
        flags = [option.flags, "--no-" + option.flags[2:]] if option.switch else [option.flags]
        assert stylize[option.name].option_strings == flags, option.name
    for run_option in common.RUN_OPTIONS:
        assert tuple(stylize[run_option.dest].option_strings) == run_option.flags, run_option.dest
    assert not common.NOT_TAKEN.get("stylize"), "stylize is the reference: it takes every option"


@pytest.mark.parametrize("command", ["batch", "video", "preview"])
def test_every_command_takes_each_option_of_impasto_alike_or_says_why_not(command: str) -> None:
    reference = taken(build_parser())
    theirs = taken(PARSERS[command]())
    excluded = common.NOT_TAKEN.get(command, {})
    assert set(excluded) <= set(reference), f"NOT_TAKEN[{command!r}] names options impasto does not have"
    for dest, action in reference.items():
        if dest in OWN:
            continue
        if dest in excluded:
            assert dest not in theirs, (
                f"impasto {command} takes {dest}, though NOT_TAKEN says: {excluded[dest]}"
            )
            assert excluded[dest].strip(), f"{dest}: say why impasto {command} does without it"
            continue
        assert dest in theirs, (
            f"impasto {command} lacks {'/'.join(action.option_strings)}: add it, or say in "
            "common.NOT_TAKEN why it does not apply"
        )
        assert how_parsed(theirs[dest]) == how_parsed(action), dest


def test_every_option_parses_alike_everywhere(tmp_path: Path) -> None:
    """The same words give the same values on every command that takes them."""
    words = ["--time-budget", "2.5", "--log-every", "3", "--log-json", "run.jsonl", "--dry-run", "-q"]
    words += ["--size", "64", "--style-weight", "7", "--no-multiscale", "--content-layers", "relu4_2"]
    values = {}
    for command, positionals in (("stylize", ["a.png", "s.png"]), ("batch", ["in", "s.png"])):
        args = PARSERS[command]().parse_args([*positionals, "-o", "out", *words])
        values[command] = {k: v for k, v in vars(args).items() if k not in ("content", "input_dir", "force")}
    args = PARSERS["video"]().parse_args(["in.mp4", "s.png", "-o", "out", *words])
    values["video"] = vars(args)
    common_keys = set(values["stylize"]) & set(values["batch"]) & set(values["video"])
    assert {"time_budget", "log_every", "log_json", "dry_run", "quiet", "size", "multiscale"} <= common_keys
    for key in common_keys:
        assert values["batch"][key] == values["stylize"][key] == values["video"][key], key


def test_the_help_says_how_a_time_budget_applies() -> None:
    def help_of(command: str, dest: str) -> str:
        return str(taken(PARSERS[command]())[dest].help)

    assert "per image" in help_of("batch", "time_budget")
    assert "per frame" in help_of("video", "time_budget")
    assert "naming its image" in help_of("batch", "log_json")
    assert "naming its frame" in help_of("video", "log_json")


def test_run_options_are_checked_alike_on_every_command(
    tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (48, 32), "red").save(folder / "a.png")
    for bad, message in [
        (["--log-every", "0"], "log-every must be ≥ 1, got 0"),
        (["--time-budget", "0"], "time-budget must be > 0 seconds, got 0.0"),
    ]:
        for argv in (
            [str(folder / "a.png"), str(style_path), "-o", str(tmp_path / "o.png")],
            ["batch", str(folder), str(style_path), "-o", str(tmp_path / "out")],
            ["video", str(tmp_path / "v.mp4"), str(style_path), "-o", str(tmp_path / "v.mp4")],
        ):
            assert main([*argv, *bad]) == 2, argv
            assert capsys.readouterr().err == f"impasto: error: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing written
