from __future__ import annotations

import pytest
import torch

from impasto.core.backbone import FeatureExtractor, Preprocessing, conv_shapes, layer_names

RGB_UNIT = Preprocessing(channel_order="RGB", scale=1.0, mean=(0.0, 0.0, 0.0))


def random_params(architecture: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(o, i, 3, 3, generator=generator) * (2 / (9 * i)) ** 0.5, torch.zeros(o))
        for i, o in conv_shapes(architecture)
    ]


def test_layer_names() -> None:
    vgg16, vgg19 = layer_names("vgg16"), layer_names("vgg19")
    assert vgg16[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert len(vgg16) == 13 * 2 + 5 and len(vgg19) == 16 * 2 + 5
    assert "conv3_4" in vgg19 and "conv3_4" not in vgg16
    assert vgg16[-1] == vgg19[-1] == "pool5"


def test_extractor_returns_named_layers_with_their_shapes() -> None:
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), RGB_UNIT, ["relu1_1", "relu3_1", "pool2"])
    features = extractor(torch.rand(2, 3, 32, 48))
    assert set(features) == {"relu1_1", "relu3_1", "pool2"}
    assert features["relu1_1"].shape == (2, 64, 32, 48)
    assert features["pool2"].shape == (2, 128, 8, 12)
    assert features["relu3_1"].shape == (2, 256, 8, 12)
    assert (features["relu3_1"] >= 0).all()


def test_extractor_is_cut_after_the_deepest_layer() -> None:
    extractor = FeatureExtractor("vgg19", random_params("vgg19"), RGB_UNIT, ["relu2_1", "conv1_2"])
    names = [name for name, _ in extractor.net.named_children()]
    assert names == layer_names("vgg19")[: layer_names("vgg19").index("relu2_1") + 1]


def test_extractor_is_frozen_and_stays_in_eval_mode() -> None:
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), RGB_UNIT, ["relu1_1"])
    assert not any(p.requires_grad for p in extractor.parameters())
    extractor.train()
    assert not extractor.training
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    extractor(x)["relu1_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_conv_output_is_not_overwritten_by_its_relu() -> None:
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), RGB_UNIT, ["conv1_1", "relu1_1"])
    features = extractor(torch.rand(1, 3, 16, 16))
    assert (features["conv1_1"] < 0).any()
    assert torch.equal(features["relu1_1"], features["conv1_1"].clamp(min=0))


def test_preprocessing_bgr_0_255_minus_mean() -> None:
    caffe = Preprocessing(channel_order="BGR", scale=255.0, mean=(10.0, 20.0, 30.0))
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), caffe, ["relu1_1"])
    x = torch.rand(1, 3, 4, 4)
    expected = torch.stack([x[:, 2] * 255 - 10, x[:, 1] * 255 - 20, x[:, 0] * 255 - 30], dim=1)
    assert torch.allclose(extractor.preprocess(x), expected, atol=1e-4)
    imagenet = Preprocessing(channel_order="RGB", scale=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), imagenet, ["relu1_1"])
    std = torch.tensor([0.25, 0.5, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(extractor.preprocess(x), (x - 0.5) / std, atol=1e-6)


def test_average_pooling() -> None:
    params = random_params("vgg16")
    avg = FeatureExtractor("vgg16", params, RGB_UNIT, ["pool1", "relu1_2"], pooling="avg")
    features = avg(torch.rand(1, 3, 8, 8))
    expected = torch.nn.functional.avg_pool2d(features["relu1_2"], 2)
    assert torch.allclose(features["pool1"], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layers": ["relu9_1"]}, "unknown layers"),
        ({"layers": []}, "unknown layers"),
        ({"architecture": "vgg11"}, "unknown architecture"),
        ({"params": random_params("vgg16")[:5]}, "13 convolutions"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "architecture": "vgg16",
        "params": random_params("vgg16"),
        "preprocessing": RGB_UNIT,
        "layers": ["relu1_1"],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        FeatureExtractor(**arguments)  # type: ignore[arg-type]


def test_wrong_weight_shapes_are_named() -> None:
    params = random_params("vgg16")
    params[1] = (torch.zeros(64, 32, 3, 3), torch.zeros(64))
    with pytest.raises(ValueError, match="conv1_2"):
        FeatureExtractor("vgg16", params, RGB_UNIT, ["relu2_1"])


def test_rejects_non_rgb_input() -> None:
    extractor = FeatureExtractor("vgg16", random_params("vgg16"), RGB_UNIT, ["relu1_1"])
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        extractor(torch.rand(1, 4, 8, 8))
