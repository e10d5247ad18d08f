"""impasto.config.values: one option's value read from text and checked."""

from __future__ import annotations

import pytest

from impasto.config import StyleConfig, parse_layers
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
