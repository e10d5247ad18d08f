"""The style-loss protocol (impasto.core.style): every kind on tiny features, masks and tiles taken or
refused where each kind declares, the registry, and re-matching between rounds of an optimization."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
import torch

from impasto.choices import STYLE_LOSSES
from impasto.config import StyleConfig
from impasto.core import losses, style
from impasto.core.backbone import INPUT
from impasto.core.style import Features, Masks
from impasto.core.style.layerwise import Layerwise
from impasto.core.style.neighbours import HYPERCOLUMN
from impasto.core.targets import make_targets
from impasto.errors import ConfigError

# Tiny features: two layers before block 3 (Gram matrices for "nearest") and one after (matched).
LAYERS = {"relu1_1": 0.5, "relu2_1": 0.25, "relu3_1": 0.25}


def tiny_features(seed: int, size: int = 6) -> dict[str, torch.Tensor]:
    """Features of the style layers, and of every layer of the neighbours' hypercolumns."""
    generator = torch.Generator().manual_seed(seed)
    features = {
        "relu1_1": torch.rand(1, 4, size, size, generator=generator, dtype=torch.float64),
        "relu2_1": torch.rand(1, 5, size // 2, size // 2, generator=generator, dtype=torch.float64),
        "relu3_1": torch.rand(1, 6, size // 2, size // 2, generator=generator, dtype=torch.float64) ** 2,
    }
    for name in HYPERCOLUMN:
        if name not in features:
            side = max(1, size // {"1": 1, "2": 2, "3": 2, "4": 4}[name[4]])
            features[name] = torch.rand(1, 3, side, side, generator=generator, dtype=torch.float64)
    features[INPUT] = torch.rand(1, 3, size, size, generator=generator, dtype=torch.float64)  # the pixels
    return features


def target_of(loss: style.StyleLoss, painting: Features, content: Features) -> Any:
    return loss.target([loss.summarize(painting)], [1.0], content)


def test_the_registry_is_the_one_list_of_kinds() -> None:
    assert STYLE_LOSSES == style.NAMES == ("gram", "nearest", "mean-cov", "sliced-wasserstein", "neighbours")
    for name in style.NAMES:
        assert style.make(name, LAYERS).layers == LAYERS
    with pytest.raises(ValueError, match="no style loss 'gramm'; the kinds are gram, nearest"):
        style.kind("gramm")
    with pytest.raises(ConfigError, match="style_loss"):
        StyleConfig(style_loss="gramm")


@pytest.mark.parametrize("name", style.NAMES)
def test_each_kind_is_zero_on_its_own_target_and_positive_elsewhere(name: str) -> None:
    loss = style.make(name, LAYERS, seed=2)
    painting, other = tiny_features(0), tiny_features(1)
    # The photo is the painting itself, so a nearest-neighbour kind's match is the painting too.
    target = target_of(loss, painting, painting)
    own = loss.distance(painting, target)
    elsewhere = loss.distance(other, target)
    assert torch.isfinite(own) and torch.isfinite(elsewhere)
    assert own.item() == pytest.approx(0, abs=1e-5)  # mean-cov's ε in a square root: a few 1e-6
    assert elsewhere.item() > 1e-3
    assert loss.distance({n: torch.zeros_like(f) for n, f in painting.items()}, target).item() > 0.5


@pytest.mark.parametrize("name", style.NAMES)
def test_blending_a_painting_with_itself_changes_nothing(name: str) -> None:
    loss = style.make(name, LAYERS)
    painting, other = tiny_features(0), tiny_features(1)
    summary = loss.summarize(painting)
    once = loss.distance(other, loss.target([summary], [1.0], other))
    twice = loss.distance(other, loss.target([summary, summary], [0.5, 0.5], other))
    assert twice.item() == pytest.approx(once.item(), rel=1e-9)


@pytest.mark.parametrize("name", style.NAMES)
def test_masks_are_served_or_refused_where_each_kind_declares(name: str) -> None:
    served = style.serving(name, masks=True)
    # nearest's regions take Gram matrices; neighbours match each region against its own painting
    assert served == {"gram": "gram", "nearest": "gram", "neighbours": "neighbours"}.get(name)
    if served is None:
        with pytest.raises(ValueError, match="takes no masks"):
            style.make(name, LAYERS).summarize(tiny_features(0), masks_of(tiny_features(0)))
        return
    loss = style.make(served, LAYERS)
    painting, other = tiny_features(0), tiny_features(1)
    masks = masks_of(painting)
    region = losses.Region(masks, loss.target([loss.summarize(painting, masks)], [1.0], painting), 0.5)
    assert loss.region_distance(painting, [region]).item() == pytest.approx(0, abs=1e-5)
    # Outside the mask the image may be anything (a hypercolumn mixes its neighbours' features: on
    # 3 × 3 grids that reaches across the region's border).
    changed = {n: torch.where(masks[n] > 0, f, other[n]) for n, f in painting.items()}
    if served != "neighbours":
        assert loss.region_distance(changed, [region]).item() == pytest.approx(0, abs=1e-9)
    assert loss.region_distance(other, [region]).item() > 1e-3


def masks_of(features: Features) -> dict[str, torch.Tensor]:
    """The left half of every layer."""
    masks = {}
    for name, f in features.items():
        mask = torch.zeros(1, 1, *f.shape[-2:], dtype=f.dtype)
        mask[..., : f.shape[-1] // 2] = 1
        masks[name] = mask
    return masks


@pytest.mark.parametrize("name", style.NAMES)
def test_tiles_are_served_or_refused_where_each_kind_declares(name: str) -> None:
    served = style.serving(name, tiles=True)
    # nearest's and neighbours' tiles take Gram matrices
    assert served == {"gram": "gram", "nearest": "gram", "neighbours": "gram"}.get(name)
    if served is None:
        assert name not in style.accepting("tiles")
        return
    loss = style.make(served, LAYERS)
    painting, other = tiny_features(0, size=8), tiny_features(1, size=8)
    left = {n: f[..., : f.shape[-1] // 2] for n, f in painting.items()}
    right = {n: f[..., f.shape[-1] // 2 :] for n, f in painting.items()}
    whole = loss.target([loss.summarize(painting)], [1.0], other)
    tiled = loss.target([loss.merge([loss.summarize(left), loss.summarize(right)])], [1.0], other)
    for layer in LAYERS:
        assert torch.allclose(tiled[layer], whole[layer], rtol=1e-12), layer


def test_the_refusals_name_the_kinds_that_accept() -> None:
    assert style.accepting("masks") == "gram, nearest or neighbours"
    assert style.accepting("tiles") == "gram, nearest or neighbours"
    assert style.serving("gram", masks=True, tiles=True) == "gram"
    assert style.serving("mean-cov") == "mean-cov"


@dataclass(frozen=True)
class Following(Layerwise):
    """A test kind that re-matches: its target is the current image's features (scaled by ``pull``),
    made again every two iterations."""

    pull: float = 0.5
    rematch_every: ClassVar[int] = 2
    calls: list[torch.Tensor] = field(default_factory=list)  # the features each retarget was given

    def target(self, summaries: Sequence[Any], blend: Sequence[float], content: Features) -> Any:
        return {n: content[n] * self.pull for n in self.layers}

    def retarget(self, target: Any, features: Features, mask: Masks | None = None) -> Any:
        self.calls.append(features["relu1_1"].detach().clone())
        return {n: features[n].detach() * self.pull for n in self.layers}

    def layer_distance(
        self, name: str, features: torch.Tensor, target: Any, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return losses.content_loss(features, target)


def test_retargeting_follows_the_image() -> None:
    loss = Following({"relu1_1": 1.0})
    first, second = tiny_features(0), tiny_features(1)
    targets = losses.Targets({}, loss, style=loss.target([], [], first))
    again = targets.retargeted(second)
    assert not torch.equal(again.style["relu1_1"], targets.style["relu1_1"])
    assert torch.equal(again.style["relu1_1"], second["relu1_1"] * 0.5)
    assert targets.retargeted(first).style["relu1_1"].equal(targets.style["relu1_1"])


@pytest.mark.slow
def test_a_kind_that_rematches_runs_a_scale_in_rounds() -> None:
    from impasto import pipeline
    from impasto.plan import Scale

    runner = pipeline.network("vgg19", None, ("relu1_1",), "max", "cpu", "fp32", "off")
    loss = Following({"relu1_1": 1.0})
    start = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        targets = losses.Targets({}, loss, style=loss.target([], [], runner.extractor(start)))
    weights = losses.Weights(0.0, 1.0, 0.0, {}, {"relu1_1": 1.0})
    scale = Scale(32, (32, 32), 32, iterations=5, tiles=0, tile_side=0, compiled=False)
    seen: list[tuple[int, int]] = []
    result = pipeline.descend_in_rounds(
        runner,
        start,
        targets,
        weights,
        None,
        StyleConfig(optimizer="adam", learning_rate=0.05),
        scale,
        report=lambda p: seen.append((p.iteration, p.total)),
        should_stop=None,
    )
    assert result.iterations == 5 and result.stopped == "done"
    assert len(loss.calls) == 3  # rounds of 2, 2 and 1 iterations, each matched afresh
    assert not torch.equal(loss.calls[0], loss.calls[1])  # against the image as it is then
    assert [i for i, _ in seen] == [1, 2, 3, 4, 5] and {t for _, t in seen} == {5}


def test_fixed_kinds_keep_their_target() -> None:
    for name in ("gram", "nearest", "mean-cov", "sliced-wasserstein"):
        loss = style.make(name, LAYERS)
        assert loss.rematch_every == 0
        target = target_of(loss, tiny_features(0), tiny_features(0))
        assert loss.retarget(target, tiny_features(1)) is target


def test_the_style_term_of_the_objective_is_the_kinds_distance() -> None:
    loss = style.make("sliced-wasserstein", LAYERS)
    painting, image = tiny_features(0), tiny_features(1)
    targets = losses.Targets({}, loss, style=target_of(loss, painting, image))
    weights = losses.Weights(1.0, 3.0, 0.0, {}, LAYERS)
    _, terms = losses.objective(torch.rand(1, 3, 8, 8), image, targets, weights)
    assert terms["style"].item() == pytest.approx(3 * loss.distance(image, targets.style).item())


def test_masks_on_a_kind_that_refuses_them_fail_in_one_line() -> None:
    from impasto import pipeline

    runner = pipeline.network("vgg19", None, ("relu1_1", "relu4_2"), "max", "cpu", "fp32", "off")
    image = torch.rand(1, 3, 32, 32)
    weights = losses.Weights(1.0, 1.0, 0.0, {"relu4_2": 1.0}, {"relu1_1": 1.0})
    with pytest.raises(
        ConfigError, match="masks work with --style-loss gram, nearest or neighbours only, not mean-cov"
    ):
        make_targets(
            runner.extractor,
            image,
            [image],
            [1.0],
            weights,
            [(torch.ones(1, 1, 32, 32), None)],
            kind="mean-cov",
        )


def test_a_masked_nearest_run_takes_gram_targets() -> None:
    from impasto import pipeline

    runner = pipeline.network("vgg19", None, ("relu1_1", "relu3_1", "relu4_2"), "max", "cpu", "fp32", "off")
    image = torch.rand(1, 3, 32, 32)
    weights = losses.Weights(1.0, 1.0, 0.0, {"relu4_2": 1.0}, {"relu1_1": 0.5, "relu3_1": 0.5})
    region = (torch.ones(1, 1, 32, 32), None)
    targets = make_targets(runner.extractor, image, [image], [1.0], weights, [region], kind="nearest")
    assert type(targets.loss).__name__ == "Gram"
    assert targets.regions[0].target["relu3_1"].shape == (1, 256, 256)
