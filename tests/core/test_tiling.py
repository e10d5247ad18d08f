from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import impasto
from colours import chroma_ratio, orange_swirls
from impasto.config import parse_memory
from impasto.core import losses, style, tiling
from impasto.core.backbone import FeatureExtractor
from impasto.core.weights import load_params
from impasto.errors import ConfigError
from impasto.io import images


def test_parse_memory() -> None:
    assert parse_memory("2GB") == 2 * 2**30
    assert parse_memory("1.5g") == int(1.5 * 2**30)
    assert parse_memory("512MB") == 512 * 2**20
    assert parse_memory("1000") == 1000
    for bad in ("lots", "-1GB", "2TB", ""):
        with pytest.raises(ConfigError, match="max-memory"):
            parse_memory(bad)
    assert impasto.StyleConfig(max_memory="1GB").max_memory == 2**30  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("height", "width", "tile", "overlap"), [(300, 500, 128, 32), (64, 64, 128, 16), (129, 1000, 129, 64)]
)
def test_tiles_cover_the_image_with_overlaps(height: int, width: int, tile: int, overlap: int) -> None:
    windows = tiling.tiles(height, width, tile, overlap)
    covered = torch.zeros(height, width)
    for w in windows:
        assert w.bottom - w.top <= tile and w.right - w.left <= tile
        covered[w.top : w.bottom, w.left : w.right] += 1
    assert covered.min() >= 1
    lefts = sorted({w.left for w in windows})
    rights = sorted({w.right for w in windows})
    for right, next_left in zip(rights, lefts[1:], strict=False):
        assert right - next_left >= overlap


def test_blend_weights_ramp_only_towards_tiles_already_done() -> None:
    first = tiling.blend_weight(tiling.Tile(0, 10, 0, 10), overlap=4)
    assert torch.equal(first, torch.ones(1, 1, 10, 10))
    inner = tiling.blend_weight(tiling.Tile(6, 16, 6, 16), overlap=4)[0, 0]
    assert inner[-1, -1] == 1 and inner[5, 5] == 1
    assert torch.all(inner[0, 4:] == 0.2) and torch.all(inner[4:, 0] == 0.2)
    assert torch.all(torch.diff(inner[5, :5]) > 0)


def test_run_tiled_leaves_nothing_of_the_start_image() -> None:
    windows = tiling.tiles(50, 70, 24, 8)
    canvas = tiling.run_tiled(
        torch.zeros(1, 3, 50, 70), windows, 8, lambda i, w, start: torch.ones_like(start)
    )
    assert torch.allclose(canvas, torch.ones(1, 3, 50, 70))


def test_a_tiled_scale_asked_to_stop_ends_after_the_tile_under_way() -> None:
    """The tiles done and the one that stopped are on the canvas; the tiles after it are not run."""
    from impasto.core.optimize import RunResult

    ran: list[int] = []

    def optimize_window(index: int, count: int, window: tiling.Tile, start: torch.Tensor) -> RunResult:
        ran.append(index)
        return RunResult(torch.ones_like(start), 1.0, 3, "stopped" if index == 1 else "done")

    result = tiling.optimize_tiled(torch.zeros(1, 3, 150, 400), 160, optimize_window)
    assert ran == [0, 1] and result.stopped == "stopped" and result.iterations == 3
    assert result.image[..., :, :100].eq(1).all() and result.image[..., :, -100:].eq(0).all()


@pytest.mark.slow
def test_tiled_gram_targets_match_whole_image_grams(content_path: Path) -> None:
    entry, params = load_params("vgg16")
    layers = ["relu1_1", "relu3_1", "relu5_1"]
    extractor = FeatureExtractor(entry.architecture, params, entry.preprocessing, layers)
    image = images.to_tensor(images.fit(images.load(content_path, 10**8).image, 256))
    whole = {name: losses.gram(f) for name, f in extractor(image).items()}
    # Margins of 64 px, as the real runs use (tiling.OVERLAP), keep the zero padding of tile borders away.
    gram = style.make("gram", dict.fromkeys(layers, 1 / 3))
    pieces = [gram.summarize(f) for f in tiling.tiled_features(extractor, image, tile=160, margin=64)]
    assert len(pieces) > 1
    tiled = gram.target([gram.merge(pieces)], [1.0], {})
    for name in layers:
        error = (tiled[name] - whole[name]).norm() / whole[name].norm()
        assert error < 0.05, (name, error)


@pytest.mark.slow
def test_a_small_memory_budget_stylizes_in_tiles(content_path: Path, style_path: Path) -> None:
    impasto.stylize(content_path, style_path, size=32, iterations=1, device="cpu")  # weights loaded once
    budget = tiling.resident_memory() + 400 * 2**20  # room for tiles of ~290 px beyond what we hold
    done = impasto.stylize_detailed(
        content_path, style_path, size=480, iterations=3, device="cpu", max_memory=budget
    )
    assert done.tiles > 1
    assert done.image.size == (480, 319)


@pytest.mark.slow
def test_a_tiled_run_keeps_the_photos_colours(content_path: Path, style_path: Path) -> None:
    """``--preserve-colors histogram`` tile by tile, from noise: the photo's colours (2.3)."""
    impasto.stylize(content_path, style_path, size=32, iterations=1, device="cpu")  # weights loaded once
    budget = tiling.resident_memory() + 400 * 2**20
    content, style = Image.open(content_path).convert("RGB"), orange_swirls(style_path)
    done = impasto.stylize_detailed(
        content,
        style,
        size=480,
        iterations=3,
        device="cpu",
        max_memory=budget,
        init="noise",
        preserve_colors="histogram",
    )
    assert done.tiles > 1
    assert chroma_ratio(done.image, content, style) < 0.25


def test_a_budget_too_small_for_any_tile_is_refused(content_path: Path, style_path: Path) -> None:
    with pytest.raises(ConfigError, match="--max-memory"):
        impasto.stylize(content_path, style_path, size=256, iterations=1, device="cpu", max_memory=2**22)
