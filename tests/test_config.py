from __future__ import annotations

from pathlib import Path

import pytest

from impasto.config import StyleConfig, parse_layers
from impasto.errors import ConfigError


def test_defaults_are_valid_and_follow_the_paper() -> None:
    config = StyleConfig()
    assert config.content_layers == (("relu4_2", 1.0),)
    assert [name for name, _ in config.style_layers] == [f"relu{b}_1" for b in range(1, 6)]
    assert config.resolved_size(on_gpu=False) < config.resolved_size(on_gpu=True)
    assert config.resolved_learning_rate() == 1.0
    assert config.with_options(optimizer="adam").resolved_learning_rate() == 0.02


def test_parse_layers_forms() -> None:
    assert parse_layers("relu1_1, relu2_1:0.5", "x") == (("relu1_1", 1.0), ("relu2_1", 0.5))
    assert parse_layers(["relu1_1", ("relu2_1", 2.0)], "x") == (("relu1_1", 1.0), ("relu2_1", 2.0))
    assert parse_layers({"relu3_1": 3}, "x") == (("relu3_1", 3.0),)
    # A string is accepted too (the CLI's form), and normalized.
    config = StyleConfig(style_layers="relu1_1,relu2_1")  # type: ignore[arg-type]
    assert config.style_layers == (("relu1_1", 1.0), ("relu2_1", 1.0))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"style_layers": "relu1_1,reluu2_1"}, "did you mean relu2_1"),
        ({"content_layers": "conv3_4", "model": "vgg16"}, "unknown layer 'conv3_4'"),  # vgg19 only
        ({"style_layers": "relu1_1:x"}, "not a number"),
        ({"style_layers": "relu1_1:-1"}, "≥ 0"),
        ({"style_layers": "relu1_1,relu1_1"}, "twice"),
        ({"style_layers": ""}, "no layers"),
        ({"style_layers": "relu1_1:0"}, "sum to 0"),
        ({"size": 0}, "size must be"),
        ({"size": -5}, "size must be"),
        ({"size": 10**6}, "size must be"),
        ({"size": 256.5}, "size must be"),
        ({"iterations": 0}, "iterations must be"),
        ({"iterations": True}, "iterations must be"),
        ({"style_weight": float("nan")}, "style_weight"),
        ({"content_weight": -1}, "content_weight"),
        ({"content_weight": 0, "style_weight": 0}, "nothing to optimize"),
        ({"learning_rate": 0}, "learning_rate"),
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"model": "resnet"}, "unknown model"),
        ({"pooling": "min"}, "pooling"),
        ({"device": "tpu"}, "unknown device"),
        ({"precision": "fp8"}, "unknown precision"),
        ({"compile": "yes"}, "unknown compile"),
        ({"init": "no/such/file.png"}, "init must be"),
    ],
)
def test_bad_values_raise_config_error(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StyleConfig(**options)  # type: ignore[arg-type]


def test_layers_are_checked_against_the_chosen_model() -> None:
    config = StyleConfig(model="vgg19", content_layers=(("conv3_4", 1.0),))
    assert config.content_layers == (("conv3_4", 1.0),)


def test_unknown_option_suggests_the_right_name() -> None:
    with pytest.raises(ConfigError, match="did you mean style_weight"):
        StyleConfig().with_options(style_wieght=3)


def test_init_may_be_an_image_path(tmp_path: Path) -> None:
    start = tmp_path / "start.png"
    start.write_bytes(b"")
    assert StyleConfig(init=str(start)).init == str(start)


def test_a_config_survives_a_round_trip_through_toml(tmp_path: Path) -> None:
    from impasto.config import from_toml, to_toml

    config = StyleConfig(
        size=512,
        style_weight=12.5,
        multiscale=False,
        style_layers=(("relu1_1", 1.0), ("relu2_1", 0.5), ("relu3_1", 1.0)),
        style_blend=(1.0, 3.0),
        preserve_colors="luminance",
        content_masks=(tmp_path / "a mask.png",),
        weights=tmp_path / 'odd "name".pth',
        device="cuda:1",
        init="noise",
    )
    text = to_toml(config)
    assert "style_weight = 12.5" in text and "size = 512" in text
    assert "tv_weight" not in text  # defaults are left out
    (tmp_path / "run.toml").write_text(text)
    assert from_toml(tmp_path / "run.toml") == config


def test_a_bad_config_file_says_what_and_where(tmp_path: Path) -> None:
    from impasto.config import from_toml

    bad = tmp_path / "bad.toml"
    bad.write_text("style_wieght = 3\n")
    with pytest.raises(
        ConfigError, match=r"bad\.toml: unknown option 'style_wieght'; did you mean style_weight\?"
    ):
        from_toml(bad)
    bad.write_text("size = [\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        from_toml(bad)
    with pytest.raises(ConfigError, match="cannot read the config file"):
        from_toml(tmp_path / "missing.toml")


def test_preprocessing_says_what_input_a_weights_file_expects() -> None:
    """--weights FILE of another kind than --model's own: --preprocessing picks the input it expects."""
    from impasto import pipeline
    from impasto.core.weights import CAFFE_IMAGENET, IMAGENET

    def extractor_scale(preprocessing: str) -> float:
        runner = pipeline.network("vgg19", None, ("relu1_1",), "max", "cpu", "fp32", "off", preprocessing)
        return float(runner.extractor.input_scale.flatten()[0])

    assert extractor_scale("auto") == CAFFE_IMAGENET.scale == 255.0  # the registered weights' own
    assert extractor_scale("caffe") == 255.0
    assert extractor_scale("torchvision") == pytest.approx(IMAGENET.scale / IMAGENET.std[0])
    with pytest.raises(ConfigError, match="unknown preprocessing 'bgr'"):
        StyleConfig(preprocessing="bgr")  # type: ignore[arg-type]
