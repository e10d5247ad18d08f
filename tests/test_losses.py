from __future__ import annotations

import pytest
import torch

from impasto.losses import Targets, Weights, content_loss, gram, objective, style_loss, tv_loss


def test_gram_shape_and_value() -> None:
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[(1 + 4) / 2, (3 + 8) / 2], [(3 + 8) / 2, (9 + 16) / 2]]])
    assert torch.allclose(gram(features), expected)
    assert gram(torch.rand(3, 5, 4, 6)).shape == (3, 5, 5)


def test_gram_does_not_grow_with_image_size() -> None:
    tile = torch.rand(1, 4, 8, 8)
    assert torch.allclose(gram(tile), gram(tile.repeat(1, 1, 3, 2)), atol=1e-6)


def test_gram_gradcheck_float64() -> None:
    features = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gram, (features,))


def test_tv_gradcheck_float64() -> None:
    image = torch.rand(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tv_loss, (image,))


def test_style_and_content_loss_gradcheck_float64() -> None:
    features = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: style_loss(f, gram(target)), (features,))
    assert torch.autograd.gradcheck(lambda f: content_loss(f, target), (features,))


def test_tv_value() -> None:
    flat = torch.full((1, 3, 4, 4), 0.3)
    assert tv_loss(flat).item() == 0
    stripes = torch.zeros(1, 1, 2, 4)
    stripes[..., 1::2] = 1.0  # every horizontal neighbour differs by 1, no vertical one does
    assert tv_loss(stripes).item() == pytest.approx(1.0)


def test_losses_are_zero_at_the_target_and_near_one_far_from_it() -> None:
    target = torch.rand(1, 8, 6, 6) + 0.1
    assert content_loss(target, target).item() == 0
    assert style_loss(target, gram(target)).item() == 0
    assert content_loss(torch.zeros_like(target), target).item() == pytest.approx(1.0)
    assert style_loss(torch.zeros_like(target), gram(target)).item() == pytest.approx(1.0)


def test_relative_losses_ignore_activation_scale_and_size() -> None:
    features, target = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 6, 6)
    # Ten times larger activations (another backbone's scale) give the same loss.
    assert content_loss(10 * features, 10 * target).item() == pytest.approx(
        content_loss(features, target).item(), rel=1e-5
    )
    assert style_loss(10 * features, gram(10 * target)).item() == pytest.approx(
        style_loss(features, gram(target)).item(), rel=1e-5
    )
    # A style image twice as large, same texture: the same Gram target.
    assert style_loss(features, gram(target.repeat(1, 1, 2, 2))).item() == pytest.approx(
        style_loss(features, gram(target)).item(), rel=1e-5
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: gram(torch.rand(3, 4, 4)), r"\(B, C, H, W\)"),
        (lambda: content_loss(torch.rand(1, 2, 3, 3), torch.rand(1, 2, 4, 4)), "differ in shape"),
        (lambda: style_loss(torch.rand(1, 2, 3, 3), torch.rand(1, 3, 3)), "channels"),
        (lambda: tv_loss(torch.rand(1, 3, 1, 5)), r"H≥2, W≥2"),
    ],
)
def test_bad_shapes_raise_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_objective_weights_each_term() -> None:
    image = torch.rand(1, 3, 8, 8)
    features = {"a": torch.rand(1, 4, 4, 4), "b": torch.rand(1, 4, 2, 2)}
    targets = Targets(content={"a": torch.rand(1, 4, 4, 4)}, style={"b": gram(torch.rand(1, 4, 2, 2))})
    weights = Weights(content=2.0, style=3.0, tv=0.5, content_layers={"a": 1.0}, style_layers={"b": 1.0})
    total, terms = objective(image, features, targets, weights)
    assert terms["content"].item() == pytest.approx(
        2 * content_loss(features["a"], targets.content["a"]).item()
    )
    assert terms["style"].item() == pytest.approx(3 * style_loss(features["b"], targets.style["b"]).item())
    assert terms["tv"].item() == pytest.approx(0.5 * tv_loss(image).item())
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()))
    no_tv = Weights(content=2.0, style=3.0, tv=0.0, content_layers={"a": 1.0}, style_layers={"b": 1.0})
    assert "tv" not in objective(image, features, targets, no_tv)[1]
