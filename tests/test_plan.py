"""The plan: coarse-to-fine schedules by output size, and bad combinations refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import impasto
from impasto.config import StyleConfig
from impasto.core import tiling
from impasto.core.optimize import Progress
from impasto.errors import ConfigError
from impasto.plan import iterations_at, make_plan, scale_sizes

CPU = torch.device("cpu")


def room(extra: int) -> int:
    """A memory budget of ``extra`` bytes beyond what this process holds (tiles.py counts that in)."""
    return tiling.resident_memory() + extra


LANDSCAPE = (3000, 4000)  # (H, W) of a phone photo


def test_scale_sizes_start_at_the_same_base_for_every_output() -> None:
    assert scale_sizes(384, 256, 2**0.5) == [256, 384]
    assert scale_sizes(512, 256, 2**0.5) == [256, 362, 512]
    assert scale_sizes(2048, 256, 2**0.5) == [256, 362, 512, 724, 1024, 1448, 2048]
    assert scale_sizes(256, 64, 2) == [64, 128, 256]
    # An output no larger than the base is one scale; a last step shorter than √step is merged.
    assert scale_sizes(200, 256, 2**0.5) == [200]
    assert scale_sizes(290, 256, 2**0.5) == [290]
    assert scale_sizes(400, 256, 2**0.5) == [256, 400]


def test_the_schedule_is_size_aware() -> None:
    config = StyleConfig(iterations=200, max_memory=2**40)
    plans = {size: make_plan(config.with_options(size=size), LANDSCAPE, CPU) for size in (384, 1024, 2048)}
    counts = [len(plan.scales) for plan in plans.values()]
    assert counts == sorted(counts) and counts[0] < counts[-1]  # bigger outputs, more scales
    assert {plan.scales[0].size for plan in plans.values()} == {256}  # the same base
    for size, plan in plans.items():
        assert plan.scales[-1].size == size and plan.scales[-1].shape == (round(size * 0.75), size)
        assert plan.scales[0].iterations == 200
        # Most iterations where they are cheap: fewer at each larger scale, never below a quarter.
        iterations = [s.iterations for s in plan.scales]
        assert iterations == sorted(iterations, reverse=True) and min(iterations) >= 50
    assert iterations_at(1, 200, 0.5) == 100 and iterations_at(5, 200, 0.5) == 50


def test_single_scale_and_video_frames_run_at_the_output_size_only() -> None:
    config = StyleConfig(size=1024, iterations=30, max_memory=2**40)
    assert [s.size for s in make_plan(config.with_options(multiscale=False), LANDSCAPE, CPU).scales] == [1024]
    assert [s.size for s in make_plan(config, LANDSCAPE, CPU, video_frame=True).scales] == [1024]


def test_the_plan_decides_which_scales_are_compiled_by_what_one_evaluation_sees() -> None:
    """A scale is compiled where its image, or on a tiled scale its tile, has COMPILE_MIN_PIXELS: the
    pipeline and the runtime obey Scale.compiled and do not decide again."""
    from impasto.core.runtime import COMPILE_MIN_PIXELS

    plan = make_plan(
        StyleConfig(size=2048, iterations=40, max_memory=room(2**30)), LANDSCAPE, CPU, compile_network=True
    )
    for scale in plan.scales:
        pixels = scale.tile_side**2 if scale.tiles else scale.shape[0] * scale.shape[1]
        assert scale.compiled == (pixels >= COMPILE_MIN_PIXELS)
    assert not any(
        s.compiled for s in make_plan(StyleConfig(size=2048, max_memory=2**40), LANDSCAPE, CPU).scales
    )


def test_tiles_are_planned_per_scale_and_described() -> None:
    plan = make_plan(StyleConfig(size=2048, iterations=40, max_memory=room(2**30)), LANDSCAPE, CPU)
    tiled = [s for s in plan.scales if s.tiles]
    assert tiled and not plan.scales[0].tiles and tiled[-1] is plan.scales[-1]
    text = plan.describe()
    assert f"{len(plan.scales)} scale(s) on cpu" in text and "2048×1536 px, 20 iterations" not in text
    assert f"in {plan.scales[-1].tiles} tiles of {plan.scales[-1].tile_side} px" in text
    assert plan.work_total == pytest.approx(plan.work_before(len(plan.scales)))


@pytest.mark.parametrize(
    ("options", "kwargs", "message"),
    [
        ({"style_loss": "sliced-wasserstein"}, {}, "works only on images that fit in memory"),
        ({}, {"masks": True}, "masks work only on images that fit in memory"),
        ({}, {"video_frame": True}, "a video frame of 2048×1536 px needs tiles"),
        ({"max_memory": room(2**23)}, {}, r"leaves room for tiles of only \d+ px"),
        (
            {"style_loss": "mean-cov", "size": 64},
            {"masks": True},
            "masks work with --style-loss gram, nearest or neighbours only",
        ),
    ],
)
def test_bad_combinations_fail_in_the_plan(
    options: dict[str, object], kwargs: dict[str, bool], message: str
) -> None:
    config = StyleConfig(**{"size": 2048, "max_memory": room(2**30), **options})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        make_plan(config, LANDSCAPE, CPU, **kwargs)


def test_an_enlargement_beyond_max_upscale_is_refused() -> None:
    thumbnail = (48, 64)
    with pytest.raises(ConfigError, match=r"--size 16384 would enlarge the 64×48 content image 256 times"):
        make_plan(StyleConfig(size=16384), thumbnail, CPU)
    assert make_plan(StyleConfig(size=512, max_memory=2**40), thumbnail, CPU).scales[-1].size == 512  # 8×
    with pytest.raises(ConfigError, match="more than the 4 allowed"):
        make_plan(StyleConfig(size=512, max_upscale=4), thumbnail, CPU)


def test_fp16_on_a_cpu_is_refused_with_what_to_use() -> None:
    """Emulated on a CPU, about 20 times slower than fp32 (it ran without a word)."""
    with pytest.raises(ConfigError, match=r"fp16 on a CPU is emulated.*use fp32, or bf16"):
        make_plan(StyleConfig(size=64, precision="fp16"), (48, 64), CPU)
    on_a_gpu = StyleConfig(size=64, precision="fp16", max_memory=2**30, compile="off")
    assert make_plan(on_a_gpu, (48, 64), torch.device("cuda")).scales


def test_the_whole_picture_counts_against_max_memory_before_anything_is_allocated() -> None:
    # 16384×12288 px: 13.5 GiB for the picture alone, so 2 GB cannot hold it (nor its earlier scales).
    config = StyleConfig(size=16384, max_upscale=1024, max_memory=2 * 2**30)
    with pytest.raises(ConfigError, match=r"2.00 GiB leaves room .* beside the \d+×\d+ px picture itself"):
        make_plan(config, (48, 64), CPU)


def test_a_bad_combination_fails_before_the_first_iteration(tmp_path: Path, style_path: Path) -> None:
    # The last scale would need tiles, which masks cannot have: refused before any optimization.
    content = Image.new("RGB", (400, 300), (120, 130, 140))
    mask = Image.new("L", (400, 300), 255)
    reports: list[Progress] = []
    with pytest.raises(ConfigError, match="masks work only on images that fit in memory"):
        impasto.stylize(
            content,
            [style_path, style_path],
            content_masks=(mask,),
            size=400,
            base_size=64,
            max_memory="40MB",
            device="cpu",
            callback=reports.append,
        )
    assert reports == []


def test_dry_run_prints_the_plan_and_writes_nothing(
    tmp_path: Path, content_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from impasto.cli import main

    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "--size", "512", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "3 scale(s) on cpu" in printed and "512×341 px" in printed
    assert not out.exists()
