"""impasto.config.fields: StyleConfig, its defaults and the checks every value passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from impasto.config import StyleConfig
from impasto.errors import ConfigError


def test_defaults_are_valid_and_follow_the_paper() -> None:
    config = StyleConfig()
    assert config.content_layers == (("relu4_2", 1.0),)
    assert [name for name, _ in config.style_layers] == [f"relu{b}_1" for b in range(1, 6)]
    assert config.resolved_size(on_gpu=False) < config.resolved_size(on_gpu=True)
    assert config.resolved_learning_rate() == 1.0
    assert config.with_options(optimizer="adam").resolved_learning_rate() == 0.02


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


def test_the_api_refuses_values_of_another_type_in_one_line() -> None:
    for options, message in [
        ({"multiscale": "false"}, "multiscale must be true or false"),
        ({"learning_rate": "1"}, "learning_rate must be a finite number > 0"),
        ({"init": 5}, "init must be a string"),
        ({"model": ["vgg16"]}, "model must be a string"),
        ({"style_layers": 5}, "style-layers: expected names like relu1_1"),
        ({"content_layers": {"relu4_2": "x"}}, "content-layers: expected names like relu1_1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            StyleConfig(**options)  # type: ignore[arg-type]


def test_init_may_name_an_example() -> None:
    assert StyleConfig(init="example:swirls.png").init == "example:swirls.png"
    with pytest.raises(ConfigError, match=r"^unknown example 'nope'; the examples are chelsea\.png, swirls"):
        StyleConfig(init="example:nope")
