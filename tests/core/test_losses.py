from __future__ import annotations

import pytest
import torch

from impasto.core import style
from impasto.core.losses import (
    Targets,
    Weights,
    content_loss,
    gram,
    mean_cov,
    mean_cov_loss,
    moments,
    nearest_features,
    objective,
    random_directions,
    sliced,
    sliced_wasserstein_loss,
    sorted_projections,
    style_loss,
    tv_loss,
)


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
    loss = style.make("gram", {"b": 1.0})
    targets = Targets({"a": torch.rand(1, 4, 4, 4)}, loss, style={"b": gram(torch.rand(1, 4, 2, 2))})
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


# --- Style losses beyond Gram matrices ------------------------------------------------------------


def test_moments_match_a_direct_computation() -> None:
    features = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    mean, cov = moments(features)
    flat = features[0].flatten(1)
    assert torch.allclose(mean, flat.mean(1))
    assert torch.allclose(cov, torch.cov(flat, correction=0))


def test_masked_moments_are_those_of_the_region() -> None:
    features = torch.rand(1, 3, 8, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 8, 12, dtype=torch.float64)
    mask[..., :4] = 1  # the four left columns
    mean, cov = moments(features, mask)
    inside, inside_cov = moments(features[..., :4].contiguous())
    assert torch.allclose(mean, inside) and torch.allclose(cov, inside_cov)
    # Not exactly 0: the square root's ε (losses.EPS) shifts each eigenvalue's root by about ε/(2√λ).
    assert mean_cov_loss(features, mean_cov([features[..., :4]]), mask).item() == pytest.approx(0, abs=1e-5)


@pytest.mark.parametrize("kind", ["mean-cov", "sliced"])
def test_other_style_losses_are_0_at_the_target_and_1_for_nothing(kind: str) -> None:
    features = torch.rand(1, 6, 8, 8, dtype=torch.float64) * 3
    directions = random_directions(6, 6)
    target = mean_cov([features]) if kind == "mean-cov" else sliced([features], directions)
    distance = mean_cov_loss if kind == "mean-cov" else sliced_wasserstein_loss
    assert distance(features, target).item() == pytest.approx(0, abs=1e-4)  # type: ignore[arg-type]
    assert distance(torch.zeros_like(features), target).item() == pytest.approx(1, rel=1e-4)  # type: ignore[arg-type]
    # Relative: the same at any activation scale, and a different texture scores in between.
    scaled = mean_cov([7 * features]) if kind == "mean-cov" else sliced([7 * features], directions)
    other = torch.rand(1, 6, 8, 8, dtype=torch.float64) ** 3
    assert distance(7 * other, scaled).item() == pytest.approx(distance(other, target).item())  # type: ignore[arg-type]
    assert 0.001 < distance(other, target).item() < 1  # type: ignore[arg-type]


def test_mean_cov_loss_is_the_gaussian_wasserstein_distance() -> None:
    # One channel: W₂² between N(μ₁, σ₁²) and N(μ₂, σ₂²) is (μ₁ − μ₂)² + (σ₁ − σ₂)².
    a = torch.tensor([1.0, 3.0, 1.0, 3.0], dtype=torch.float64).view(1, 1, 2, 2)  # μ 2, σ 1
    b = torch.tensor([0.0, 8.0, 0.0, 8.0], dtype=torch.float64).view(1, 1, 2, 2)  # μ 4, σ 4
    expected = ((2 - 4) ** 2 + (1 - 4) ** 2) / (4**2 + 4**2)
    assert mean_cov_loss(a, mean_cov([b])).item() == pytest.approx(expected, rel=1e-6)


def test_sliced_loss_matches_whole_distributions_not_only_moments() -> None:
    # Same mean and variance, different shapes: Gram and mean-cov see no difference, sliced does.
    two_values = torch.tensor([-1.0, 1.0] * 8, dtype=torch.float64).view(1, 1, 4, 4)
    spread = torch.linspace(-1, 1, 16, dtype=torch.float64)
    spread = (spread / spread.pow(2).mean().sqrt()).view(1, 1, 4, 4)
    directions = random_directions(1, 1)
    assert style_loss(spread, gram(two_values)).item() == pytest.approx(0, abs=1e-9)
    assert mean_cov_loss(spread, mean_cov([two_values])).item() == pytest.approx(0, abs=1e-6)
    assert sliced_wasserstein_loss(spread, sliced([two_values], directions)).item() > 0.05


def test_sliced_target_of_another_size_is_resampled() -> None:
    texture = torch.rand(1, 4, 4, 4, dtype=torch.float64)
    directions = random_directions(4, 8, seed=3)
    # The same texture tiled twice over has the same quantile functions.
    loss = sliced_wasserstein_loss(texture.repeat(1, 1, 2, 2), sliced([texture], directions))
    assert loss.item() < 0.01


def test_blends_are_mixtures_and_barycentres() -> None:
    a, b = torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.rand(1, 3, 4, 4, dtype=torch.float64) + 2
    pooled = mean_cov([torch.cat([a, b], dim=-1)])  # all features of both, equally weighted
    blended = mean_cov([a, b], [0.5, 0.5])
    assert torch.allclose(blended.mean, pooled.mean) and torch.allclose(blended.cov, pooled.cov)
    directions = random_directions(3, 5)
    half = sliced([a, b], directions, [0.5, 0.5]).quantiles
    assert torch.allclose(half, (sorted_projections(a, directions) + sorted_projections(b, directions)) / 2)


def test_other_style_losses_gradcheck_float64() -> None:
    features = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 5, 5, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: mean_cov_loss(f, mean_cov([target])), (features,))
    directions = random_directions(3, 4).double()
    assert torch.autograd.gradcheck(
        lambda f: sliced_wasserstein_loss(f, sliced([target], directions)), (features,)
    )


def test_other_style_losses_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(1, C, H, W\)"):
        moments(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="directions"):
        sorted_projections(torch.rand(1, 3, 4, 4), random_directions(4, 2))


def test_nearest_features_takes_each_position_from_the_bank_by_direction_not_length() -> None:
    torch.manual_seed(0)
    bank = torch.randn(1, 8, 5, 6)  # 30 style features
    keys = bank[0].flatten(1).T  # (30, 8)
    picks = torch.tensor([3, 3, 17, 29, 0, 11])
    # Queries: chosen bank vectors scaled (cosine similarity ignores length) and slightly moved.
    queries = keys[picks] * torch.tensor([[0.1], [5.0], [1.0], [2.0], [0.5], [3.0]]) + 1e-3
    features = queries.T.reshape(1, 8, 2, 3)
    matched = nearest_features(features, bank)
    assert matched.shape == features.shape
    assert torch.equal(matched[0].flatten(1).T, keys[picks])  # whole vectors, their own lengths


def test_nearest_features_gives_the_same_answer_in_small_chunks() -> None:
    torch.manual_seed(1)
    features, bank = torch.randn(1, 4, 7, 9), torch.randn(1, 4, 6, 5)
    assert torch.equal(nearest_features(features, bank), nearest_features(features, bank, budget=31))


def test_nearest_features_of_the_bank_itself_is_the_bank() -> None:
    bank = torch.randn(1, 16, 4, 4)
    assert torch.equal(nearest_features(bank, bank), bank)


@pytest.mark.parametrize(
    ("features", "bank"),
    [((1, 3, 4, 4), (1, 4, 4, 4)), ((2, 3, 4, 4), (2, 3, 4, 4)), ((3, 4, 4), (1, 3, 4, 4))],
)
def test_nearest_features_rejects_mismatched_shapes(features: tuple[int, ...], bank: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="expected features"):
        nearest_features(torch.zeros(features), torch.zeros(bank))
