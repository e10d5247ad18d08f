"""Each StyleConfig field describes its option once (config.described); StyleConfig checks every field
from it, and the command line (cli/common.py) and the web form (web/app.py) are built from it."""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from impasto import choices
from impasto.cli import batch, build_parser, video
from impasto.config import OPTIONS, Option, StyleConfig
from impasto.errors import ConfigError


def test_every_field_of_the_config_is_described_once() -> None:
    names = [o.name for o in OPTIONS]
    assert sorted(names) == sorted(f.name for f in fields(StyleConfig)) and len(set(names)) == len(names)


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.choices], ids=lambda o: o.name)
def test_choices_are_what_the_config_accepts(option: Option) -> None:
    assert option.choices
    for choice in option.choices:
        StyleConfig().with_options(**{option.name: choice})
    with pytest.raises(ConfigError):
        StyleConfig().with_options(**{option.name: "no-such-choice"})
    # The type a library user sees names the same choices.
    hint = typing.get_type_hints(StyleConfig)[option.name]
    if typing.get_origin(hint) is typing.Literal:
        assert set(typing.get_args(hint)) == set(option.choices)


def test_the_command_line_has_every_option_with_its_default() -> None:
    parser = build_parser()
    text = parser.format_help()
    for option in OPTIONS:
        assert option.flags in text, option.flags
    assert "(default: 20.0)" in text  # --style-weight's, read from StyleConfig
    args = parser.parse_args(["c.png", "s.png", "-o", "o.png"])
    assert all(getattr(args, o.name) is None for o in OPTIONS)  # nothing given: the config decides


def test_batch_and_video_take_the_same_options() -> None:
    for command in (batch, video):
        parser = command.build_parser()
        assert {a.dest for a in parser._actions} >= {o.name for o in OPTIONS}


def test_the_web_form_offers_what_the_table_marks_for_it() -> None:
    from impasto.web import job_requests as app

    assert set(app.OPTIONS) == {o.name for o in OPTIONS if o.web}
    assert set(app.form_choices()) <= set(app.OPTIONS)
    assert app.form_choices()["model"] == list(choices.MODELS)
    assert app.form_choices()["init"] == list(choices.INIT_CHOICES)  # no file paths on the web


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.low is not None], ids=lambda o: o.name)
def test_ranges_are_checked_from_the_table(option: Option) -> None:
    """No range is written twice: StyleConfig refuses what lies outside the one its field gives."""
    assert option.low is not None and option.high is not None
    below = option.low if option.above else option.low - 1
    above = option.high * 2 if option.high != float("inf") else float("inf")
    for bad in (below, above, "1"):
        with pytest.raises(ConfigError, match=option.name):
            StyleConfig().with_options(**{option.name: bad})


@pytest.mark.slow
def test_reading_a_config_loads_no_torch(tmp_path: Path) -> None:
    """The options, their checks (max_memory's "2GB" included), TOML and --help need no torch."""
    saved = tmp_path / "saved.toml"
    saved.write_text('max_memory = "2GB"\nstyle_weight = 5\n')
    code = (
        "import argparse, json, sys\n"
        "from impasto.cli.common import add_picture_options\n"
        "from impasto.config import StyleConfig, from_toml, to_toml\n"
        "from impasto.web.job_requests import form_choices\n"
        f"config = from_toml({str(saved)!r}, StyleConfig(max_memory='1GB'))\n"
        "to_toml(config), form_choices(), add_picture_options(argparse.ArgumentParser())\n"
        "print(json.dumps([config.max_memory, 'torch' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [2 * 2**30, False]
