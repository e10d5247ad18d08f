"""The neighbours style loss (impasto.core.style.neighbours): hypercolumns, matching, re-matching,
regions, and a short real run."""

from __future__ import annotations

import pytest
import torch

from impasto.core import losses, style
from impasto.core.backbone import INPUT
from impasto.core.style import neighbours
from impasto.core.style.neighbours import HYPERCOLUMN, Neighbours, columns

STYLE_LAYERS = {"relu1_1": 0.2, "relu2_1": 0.2, "relu3_1": 0.2, "relu4_1": 0.2, "relu5_1": 0.2}
CHANNELS = {"relu1": 3, "relu2": 4, "relu3": 5, "relu4": 6}


def tiny_features(seed: int, side: int = 16) -> dict[str, torch.Tensor]:
    """Random features of every layer a Neighbours reads, at VGG's resolutions for a ``side`` px image,
    and its pixels."""
    generator = torch.Generator().manual_seed(seed)
    features = {INPUT: torch.rand(1, 3, side, side, generator=generator, dtype=torch.float64)}
    for name in (*HYPERCOLUMN, "relu5_1"):
        block = int(name[4])
        size = max(1, side // 2 ** (block - 1))
        features[name] = torch.rand(
            1, CHANNELS.get(name[:5], 7), size, size, generator=generator, dtype=torch.float64
        )
    return features


def test_hypercolumns_stack_every_layer_on_the_grid() -> None:
    features = tiny_features(0)
    stacked = columns(features, (4, 4))
    assert stacked.shape == (4 * 4, sum(features[n].shape[1] for n in HYPERCOLUMN))
    assert torch.equal(columns(features, (4, 4), torch.tensor([5, 2])), stacked[[5, 2]])
    # Each layer divided by its channel count, so no layer's size outweighs another's.
    flat = columns({n: torch.full_like(f, 6.0) for n, f in features.items()}, (4, 4))[0]
    expected = torch.cat(
        [torch.full((features[n].shape[1],), 6.0 / features[n].shape[1]) for n in HYPERCOLUMN]
    )
    assert torch.allclose(flat, expected.double())
    assert Neighbours(STYLE_LAYERS).reads == (*HYPERCOLUMN, INPUT)  # relu1_1 … relu3_1 are among them


def test_every_target_vector_comes_from_the_painting() -> None:
    loss = Neighbours(STYLE_LAYERS)
    painting, photo = tiny_features(0), tiny_features(1)
    target = loss.target([loss.summarize(painting)], [1.0], photo)
    bank = torch.nn.functional.normalize(target.bank, dim=1)  # (M, D), each of unit length as the matches are
    matched = target.matched[0].flatten(1).T  # (N, D)
    gaps = (matched[:, None] - bank[None]).abs().amax(dim=2)  # (N, M)
    assert gaps.min(dim=1).values.max() < 1e-12


def test_a_photo_equal_to_the_painting_is_matched_to_itself_and_scores_zero() -> None:
    loss = Neighbours(STYLE_LAYERS)
    painting = tiny_features(0)
    target = loss.target([loss.summarize(painting)], [1.0], painting)
    assert target.bank.shape[0] == 16  # 4 × 4 positions, all kept
    # Each place found its own hypercolumn.
    own = torch.nn.functional.normalize(columns(painting, (4, 4)), dim=1)  # (16, D)
    assert torch.allclose(target.matched[0].flatten(1).T, own, atol=1e-12)
    assert loss.distance(painting, target).item() == pytest.approx(0, abs=1e-5)
    other = tiny_features(2)
    assert loss.distance(other, target).item() > 0.01


def test_rematching_follows_the_image() -> None:
    loss = Neighbours(STYLE_LAYERS, share=1.0)  # the query is the image alone
    painting, photo = tiny_features(0), tiny_features(1)
    target = loss.target([loss.summarize(painting)], [1.0], photo)
    again = loss.retarget(target, painting)
    assert not torch.equal(again.matched, target.matched)
    assert loss.distance(painting, again).item() == pytest.approx(0, abs=1e-5)
    assert torch.equal(loss.retarget(target, photo).matched, target.matched)  # the same image: the same match


def test_later_scales_compare_the_deep_layers_alone_and_match_as_the_first() -> None:
    """refine_from: past the first scale the cosine term reads the hypercolumns from that block up
    (the matched vectors cut there and of unit length again); the matching still reads them whole,
    and the first scale is unchanged."""
    painting, photo = tiny_features(0), tiny_features(1)
    first, later = Neighbours(STYLE_LAYERS, refine_from=4), Neighbours(STYLE_LAYERS, refine_from=4, scale=1)
    assert first.cosine_layers == HYPERCOLUMN and later.cosine_layers == ("relu4_1", "relu4_2", "relu4_3")
    assert Neighbours(STYLE_LAYERS, scale=1).cosine_layers == HYPERCOLUMN  # refine_from 1: all of them
    whole = first.target([first.summarize(painting)], [1.0], photo)
    cut = later.target([later.summarize(painting)], [1.0], photo)
    deep = 3 * CHANNELS["relu4"]
    assert cut.first == whole.matched.shape[1] - deep and cut.matched.shape[1] == deep
    expected = torch.nn.functional.normalize(whole.bank[:, cut.first :], dim=1)  # the same matches, cut
    chosen = whole.matched[0].flatten(1).T  # (N, D), rows of the normalized bank
    index = (chosen[:, None] - torch.nn.functional.normalize(whole.bank, dim=1)[None]).abs().amax(2).argmin(1)
    assert torch.allclose(cut.matched[0].flatten(1).T, expected[index], atol=1e-12)
    # The shallow layers no longer count in the cosine term (the Gram terms still read relu1–3).
    shallow = {**photo, **{n: torch.rand_like(photo[n]) for n in HYPERCOLUMN[:7]}}
    assert torch.equal(later._cosine(shallow, cut), later._cosine(photo, cut))
    assert not torch.equal(first._cosine(shallow, whole), first._cosine(photo, whole))
    assert style.make("neighbours", STYLE_LAYERS, scale=2).scale == 2


def test_several_paintings_share_the_bank_by_their_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(neighbours, "MAX_BANK", 40)
    loss = Neighbours(STYLE_LAYERS)
    pieces = [loss.summarize(tiny_features(seed)) for seed in range(8)]  # 16 places each
    one, two = loss.merge(pieces[:4]), loss.merge(pieces[4:])  # 64 each
    target = loss.target([one, two], [0.75, 0.25], tiny_features(9))
    assert target.bank.shape[0] == 30 + 10


def test_regions_match_their_own_painting_and_pieces_merge() -> None:
    loss = style.make("neighbours", STYLE_LAYERS)
    assert style.serving("neighbours", masks=True) == "neighbours"
    assert style.serving("neighbours", tiles=True) == "gram"
    painting = tiny_features(0)
    masks = {n: torch.ones(1, 1, *f.shape[-2:], dtype=f.dtype) for n, f in painting.items()}
    masks = {n: m.index_fill(3, torch.arange(m.shape[-1] // 2, m.shape[-1]), 0) for n, m in masks.items()}
    summary = loss.summarize(painting, masks)
    assert summary.columns.shape[0] == 8  # the left half of the 4 × 4 grid
    both = loss.merge([summary, summary])
    assert both.columns.shape[0] == 16
    region = losses.Region(masks, loss.target([summary], [1.0], painting), weight=0.5)  # the left half
    assert loss.region_distance(painting, [region]).item() == pytest.approx(0, abs=1e-5)
    # The colours of the halves pool to the whole painting's.
    right = {n: 1 - m for n, m in masks.items()}
    whole = loss.merge([summary, loss.summarize(painting, right)]).colours
    mean, cov = losses.moments(painting[INPUT])
    assert torch.allclose(whole.mean, mean) and torch.allclose(whole.cov, cov)


def test_the_colour_term_pulls_the_pixels_to_the_paintings_colours() -> None:
    painting, photo = tiny_features(0), tiny_features(1)
    bluish = {**painting, INPUT: painting[INPUT] * torch.tensor([0.5, 0.5, 1.0]).view(1, 3, 1, 1).double()}
    target = Neighbours(STYLE_LAYERS).target([Neighbours(STYLE_LAYERS).summarize(painting)], [1.0], photo)
    distances = {
        weight: Neighbours(STYLE_LAYERS, colour_weight=weight).distance(bluish, target).item()
        for weight in (0.0, 1.0, 2.0)
    }
    colour = distances[1.0] - distances[0.0]  # the features are the painting's: only the pixels differ
    assert colour > 0.01 and distances[2.0] - distances[0.0] == pytest.approx(2 * colour)
    assert colour == pytest.approx(
        losses.mean_cov_loss(bluish[INPUT], losses.mean_cov([painting[INPUT]])).item()
    )


@pytest.mark.slow
def test_a_short_neighbours_run_moves_the_photo_towards_the_painting(content_path, style_path) -> None:  # type: ignore[no-untyped-def]
    import impasto

    config = impasto.StyleConfig(
        size=96, iterations=10, device="cpu", precision="fp32", style_loss="neighbours"
    )
    photo = impasto.stylize(content_path, style_path, config=config.with_options(style_weight=0))
    painted = impasto.stylize(content_path, style_path, config=config)
    assert painted.size == photo.size
    assert painted.tobytes() != photo.tobytes()
