"""options.py: one entry per StyleConfig field, and the command line and the web form built from it."""

from __future__ import annotations

import typing
from dataclasses import fields

import pytest

from impasto import choices, options
from impasto.cli import build_parser
from impasto.config import StyleConfig
from impasto.errors import ConfigError


def test_every_field_of_the_config_is_described_once() -> None:
    names = [o.name for o in options.OPTIONS]
    assert sorted(names) == sorted(f.name for f in fields(StyleConfig)) and len(set(names)) == len(names)


@pytest.mark.parametrize("option", [o for o in options.OPTIONS if o.choices], ids=lambda o: o.name)
def test_choices_are_what_the_config_accepts(option: options.Option) -> None:
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
    for option in options.OPTIONS:
        assert option.flags in text, option.flags
    assert "(default: 20.0)" in text  # --style-weight's, read from StyleConfig
    args = parser.parse_args(["c.png", "s.png", "-o", "o.png"])
    assert all(getattr(args, o.name) is None for o in options.OPTIONS)  # nothing given: the config decides


def test_batch_and_video_take_the_same_options() -> None:
    for kind in ("batch", "video"):
        parser = build_parser(**{kind: True})
        assert {a.dest for a in parser._actions} >= {o.name for o in options.OPTIONS}


def test_the_web_form_offers_what_the_table_marks_for_it() -> None:
    from impasto.web.app import OPTIONS

    assert options.web_options() == OPTIONS
    assert set(options.web_choices()) <= set(OPTIONS)
    assert options.web_choices()["model"] == list(choices.MODELS)
    assert options.web_choices()["init"] == list(choices.INIT_CHOICES)  # no file paths on the web
