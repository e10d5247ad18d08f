"""A run's schedule as data, computed and validated before any optimization.

:func:`make_plan` turns the options, the content image's size and the device into the scales of a
coarse-to-fine run: each scale's size, iterations, whether it is tiled and whether it is compiled. Every
combination that cannot work (masks or a video frame on a tiled scale, a style loss that has no tiled
form, tiles too small for the memory allowed) fails here, before the first iteration, not at the last
scale. The pipeline (pipeline.py) then only carries the plan out; ``impasto --dry-run`` prints it.

Coarse to fine (Gatys et al. 2017, "Controlling Perceptual Factors"): the look — how large the strokes
are relative to the picture — forms where the network's receptive fields see whole strokes, at a few
hundred pixels. So every run starts at the same base size whatever the output size, and grows from it
by a constant factor; most iterations go where they are cheap (the base), each later scale only adds
detail and gets fewer. A 2048 px output, seen at 512 px, then carries the style like a 512 px one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from impasto.config import MIN_SIZE, StyleConfig
from impasto.core import runtime, tiling
from impasto.core import style as style_kinds
from impasto.core.shapes import MIN_SIDE as MIN_SIDE
from impasto.core.shapes import refuse_thin as refuse_thin
from impasto.errors import ConfigError

# Scales after the first never get fewer than this share of the base scale's iterations: each must
# still converge enough to add its detail without leaving the upsampling blur.
MIN_ITERATION_SHARE = 0.25


@dataclass(frozen=True)
class Scale:
    """One scale of a run."""

    size: int  # long side of the image, px
    shape: tuple[int, int]  # (H, W) of the image
    style_size: int  # long side the style images are resized to (size × style_scale)
    iterations: int
    tiles: int  # 0: the whole image at once; else how many overlapping tiles
    tile_side: int  # side of a square tile, px (0 when not tiled)
    compiled: bool  # whether the network runs compiled at this scale


@dataclass(frozen=True)
class Plan:
    """Everything a run will do, in order; see :func:`make_plan`."""

    scales: tuple[Scale, ...]
    device: torch.device
    start: str  # what the first scale starts from: "content", "noise", "style", a path, or "video frame"

    @property
    def work_total(self) -> float:
        """The whole run's work in iterations at the output size (an iteration costs its pixels)."""
        return self.work_before(len(self.scales))

    def work_before(self, index: int) -> float:
        """Work of scales 0 … index − 1, in iterations at the output size."""
        final = self.scales[-1].shape[0] * self.scales[-1].shape[1]
        return sum(s.iterations * s.shape[0] * s.shape[1] / final for s in self.scales[:index])

    def describe(self) -> str:
        """The plan for people, one line per scale (what ``impasto --dry-run`` prints)."""
        lines = [f"{len(self.scales)} scale(s) on {self.device}, starting from {self.start}:"]
        for i, s in enumerate(self.scales, start=1):
            height, width = s.shape
            how = f"in {s.tiles} tiles of {s.tile_side} px" if s.tiles else "whole"
            compiled = ", compiled" if s.compiled else ""
            lines.append(
                f"  {i}. {width}×{height} px, {s.iterations} iterations, style image at {s.style_size} px, "
                f"{how}{compiled}"
            )
        lines.append(f"work: {self.work_total:.0f} iterations at the output size")
        return "\n".join(lines)


def scale_sizes(long_side: int, base: int, step: float) -> list[int]:
    """Long sides of a coarse-to-fine run: ``base``, base·step, base·step², … and ``long_side`` last.

    The base is the same for every output size (so is the look); a last step shorter than √step is
    merged into the one before, so no scale is nearly a repeat of the previous one.

    >>> scale_sizes(384, 256, 2**0.5)
    [256, 384]
    >>> scale_sizes(2048, 256, 2**0.5)
    [256, 362, 512, 724, 1024, 1448, 2048]
    >>> scale_sizes(200, 256, 2**0.5)
    [200]
    """
    if step <= 1:
        raise ValueError(f"step must be > 1, got {step}")
    sizes = [min(base, long_side)]
    while long_side / sizes[-1] > math.sqrt(step) * (1 + 1e-9):
        sizes.append(min(long_side, round(sizes[-1] * step)))
    if sizes[-1] != long_side:
        sizes[-1] = long_side
    return sizes


def iterations_at(scale: int, base_iterations: int, decay: float) -> int:
    """Iterations of scale ``scale`` (0 = the base): ``decay`` times those of the one before, never
    fewer than MIN_ITERATION_SHARE of the base's."""
    floor = math.ceil(base_iterations * MIN_ITERATION_SHARE)
    return max(floor, round(base_iterations * decay**scale)) if scale else base_iterations


def check_style_shape(style_shape: tuple[int, int], style_size: int) -> None:
    """Refuse a style image too thin to give the network anything at ``style_size`` (its long side)."""
    refuse_thin("a style image", style_shape, style_size, "raise --style-scale")


def _check_runnable(
    config: StyleConfig, device: torch.device, long_side: int, content_shape: tuple[int, int]
) -> None:
    """A ConfigError for what would run but not as anyone wants: an enlargement past --max-upscale,
    fp16 on a CPU."""
    if long_side > config.max_upscale * max(content_shape):
        raise ConfigError(
            f"--size {long_side} would enlarge the {content_shape[1]}×{content_shape[0]} content image "
            f"{long_side / max(content_shape):.0f} times, more than the {config.max_upscale:g} allowed: "
            "style transfer adds no detail to an enlargement (raise --max-upscale if you mean it)"
        )
    if config.precision == "fp16" and device.type == "cpu":  # measured: about 20× slower than fp32
        raise ConfigError(
            "--precision fp16 on a CPU is emulated, about 20 times slower than fp32: use fp32, or bf16 "
            "on a CPU with AVX512_BF16 or AMX (auto chooses)"
        )


def make_plan(
    config: StyleConfig,
    content_shape: tuple[int, int],
    device: torch.device,
    *,
    masks: bool = False,
    video_frame: bool = False,
    compile_network: bool | None = None,
) -> Plan:
    """The schedule of a run of ``config`` on a content image of ``content_shape`` (H, W) on ``device``.

    ``masks``: spatial control is asked for; ``video_frame``: the run is one frame of a video (one
    scale, a start image given); ``compile_network``: whether the network may be compiled (None: as
    ``config.compile`` asks on ``device``, :func:`runtime.compile_wanted`). A scale is compiled where
    one evaluation is large enough to repay the compilation; the pipeline and the runtime obey
    :attr:`Scale.compiled`, they do not decide again.
    Raises :class:`ConfigError` for any combination that cannot run.
    """
    on_gpu = device.type != "cpu"
    if compile_network is None:
        compile_network = runtime.compile_wanted(config.compile, device)
    long_side = config.size or max(MIN_SIZE, min(config.resolved_size(on_gpu), max(content_shape)))
    if config.multiscale and not video_frame:
        sizes = scale_sizes(long_side, config.base_size, config.scale_step)
    else:
        sizes = [long_side]
    _check_runnable(config, device, long_side, content_shape)
    budget = config.max_memory or tiling.available_memory(device)
    tile_pixels = tiling.max_tile_pixels(budget, device)
    base_iterations = config.resolved_iterations(on_gpu)
    scales = []
    for index, size in enumerate(sizes):
        shape = refuse_thin("the content image", content_shape, size, "raise --size and --base-size")
        tile_side, count = 0, 0
        if shape[0] * shape[1] > tile_pixels:
            tile_side, count = _tiles(config, shape, budget, device, masks=masks, video_frame=video_frame)
        scales.append(
            Scale(
                size=size,
                shape=shape,
                style_size=max(MIN_SIZE, round(size * config.style_scale)),
                iterations=iterations_at(index, base_iterations, config.iteration_decay),
                tiles=count,
                tile_side=tile_side,
                # What one evaluation sees: the whole image, or a tile of a tiled scale.
                compiled=compile_network
                and (tile_side**2 if count else shape[0] * shape[1]) >= runtime.COMPILE_MIN_PIXELS,
            )
        )
    # Each kind of style loss declares whether it takes masks and tiles (core/style/).
    if masks and style_kinds.serving(config.style_loss, masks=True) is None:
        accepted = style_kinds.accepting("masks")
        raise ConfigError(f"masks work with --style-loss {accepted} only, not {config.style_loss}")
    start = "video frame" if video_frame else config.init
    return Plan(scales=tuple(scales), device=device, start=start)


def _tiles(
    config: StyleConfig,
    shape: tuple[int, int],
    budget: int,
    device: torch.device,
    *,
    masks: bool,
    video_frame: bool,
) -> tuple[int, int]:
    """A scale of ``shape`` (H, W) too large for ``budget`` bytes in one piece → (the side of its tiles,
    how many); ConfigError where tiles cannot serve (a video frame, masks, a kind of style loss that
    takes no tiles) or the picture leaves no room for a tile."""
    where = f"{shape[1]}×{shape[0]} px needs tiles ({_memory(budget)} allowed)"
    if video_frame:
        raise ConfigError(f"a video frame of {where}: use a smaller --size")
    if masks:
        raise ConfigError(
            f"masks work only on images that fit in memory; {where}: use a smaller --size or a "
            "larger --max-memory"
        )
    if style_kinds.serving(config.style_loss, tiles=True) is None:
        raise ConfigError(
            f"--style-loss {config.style_loss} works only on images that fit in memory; {where}: "
            f"use --style-loss {style_kinds.accepting('tiles')}, a smaller --size or a "
            "larger --max-memory"
        )
    # The whole picture stays in memory beside the tile being optimized.
    canvas = shape[0] * shape[1] * tiling.CANVAS_BYTES_PER_PIXEL
    tile_side = math.isqrt(tiling.max_tile_pixels(budget - canvas, device))
    if tile_side < tiling.MIN_TILE:
        raise ConfigError(
            f"{_memory(budget)} leaves room for tiles of only {tile_side} px (at least "
            f"{tiling.MIN_TILE} needed) beside the {shape[1]}×{shape[0]} px picture itself "
            f"({_memory(canvas)}): use a smaller --size or allow more memory with --max-memory"
        )
    return tile_side, len(tiling.tiles(shape[0], shape[1], tile_side, tiling.OVERLAP))


def _memory(count: int) -> str:
    """Bytes for people: "1.50 GiB", "12 MiB"."""
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"
