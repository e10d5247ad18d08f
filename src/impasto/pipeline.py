"""The public face: :func:`stylize` turns a content and one or more style images into a stylized image.

The pipeline, top to bottom: load the images → (colour preparation) → for each scale, coarse to fine:
targets from the backbone, then optimization from the upsampled previous result → (colour restoration).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from PIL import Image

from impasto.config import StyleConfig
from impasto.core import color, losses, optimize, pyramid, runtime, tiling
from impasto.core import style as style_kinds
from impasto.core.devices import ran_out_of_memory, release_memory
from impasto.core.targets import make_targets, tiled_targets
from impasto.errors import OutOfMemory
from impasto.inputs import ImageLike, Prepared, StyleLike, Temporal, expand_styles, prepare
from impasto.io import images
from impasto.objective import loss_weights, network, objective, total_loss
from impasto.plan import Plan, Scale
from impasto.start import initial_image

# The public API of the pipeline (docs/design.md): stylize and its steps, and what step 1 (inputs.py)
# takes and gives.
__all__ = [
    "Ended",
    "ImageLike",
    "Prepared",
    "Seen",
    "StyleLike",
    "Stylized",
    "Temporal",
    "expand_styles",
    "finish",
    "load_network",
    "loss_weights",
    "network",
    "objective",
    "prepare",
    "run_scale",
    "seen_by_network",
    "stylize",
    "stylize_detailed",
    "total_loss",
]

# How a run ended (:attr:`Stylized.ended`): every iteration done ("made"), ``should_stop`` said so
# ("stopped"), the ``deadline`` passed ("out of time"), the loss went non-finite too often
# ("diverged"), or the device ran out of memory after a scale had finished ("out of memory": that
# scale's image, enlarged); each with the best image so far. Ctrl-C is not among them: it raises
# Interrupted; nor is running out of memory before any scale finished: it raises OutOfMemory.
Ended = Literal["made", "stopped", "out of time", "diverged", "out of memory"]


@dataclass(frozen=True)
class Stylized:
    """A finished stylization: the image and how it was made."""

    image: Image.Image
    icc_profile: bytes | None  # the content image's RGB colour profile, to embed in the output
    result: optimize.RunResult  # how the last scale's optimization ended
    config: StyleConfig
    device: torch.device
    plan: Plan  # the scales it ran (or would have run, had it not stopped early)
    runtime: str = ""  # how the network ran: "bf16, channels-last, compiled"
    ended: Ended = "made"  # how the run ended (see Ended); the image is the best so far in every case

    @property
    def settings(self) -> StyleConfig:
        """The options as the run used them: ``config`` with the size and iterations this machine chose
        where it left them to the device (40 iterations on a CPU, 500 on a GPU), so that the options an
        output carries make the same picture on another machine."""
        chosen = {"size": self.sizes[-1], "iterations": self.plan.scales[0].iterations}
        return self.config.with_options(
            **{k: v for k, v in chosen.items() if getattr(self.config, k) is None}
        )

    @property
    def sizes(self) -> tuple[int, ...]:
        """Long side of each scale, smallest first."""
        return tuple(s.size for s in self.plan.scales)

    @property
    def tiles(self) -> int:
        """Tiles the last scale was optimized in (0: the whole image at once)."""
        return self.plan.scales[-1].tiles


def stylize(
    content: ImageLike,
    style: StyleLike,
    *,
    config: StyleConfig | None = None,
    callback: Callable[[optimize.Progress], None] | None = None,
    **options: Any,
) -> Image.Image:
    """Render ``content`` in the style of ``style`` (Gatys et al.) and return the image.

    ``content`` is a path, a PIL image, or a tensor (3, H, W) / (1, 3, H, W) in [0, 1]; ``style`` is one
    such image, a folder of images, or a list of them (blended by ``style_blend``). ``options`` are
    fields of :class:`StyleConfig` (``size``, ``style_weight``, …) and override ``config``. ``callback``
    receives a :class:`~impasto.core.optimize.Progress` after every iteration.
    Raises :class:`~impasto.errors.ImpastoError` subclasses for bad input, and
    :class:`~impasto.core.optimize.Interrupted` (holding the best image so far) on Ctrl-C.
    """
    return stylize_detailed(content, style, config=config, callback=callback, **options).image


def stylize_detailed(
    content: ImageLike,
    style: StyleLike,
    *,
    config: StyleConfig | None = None,
    callback: Callable[[optimize.Progress], None] | None = None,
    temporal: Temporal | None = None,
    status: Callable[[str], None] | None = None,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    **options: Any,
) -> Stylized:
    """Like :func:`stylize`, and also says how the run went (:class:`Stylized`, its ``ended``).
    ``deadline`` (a :func:`time.monotonic` value) and ``should_stop`` (asked after every iteration)
    end the run early with its best image so far: ``ended`` is then "out of time" or "stopped". The one
    way to stop a run is these two; Ctrl-C (a KeyboardInterrupt, also one raised from ``callback``)
    still raises :class:`~impasto.core.optimize.Interrupted` with the best image so far. ``temporal``
    (video frames: apps/video/temporal.py) adds the temporal terms and the start image, at one scale.
    ``status`` hears what the run does when it is not iterating ("loading the vgg19 weights").

    The steps, each a function below: 1. :func:`prepare` (options, images, masks and the plan: every
    check that can fail, before any work); 2. :func:`seen_by_network` (the colour preparation);
    3. :func:`load_network`; 4. :func:`run_scale` for each scale, coarse to fine; 5. :func:`finish`."""
    tell = status or (lambda message: None)
    why: list[Ended] = []  # what stopped the run early, once something has
    polled = _stopper(deadline, should_stop, why)
    tell("reading the images")
    run = prepare(content, style, config=config, temporal=temporal, **options)  # 1
    finished: list[optimize.RunResult] = []  # each scale's result, coarse to fine
    runner: runtime.Runner | None = None
    try:
        seen = seen_by_network(run)  # 2
        weights = loss_weights(run.config)
        runner = load_network(run, weights, tell)  # 3
        _run_scales(run, seen, runner, weights, finished, callback, temporal, tell, polled)  # 4
        result = finished[-1]
    except (RuntimeError, MemoryError) as error:  # torch.OutOfMemoryError is a RuntimeError
        if not ran_out_of_memory(error):
            raise
        result = _out_of_memory(run, finished)  # or raises OutOfMemory: no scale had finished
        why.append("out of memory")
    return Stylized(
        image=finish(run, seen, result.image),  # 5
        icc_profile=run.content.icc_profile,
        result=result,
        config=run.config,
        device=run.plan.device,
        plan=run.plan,
        runtime=runner.description if runner is not None else "",
        ended=why[0] if why else "diverged" if result.stopped == "diverged" else "made",
    )


def _stopper(
    deadline: float | None, should_stop: Callable[[], bool] | None, why: list[Ended]
) -> Callable[[], bool] | None:
    """What the loop asks after each iteration, for a run with a ``deadline`` or a ``should_stop``:
    whether to end now, the reason appended to ``why``; None for a run with neither."""
    if deadline is None and should_stop is None:
        return None

    def stopping() -> bool:
        if deadline is not None and time.monotonic() >= deadline:
            why.append("out of time")
        elif should_stop is not None and should_stop():
            why.append("stopped")
        return bool(why)

    return stopping


def _run_scales(
    run: Prepared,
    seen: Seen,
    runner: runtime.Runner,
    weights: losses.Weights,
    finished: list[optimize.RunResult],
    callback: Callable[[optimize.Progress], None] | None,
    temporal: Temporal | None,
    tell: Callable[[str], None],
    should_stop: Callable[[], bool] | None,
) -> None:
    """Step 4: :func:`run_scale` for each scale, coarse to fine, each from the one before, its result
    appended to ``finished`` (which the caller keeps should memory run out); a scale that ends early
    ends the run. Ctrl-C raises Interrupted with the best image so far, finished (step 5)."""
    for index in range(len(run.plan.scales)):
        previous = finished[-1].image if finished else None
        try:
            result = run_scale(
                run, seen, runner, weights, index, previous, callback, temporal, tell, should_stop
            )
        except optimize.Interrupted as stop:
            image = finish(run, seen, stop.result.image)
            raise optimize.Interrupted(stop.result, image, run.content.icc_profile) from None
        finished.append(result)
        if result.stopped != "done":
            return


def _out_of_memory(run: Prepared, finished: Sequence[optimize.RunResult]) -> optimize.RunResult:
    """What a run that ran out of memory after ``finished`` scales gives: the last finished scale's
    result, its message saying so; with none finished, :class:`~impasto.errors.OutOfMemory`."""
    release_memory(run.plan.device)
    scales = run.plan.scales
    height, width = scales[min(len(finished), len(scales) - 1)].shape
    where = f"{width}×{height} px"
    if len(scales) > 1:
        where = f"scale {len(finished) + 1}/{len(scales)}, {where}"
    if not finished:
        raise OutOfMemory(f"out of memory on {run.plan.device} at {where}; try a smaller size") from None
    kept_height, kept_width = scales[len(finished) - 1].shape
    return dataclasses.replace(
        finished[-1],
        message=f"out of memory on {run.plan.device} at {where}; kept scale {len(finished)}'s image "
        f"({kept_width}×{kept_height} px), enlarged to the output size; try a smaller size",
    )


@dataclass(frozen=True)
class Seen:
    """The images as the network sees them (step 2, :func:`seen_by_network`), on the run's device."""

    content_full: torch.Tensor  # (1, 3, H, W): the content at the plan's last scale
    content: torch.Tensor  # (1, 3, H, W): what the network sees of it (grey with "luminance")
    styles: list[torch.Tensor]  # each (1, 3, H_s, W_s), at the largest style size of the plan
    content_masks: list[torch.Tensor]  # each (1, 1, H, W)
    style_masks: list[torch.Tensor | None]


def seen_by_network(run: Prepared) -> Seen:
    """Step 2: the content and style images on the device at their largest sizes, with the colour
    preparation of Gatys et al. 2017 applied (``preserve_colors``)."""
    config, schedule, device = run.config, run.plan, run.plan.device
    content_full = images.to_tensor(images.fit(run.content.image, schedule.scales[-1].size)).to(device)
    style_long_side = max(s.style_size for s in schedule.scales)
    styles = [images.to_tensor(images.fit(s.image, style_long_side)).to(device) for s in run.styles]
    content = content_full
    if config.preserve_colors == "histogram":
        styles = [color.match_histogram(s, content_full, config.color_match) for s in styles]
    elif config.preserve_colors == "luminance":
        content_luma = color.luminance(content_full)
        content = color.as_grey_rgb(content_luma)
        styles = [color.as_grey_rgb(color.match_luminance(color.luminance(s), content_luma)) for s in styles]
    return Seen(
        content_full=content_full,
        content=content,
        styles=styles,
        content_masks=[m.to(device) for m in run.content_masks],
        style_masks=[None if m is None else m.to(device) for m in run.style_masks],
    )


def load_network(run: Prepared, weights: losses.Weights, tell: Callable[[str], None]) -> runtime.Runner:
    """Step 3: the frozen network with the layers the losses read, compiled where the plan says a scale
    is (:attr:`~impasto.plan.Scale.compiled`: the one place that decides)."""
    config, schedule = run.config, run.plan
    tell(f"loading the {config.model} weights")
    style_layers = style_layers_read(config, schedule, weights, masks=bool(run.content_masks))
    return network(
        config.model,
        config.weights,
        (*weights.content_layers, *style_layers),
        config.pooling,
        str(schedule.device),
        config.precision,
        "on" if any(scale.compiled for scale in schedule.scales) else "off",
        config.preprocessing,
    )


def style_layers_read(
    config: StyleConfig, schedule: Plan, weights: losses.Weights, masks: bool
) -> tuple[str, ...]:
    """The layers the run's style loss reads at its scales: the kind's own, or those of the kind that
    serves it with masks or on a tiled scale."""
    kinds = {style_kinds.serving(config.style_loss, masks=masks, tiles=s.tiles > 0) for s in schedule.scales}
    read = [style_kinds.make(k, weights.style_layers).reads for k in kinds if k is not None]
    return tuple(dict.fromkeys(name for names in read for name in names))


def run_scale(
    run: Prepared,
    seen: Seen,
    runner: runtime.Runner,
    weights: losses.Weights,
    index: int,
    previous: torch.Tensor | None,
    callback: Callable[[optimize.Progress], None] | None,
    temporal: Temporal | None,
    tell: Callable[[str], None],
    should_stop: Callable[[], bool] | None = None,
) -> optimize.RunResult:
    """Step 4, once per scale: the targets and the start image (``previous``, the last scale's result,
    upsampled; or the first scale's start), then the optimization, of the whole image or tile by tile."""
    config, schedule = run.config, run.plan
    scale = schedule.scales[index]
    content = pyramid.resize(seen.content, scale.shape)
    styles = [pyramid.resize_long_side(s, scale.style_size) for s in seen.styles]
    start = _start_of(run, seen, scale, content, styles, previous, temporal, tell)
    compiling = ", then compiling it (cached for later runs)" if scale.compiled else ""
    tell(f"{_scale_name(schedule, index)}: computing the targets{compiling}")

    def descend(
        start: torch.Tensor, targets: losses.Targets, report: Callable[[optimize.Progress], None] | None
    ) -> optimize.RunResult:
        return descend_in_rounds(
            runner, start, targets, weights, temporal, config, scale, report=report, should_stop=should_stop
        )

    if not scale.tiles:
        regions = [
            (pyramid.resize(mask, scale.shape), _resized_like(s_mask, style))
            for mask, s_mask, style in zip(seen.content_masks, seen.style_masks, styles, strict=False)
        ]
        extractor, kind = runner.extractor, config.style_loss
        targets = make_targets(
            extractor, content, styles, run.blend, weights, regions, kind=kind, seed=config.seed, scale=index
        )
        return descend(start, targets, _reporter(callback, schedule, index))
    # Tiled (core/tiling.py): what the style loss keeps of each painting is gathered tile by tile of it,
    # once; each tile's targets come from the content under it.
    side, kind = scale.tile_side, config.style_loss
    tile_targets = tiled_targets(
        runner.extractor, styles, run.blend, weights, side, kind=kind, seed=config.seed
    )

    def optimize_window(
        tile: int, tiles: int, window: tiling.Tile, tile_start: torch.Tensor
    ) -> optimize.RunResult:
        targets = tile_targets(window.of(content))
        return descend(tile_start, targets, _reporter(callback, schedule, index, tile, tiles))

    return tiling.optimize_tiled(start, scale.tile_side, optimize_window)


def _start_of(
    run: Prepared,
    seen: Seen,
    scale: Scale,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    previous: torch.Tensor | None,
    temporal: Temporal | None,
    tell: Callable[[str], None],
) -> torch.Tensor:
    """A scale's start image (1, 3, H, W): a video frame's own (``temporal``), the first scale's
    (:func:`~impasto.start.initial_image`), or the scale before's result (``previous``) enlarged."""
    if temporal is not None:
        return temporal.init.to(run.plan.device)
    if previous is None:
        masks = [pyramid.resize(mask, scale.shape) for mask in seen.content_masks]
        return initial_image(run.config, content, styles, run.blend, tell, masks, run.start_picture)
    return pyramid.resize(previous, scale.shape)


def _scale_name(schedule: Plan, index: int) -> str:
    """How the run's messages name scale ``index``: "scale 2/3, 362×240 px" ("362×240 px" alone)."""
    height, width = schedule.scales[index].shape
    where = f"{width}×{height} px"
    return f"scale {index + 1}/{len(schedule.scales)}, {where}" if len(schedule.scales) > 1 else where


def descend_in_rounds(
    runner: runtime.Runner,
    start: torch.Tensor,
    targets: losses.Targets,
    weights: losses.Weights,
    temporal: Temporal | None,
    config: StyleConfig,
    scale: Scale,
    *,
    report: Callable[[optimize.Progress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> optimize.RunResult:
    """The scale's iterations of the optimization from ``start`` (1, 3, H, W). A style loss with a fixed
    target runs them in one go; one that re-matches (``rematch_every`` > 0) in rounds of that many, its
    targets made again against the image before each round. L-BFGS starts afresh every round: its
    curvature pairs belong to the objective before."""
    every = targets.loss.rematch_every or scale.iterations
    image, done = start, 0
    while True:
        if targets.loss.rematch_every:
            with torch.no_grad():
                targets = targets.retargeted(runner.extractor(image))
        result = optimize.run(
            image,
            objective(runner, targets, weights, temporal, compiled=scale.compiled),
            min(every, scale.iterations - done),
            optimizer=config.optimizer,
            lr=config.resolved_learning_rate(),
            callback=_counted_from(report, done, scale.iterations),
            should_stop=should_stop,
        )
        image, done = result.image, done + result.iterations
        if done >= scale.iterations or result.stopped != "done":
            return dataclasses.replace(result, iterations=done)


def _counted_from(
    report: Callable[[optimize.Progress], None] | None, before: int, total: int
) -> Callable[[optimize.Progress], None] | None:
    """``report`` hearing a round's iterations as its scale's (``before`` done, ``total`` in all)."""
    if report is None:
        return None
    return lambda progress: report(
        dataclasses.replace(progress, iteration=before + progress.iteration, total=total)
    )


def finish(run: Prepared, seen: Seen, image: torch.Tensor) -> Image.Image:
    """Step 5: the optimized image (1, 3, h, w) at the output size, with the colours asked for."""
    image = pyramid.resize(image, run.plan.scales[-1].shape)
    if run.config.preserve_colors == "luminance":
        image = color.combine_luminance(color.luminance(image), seen.content_full)
    elif run.config.preserve_colors == "histogram":
        # Departure from Gatys et al. 2017, who stop at the recoloured painting: a loss that picks
        # pieces of the painting (nearest, above all) picks them unevenly, and the picture's colours
        # drift towards those pieces' (a quarter of the painting's distance from the photo, 2.3).
        # The picture's chroma is moved to the photo's mean and covariance; its luminance, the
        # painting's strokes, is left as it is.
        image = color.match_chroma(image, seen.content_full)
    return images.to_pil(image)


def _resized_like(mask: torch.Tensor | None, image: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else pyramid.resize(mask, (image.shape[-2], image.shape[-1]))


def _reporter(
    callback: Callable[[optimize.Progress], None] | None,
    schedule: Plan,
    index: int,
    tile: int = 0,
    tile_count: int = 1,
) -> Callable[[optimize.Progress], None] | None:
    """``callback`` told which scale (and tile) it hears from, and the work done over the whole plan."""
    if callback is None:
        return None
    scale = schedule.scales[index]
    final = schedule.scales[-1]
    # An iteration costs about the number of pixels it touches.
    cost = scale.shape[0] * scale.shape[1] / (final.shape[0] * final.shape[1])
    before = schedule.work_before(index)

    def report(progress: optimize.Progress) -> None:
        done_here = (tile + progress.iteration / scale.iterations) / tile_count * scale.iterations
        callback(
            dataclasses.replace(
                progress,
                scale=index + 1,
                scales=len(schedule.scales),
                work_done=before + done_here * cost,
                tile=tile + 1,
                tiles=tile_count,
                work_total=schedule.work_total,
            )
        )

    return report
