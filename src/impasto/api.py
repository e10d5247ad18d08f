"""The public face: :func:`stylize` turns a content and one or more style images into a stylized image.

The pipeline, top to bottom: load the images → (colour preparation) → for each scale, coarse to fine:
targets from the backbone, then optimization from the upsampled previous result → (colour restoration).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from impasto import color, images, losses, optimize, pyramid, runtime, tiles
from impasto.backbone import FeatureExtractor
from impasto.config import MIN_SIZE, MaskLike, StyleConfig
from impasto.devices import resolve_device
from impasto.errors import ConfigError, ImageError, Interrupted
from impasto.weights import load_params_cached

ImageLike = str | os.PathLike[str] | Image.Image | torch.Tensor
StyleLike = ImageLike | Sequence[ImageLike]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


@dataclass(frozen=True)
class Temporal:
    """What a video frame owes the frames before it (Ruder et al. 2016), at the output size.

    init: (1, 3, H, W) the image to start from (the previous stylized frame warped onto this one).
    targets: ((warped previous stylized frame (1, 3, H, W), consistency (1, 1, H, W)), …), closest
    first; each adds weight · mean(c · (x − warped)²) to the objective.
    """

    init: torch.Tensor
    targets: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    weight: float


@dataclass(frozen=True)
class Stylized:
    """A finished stylization: the image and how it was made."""

    image: Image.Image
    icc_profile: bytes | None  # the content image's RGB colour profile, to embed in the output
    result: optimize.RunResult  # how the last scale's optimization ended
    config: StyleConfig
    device: torch.device
    sizes: tuple[int, ...]  # long side of each scale, smallest first
    iterations: int  # iterations asked for at each scale
    tiles: int = 0  # tiles the last scale was optimized in (0: the whole image at once)
    runtime: str = ""  # how the network ran: "bf16, channels-last, compiled"


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
    receives a :class:`~impasto.optimize.Progress` after every iteration.
    Raises :class:`~impasto.errors.ImpastoError` subclasses for bad input, and
    :class:`~impasto.errors.Interrupted` (holding the best image so far) on Ctrl-C.
    """
    return stylize_detailed(content, style, config=config, callback=callback, **options).image


def stylize_detailed(
    content: ImageLike,
    style: StyleLike,
    *,
    config: StyleConfig | None = None,
    callback: Callable[[optimize.Progress], None] | None = None,
    temporal: Temporal | None = None,
    **options: Any,
) -> Stylized:
    """Like :func:`stylize`, and also says how the run went (:class:`Stylized`). ``temporal`` (for
    video frames, see video.py) adds the temporal consistency terms and the start image."""
    config = (config or StyleConfig()).with_options(**options)
    if temporal is not None and config.multiscale:
        raise ConfigError("video frames are optimized at one scale; turn multiscale off")
    device = resolve_device(config.device)
    on_gpu = device.type != "cpu"

    content_image = _load(content, config.max_pixels, "content")
    style_images = [_load(s, config.max_pixels, "style") for s in expand_styles(style)]
    blend = _blend(config.style_blend, len(style_images))
    content_masks, style_masks = _masks(config, len(style_images), device)

    long_side = config.size or max(MIN_SIZE, min(config.resolved_size(on_gpu), max(content_image.image.size)))
    sizes = pyramid.scale_sizes(long_side, config.min_size, config.scale_step) if config.multiscale else []
    sizes = sizes or [long_side]
    content_full = images.to_tensor(images.fit(content_image.image, long_side)).to(device)  # (1, 3, H, W)
    style_long_side = max(MIN_SIZE, round(long_side * config.style_scale))
    styles_full = [
        images.to_tensor(images.fit(s.image, style_long_side)).to(device) for s in style_images
    ]  # each (1, 3, H_s, W_s)

    # Colour preparation (Gatys et al. 2017): what the network sees of content and style.
    content_in = content_full
    if config.preserve_colors == "histogram":
        styles_full = [color.match_histogram(s, content_full, config.color_match) for s in styles_full]
    elif config.preserve_colors == "luminance":
        content_luma = color.luminance(content_full)
        content_in = color.as_grey_rgb(content_luma)
        styles_full = [
            color.as_grey_rgb(color.match_luminance(color.luminance(s), content_luma)) for s in styles_full
        ]

    layer_weights = loss_weights(config)
    runner = _network(
        config.model,
        config.weights,
        (*layer_weights.content_layers, *layer_weights.style_layers),
        config.pooling,
        str(device),
        config.precision,
        config.compile,
    )
    extractor = runner.extractor

    def finish(image: torch.Tensor) -> Image.Image:
        """The optimized image (1, 3, h, w) at the output size, with the colours asked for."""
        image = pyramid.resize(image, (content_full.shape[-2], content_full.shape[-1]))
        if config.preserve_colors == "luminance":
            image = color.combine_luminance(color.luminance(image), content_full)
        return images.to_pil(image)

    iterations = config.resolved_iterations(on_gpu)
    budget = config.max_memory or tiles.available_memory(device)
    image: torch.Tensor | None = None
    result: optimize.RunResult | None = None
    tile_count = 0
    for index, size in enumerate(sizes):
        content_t = pyramid.resize_long_side(content_in, size)
        styles_t = [pyramid.resize_long_side(s, round(size * config.style_scale)) for s in styles_full]
        shape = (content_t.shape[-2], content_t.shape[-1])
        if temporal is not None:
            if temporal.init.shape[-2:] != shape:
                raise ConfigError(f"temporal start image {tuple(temporal.init.shape)} is not {shape}")
            start = temporal.init.to(device)
        elif image is None:
            start = initial_image(config, content_t, styles_t[0])
        else:
            start = pyramid.resize(image, shape)
        fits = shape[0] * shape[1] <= tiles.max_tile_pixels(budget, device)
        try:
            if fits:
                regions = [
                    (pyramid.resize(mask, shape), _resized_like(s_mask, style))
                    for mask, s_mask, style in zip(content_masks, style_masks, styles_t, strict=False)
                ]
                targets = make_targets(extractor, content_t, styles_t, blend, layer_weights, regions)
                result = optimize.run(
                    start,
                    _objective(runner, targets, layer_weights, temporal),
                    iterations,
                    optimizer=config.optimizer,
                    lr=config.resolved_learning_rate(),
                    callback=_per_scale(callback, index, sizes, iterations),
                )
            else:
                if temporal is not None:
                    raise ConfigError(
                        f"video frames of {shape[1]}×{shape[0]} px need tiles: use a smaller --size"
                    )
                if content_masks:
                    raise ConfigError(
                        f"masks work only on images that fit in memory; {shape[1]}×{shape[0]} px needs "
                        "tiles: use a smaller --size or a larger --max-memory"
                    )
                result, tile_count = _optimize_tiled(
                    config,
                    runner,
                    layer_weights,
                    content_t,
                    styles_t,
                    blend,
                    start,
                    budget,
                    device,
                    iterations,
                    functools.partial(_per_scale, callback, index, sizes, iterations),
                )
        except Interrupted as stop:
            raise Interrupted(stop.result, finish(stop.result.image), content_image.icc_profile) from None
        image = result.image
        if result.stopped != "done":
            break
    assert image is not None and result is not None
    return Stylized(
        image=finish(image),
        icc_profile=content_image.icc_profile,
        result=result,
        config=config,
        device=device,
        sizes=tuple(sizes),
        iterations=iterations,
        tiles=tile_count,
        runtime=runner.description,
    )


@functools.lru_cache(maxsize=4)
def _network(
    model: str,
    weights: Path | None,
    layers: tuple[str, ...],
    pooling: str,
    device: str,
    precision: str,
    compile_mode: str,
) -> runtime.Runner:
    """The frozen network for these options, built once per process: video frames, batches and the web
    app's jobs reuse it, and a compiled network (torch.compile) is not compiled again for every call."""
    entry, params = load_params_cached(model, weights)
    where = torch.device(device)
    extractor = FeatureExtractor(entry.architecture, params, entry.preprocessing, layers, pooling).to(where)  # type: ignore[arg-type]
    return runtime.Runner(
        extractor,
        runtime.resolve_precision(precision, where),
        compile=runtime.compile_wanted(compile_mode, where),
    )


def loss_weights(config: StyleConfig) -> losses.Weights:
    """α, β, γ and the per-layer weights of ``config``, each set of layer weights normalized to sum 1."""
    return losses.Weights(
        content=config.content_weight,
        style=config.style_weight,
        tv=config.tv_weight,
        content_layers=_normalized(config.content_layers),
        style_layers=_normalized(config.style_layers),
    )


def _objective(
    runner: runtime.Runner,
    targets: losses.Targets,
    weights: losses.Weights,
    temporal: Temporal | None = None,
) -> optimize.Objective:
    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        total, terms = losses.objective(x, runner(x), targets, weights)
        if temporal is not None and temporal.weight > 0 and temporal.targets:
            term = sum(
                (losses.temporal_loss(x, warped, c) for warped, c in temporal.targets),
                torch.zeros((), device=x.device),
            )
            terms["temporal"] = temporal.weight * term
            total = total + terms["temporal"]
        return total, terms

    return objective


def _resized_like(mask: torch.Tensor | None, image: torch.Tensor) -> torch.Tensor | None:
    return None if mask is None else pyramid.resize(mask, (image.shape[-2], image.shape[-1]))


def _optimize_tiled(
    config: StyleConfig,
    runner: runtime.Runner,
    weights: losses.Weights,
    content: torch.Tensor,
    styles: list[torch.Tensor],
    blend: list[float],
    start: torch.Tensor,
    budget: int,
    device: torch.device,
    iterations: int,
    reporter: Callable[[int, int], Callable[[optimize.Progress], None] | None],
) -> tuple[optimize.RunResult, int]:
    """Optimize ``start`` (1, 3, H, W) in overlapping tiles that fit ``budget`` bytes (see tiles.py).

    Style targets are global: every style's Gram matrices, accumulated tile by tile and blended.
    """
    extractor = runner.extractor
    side = math.isqrt(tiles.max_tile_pixels(budget, device))
    if side < tiles.MIN_TILE:
        raise ConfigError(
            f"{budget / 2**30:.2f} GiB leaves room for tiles of only {side} px (at least "
            f"{tiles.MIN_TILE} needed): allow more memory with --max-memory"
        )
    overlap = tiles.OVERLAP
    layers = list(weights.style_layers)
    grams: dict[str, torch.Tensor] = {}
    for style, share in zip(styles, blend, strict=True):
        for name, gram in tiles.tiled_grams(extractor, style, layers, side, margin=overlap).items():
            grams[name] = grams[name] + share * gram if name in grams else share * gram
    windows = tiles.tiles(content.shape[-2], content.shape[-1], side, overlap)
    outcomes: list[optimize.RunResult] = []

    def optimize_tile(index: int, window: tiles.Tile, tile_start: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            content_features = extractor(window.of(content))
        targets = losses.Targets(
            content={name: content_features[name] for name in weights.content_layers}, style=grams
        )
        del content_features
        outcome = optimize.run(
            tile_start,
            _objective(runner, targets, weights),
            iterations,
            optimizer=config.optimizer,
            lr=config.resolved_learning_rate(),
            callback=reporter(index, len(windows)),
        )
        outcomes.append(outcome)
        return outcome.image

    canvas = tiles.run_tiled(start, windows, overlap, optimize_tile)
    diverged = [o for o in outcomes if o.stopped != "done"]
    last = outcomes[-1]
    return (
        optimize.RunResult(
            image=canvas,
            loss=sum(o.loss for o in outcomes) / len(outcomes),
            iterations=last.iterations,
            stopped="done",
            message=f"{len(diverged)} of {len(windows)} tiles stopped early" if diverged else "",
        ),
        len(windows),
    )


def make_targets(
    extractor: FeatureExtractor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    weights: losses.Weights,
    regions: Sequence[tuple[torch.Tensor, torch.Tensor | None]] = (),
) -> losses.Targets:
    """Content features of ``content`` (1, 3, H, W) and the style targets of ``styles`` (each
    (1, 3, H_i, W_i)): their Gram matrices blended by ``blend`` (summing to 1) — or, with ``regions``
    (one (content mask (1, 1, H, W), style mask (1, 1, H_i, W_i) or None) per style), each style's
    guided Gram matrices for its own region of the output."""
    with torch.no_grad():
        content_features = extractor(content)
        style_features = [extractor(style) for style in styles]
    content_targets = {name: content_features[name] for name in weights.content_layers}
    if regions:
        return losses.Targets(
            content=content_targets,
            style={},
            regions=tuple(
                _region(mask, style_mask, features, content_features, weights)
                for (mask, style_mask), features in zip(regions, style_features, strict=True)
            ),
        )
    grams: dict[str, torch.Tensor] = {}
    for features, share in zip(style_features, blend, strict=True):
        for name in weights.style_layers:
            gram = share * losses.gram(features[name])  # (1, C, C)
            grams[name] = grams[name] + gram if name in grams else gram
    return losses.Targets(content=content_targets, style=grams)


def _region(
    mask: torch.Tensor,
    style_mask: torch.Tensor | None,
    style_features: dict[str, torch.Tensor],
    content_features: dict[str, torch.Tensor],
    weights: losses.Weights,
) -> losses.Region:
    """A style's region: its mask at each style layer's resolution and its (guided) Gram targets."""

    def at(m: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        # Averaging, like the poolings between the layers: (1, 1, H, W) → (1, 1, H', W').
        return F.interpolate(m, size=features.shape[-2:], mode="area")

    grams = {
        name: losses.gram(style_features[name])
        if style_mask is None
        else losses.guided_gram(style_features[name], at(style_mask, style_features[name]))
        for name in weights.style_layers
    }
    masks = {name: at(mask, content_features[name]) for name in weights.style_layers}
    return losses.Region(masks=masks, grams=grams, weight=float(mask.mean()))


def _masks(
    config: StyleConfig, styles: int, device: torch.device
) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """The content masks (one per style, each (1, 1, H, W) in [0, 1]) and style masks (or Nones)."""
    content = [_load_mask(m, config.max_pixels, "content mask").to(device) for m in config.content_masks]
    if len(content) == 1 and styles == 2:
        content.append(1 - content[0])  # one mask for two styles: the second takes the rest
    if content and len(content) != styles:
        raise ConfigError(
            f"{len(config.content_masks)} content masks for {styles} style images: give one per style "
            "(or one for two styles)"
        )
    style: list[torch.Tensor | None] = [
        _load_mask(m, config.max_pixels, "style mask").to(device) for m in config.style_masks
    ]
    if style and len(style) != styles:
        raise ConfigError(f"{len(style)} style masks for {styles} style images: give one per style")
    if style and not content:
        raise ConfigError("style masks need content masks: which part of the output takes which style?")
    return content, style or [None] * len(content)


def _load_mask(source: MaskLike, max_pixels: int, what: str) -> torch.Tensor:
    """A mask image → (1, 1, H, W) in [0, 1] (its luminance; white = inside)."""
    loaded = _load(source, max_pixels, what)
    grey = np.asarray(loaded.image.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    return torch.from_numpy(grey)[None, None]


def initial_image(config: StyleConfig, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The image the optimization starts from, (1, 3, H, W) like ``content``."""
    if config.init == "content":
        return content.clone()
    if config.init == "noise":
        generator = torch.Generator().manual_seed(config.seed)
        # White noise, uniform over the pixel range, as in Gatys et al.
        return torch.rand(content.shape, generator=generator).to(content.device)
    if config.init == "style":
        picture = style
    else:
        loaded = images.load(config.init, config.max_pixels)
        picture = images.to_tensor(loaded.image).to(content.device)
    return pyramid.resize(picture, (content.shape[-2], content.shape[-1]))


def expand_styles(style: StyleLike) -> list[ImageLike]:
    """One style, a list of styles, or a folder (every image in it, sorted by name) → a list."""
    items: list[ImageLike]
    if isinstance(style, str | os.PathLike | Image.Image | torch.Tensor):
        items = [style]
    else:
        items = list(style)
    expanded: list[ImageLike] = []
    for item in items:
        if isinstance(item, str | os.PathLike) and Path(item).is_dir():
            found = sorted(p for p in Path(item).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"{item}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            expanded.extend(found)
        else:
            expanded.append(item)
    if not expanded:
        raise ImageError("no style image given")
    return expanded


def _blend(weights: tuple[float, ...] | None, count: int) -> list[float]:
    if weights is None:
        return [1.0 / count] * count
    if len(weights) != count:
        raise ConfigError(f"style_blend has {len(weights)} weights for {count} style images")
    total = sum(weights)
    return [w / total for w in weights]


def _per_scale(
    callback: Callable[[optimize.Progress], None] | None,
    index: int,
    sizes: list[int],
    iterations: int,
    tile: int = 0,
    tile_count: int = 1,
) -> Callable[[optimize.Progress], None] | None:
    """``callback`` told which scale (and tile) it hears from, and the work done over all scales."""
    if callback is None:
        return None
    # An iteration costs about the number of pixels it touches: (size / final size)² of a final one.
    costs = [(size / sizes[-1]) ** 2 for size in sizes]
    before = iterations * sum(costs[:index])

    def report(progress: optimize.Progress) -> None:
        callback(
            dataclasses.replace(
                progress,
                scale=index + 1,
                scales=len(sizes),
                work_done=before
                + (tile + progress.iteration / iterations) / tile_count * iterations * costs[index],
                tile=tile + 1,
                tiles=tile_count,
                work_total=iterations * sum(costs),
            )
        )

    return report


def _load(source: ImageLike, max_pixels: int, what: str) -> images.LoadedImage:
    if isinstance(source, Image.Image):
        return images.from_pil(source)
    if isinstance(source, torch.Tensor):
        try:
            return images.LoadedImage(images.to_pil(source), None)
        except ValueError as error:
            raise ImageError(f"{what} tensor: {error}") from None
    if isinstance(source, str | os.PathLike):
        return images.load(source, max_pixels)
    raise ImageError(f"{what}: expected a path, a PIL image or a tensor, got {type(source).__name__}")


def _normalized(layers: tuple[tuple[str, float], ...]) -> dict[str, float]:
    total = sum(weight for _, weight in layers)
    return {name: weight / total for name, weight in layers if weight > 0}
