"""impasto.config.values: one option's value read as a front end gives it, and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impasto.config import BY_NAME, StyleConfig, from_toml, parse_layers, read_value
from impasto.errors import ConfigError


def test_parse_layers_forms() -> None:
    assert parse_layers("relu1_1, relu2_1:0.5", "x") == (("relu1_1", 1.0), ("relu2_1", 0.5))
    assert parse_layers(["relu1_1", ("relu2_1", 2.0)], "x") == (("relu1_1", 1.0), ("relu2_1", 2.0))
    assert parse_layers({"relu3_1": 3}, "x") == (("relu3_1", 3.0),)
    # A string is accepted too (the CLI's form), and normalized.
    config = StyleConfig(style_layers="relu1_1,relu2_1")  # type: ignore[arg-type]
    assert config.style_layers == (("relu1_1", 1.0), ("relu2_1", 1.0))


@pytest.mark.parametrize(
    ("blend", "message"),
    [
        ((1e308, 1e308), r"style_blend: the weights \(1e\+308, 1e\+308\) sum to more than a float holds"),
        ((1.0, float("inf")), "style_blend: every weight must be a finite number ≥ 0"),
        ((1.0, float("nan")), "style_blend: every weight must be a finite number ≥ 0"),
        ((1.0, -1.0), "style_blend: every weight must be a finite number ≥ 0"),
        ((0.0, 0.0), "style_blend: at least one weight must be above 0"),
        ((), "style_blend must be one or more numbers"),
        ((1.0, True), "style_blend must be numbers"),
        (5, "style_blend must be one or more numbers, got 5"),
    ],
)
def test_style_weights_are_finite_and_so_is_their_sum(blend: object, message: str) -> None:
    """Two weights of 1e308 each are finite, their sum is not: normalized by it, each style would weigh
    0 and the run would paint no style at all, and say it was done."""
    with pytest.raises(ConfigError, match=message):
        StyleConfig(style_blend=blend)  # type: ignore[arg-type]
    assert StyleConfig(style_blend=(1e307, 1e307)).style_blend == (1e307, 1e307)


def test_layer_weights_sum_to_a_finite_number() -> None:
    with pytest.raises(ConfigError, match="style-layers: the layer weights sum to more than a float holds"):
        StyleConfig(style_layers="relu1_1:1e308,relu2_1:1e308")  # type: ignore[arg-type]


def _three_front_ends(tmp_path: Path, flag: str, word: str, name: str, value: object) -> list[object]:
    """``name``'s value as the command line (``flag word``), a config file and the web page give it:
    each front end's result, or its error's text."""
    from impasto.cli.common import config_from_args
    from impasto.cli.stylize import build_parser
    from impasto.web import job_requests
    from impasto.web.errors import HttpError
    from impasto.web.limits import Limits

    got: list[object] = []
    try:
        args = build_parser().parse_args(["c.jpg", "s.jpg", "-o", "o.png", flag, word])
        got.append(getattr(config_from_args(args), name))
    except SystemExit:
        got.append("refused")
    toml = tmp_path / "options.toml"
    toml.write_text(f"{name} = {json.dumps(value)}\n")
    try:
        got.append(getattr(from_toml(toml), name))
    except ConfigError as error:
        got.append(str(error).split(": ", 1)[1])  # without the file's name
    try:
        got.append(getattr(job_requests.options({name: value}, [1.0], (), "cpu", Limits())[0], name))
    except HttpError as error:
        got.append(str(error))
    return got


@pytest.mark.parametrize(
    ("flag", "word", "name", "value", "expected"),
    [
        ("--style-weight", "5", "style_weight", 5, 5.0),
        ("--iterations", "12", "iterations", 12, 12),
        ("--style-loss", "gram", "style_loss", "gram", "gram"),
        ("--tv-weight", "0.5", "tv_weight", 0.5, 0.5),
    ],
)
def test_every_front_end_reads_a_value_alike(
    tmp_path: Path, flag: str, word: str, name: str, value: object, expected: object
) -> None:
    """config.read_value is the one reader: the command line, a config file and the web page take
    the same value to the same option."""
    assert _three_front_ends(tmp_path, flag, word, name, value) == [expected] * 3


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("iterations", 12.5, "iterations must be a whole number, got 12.5"),
        ("style_weight", "5", 'style_weight must be a number, got "5"'),
        ("multiscale", "false", 'multiscale must be true or false, got "false"'),
        ("style_loss", 3, "style_loss must be a string, got 3"),
    ],
)
def test_a_file_and_the_page_refuse_a_value_alike(
    tmp_path: Path, name: str, value: object, message: str
) -> None:
    """A value of another type is refused by a config file and the web page with the same words (the
    command line reads every value from text, so it has no such case)."""
    _, in_file, on_page = _three_front_ends(tmp_path, "--seed", "1", name, value)
    assert isinstance(in_file, str) and in_file.startswith(message)
    assert on_page == in_file


def test_a_memory_size_may_be_text_everywhere() -> None:
    """max_memory reads "2GB" from a file or a request as the command line does (``as_text``); a
    whole number of bytes too."""
    option = BY_NAME["max_memory"]
    assert read_value(option, "2GB") == "2GB" and read_value(option, 2**30) == 2**30
    assert StyleConfig(max_memory=read_value(option, "2GB")).max_memory == 2 * 2**30  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_memory must be a whole number or a string, got true"):
        read_value(option, True)
