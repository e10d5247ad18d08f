"""The public face: :func:`stylize` turns a content and one or more style images into a stylized image.

The pipeline, top to bottom: load the images → (colour preparation) → for each scale, coarse to fine:
targets from the backbone, then optimization from the upsampled previous result → (colour restoration).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from impasto import color, images, losses, optimize, pyramid
from impasto.backbone import FeatureExtractor
from impasto.config import MIN_SIZE, StyleConfig
from impasto.devices import resolve_device
from impasto.errors import ConfigError, ImageError, Interrupted
from impasto.weights import load_params

ImageLike = str | os.PathLike[str] | Image.Image | torch.Tensor
StyleLike = ImageLike | Sequence[ImageLike]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")


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
    **options: Any,
) -> Stylized:
    """Like :func:`stylize`, and also says how the run went (:class:`Stylized`)."""
    config = (config or StyleConfig()).with_options(**options)
    device = resolve_device(config.device)
    on_gpu = device.type != "cpu"

    content_image = _load(content, config.max_pixels, "content")
    style_images = [_load(s, config.max_pixels, "style") for s in expand_styles(style)]
    blend = _blend(config.style_blend, len(style_images))

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

    layer_weights = losses.Weights(
        content=config.content_weight,
        style=config.style_weight,
        tv=config.tv_weight,
        content_layers=_normalized(config.content_layers),
        style_layers=_normalized(config.style_layers),
    )
    entry, params = load_params(config.model, config.weights)
    extractor = FeatureExtractor(
        entry.architecture,
        params,
        entry.preprocessing,
        layers=[*layer_weights.content_layers, *layer_weights.style_layers],
        pooling=config.pooling,
    ).to(device)

    def finish(image: torch.Tensor) -> Image.Image:
        """The optimized image (1, 3, h, w) at the output size, with the colours asked for."""
        image = pyramid.resize(image, (content_full.shape[-2], content_full.shape[-1]))
        if config.preserve_colors == "luminance":
            image = color.combine_luminance(color.luminance(image), content_full)
        return images.to_pil(image)

    iterations = config.resolved_iterations(on_gpu)
    image: torch.Tensor | None = None
    result: optimize.RunResult | None = None
    for index, size in enumerate(sizes):
        content_t = pyramid.resize_long_side(content_in, size)
        styles_t = [pyramid.resize_long_side(s, round(size * config.style_scale)) for s in styles_full]
        targets = make_targets(extractor, content_t, styles_t, blend, layer_weights)
        if image is None:
            start = initial_image(config, content_t, styles_t[0])
        else:
            start = pyramid.resize(image, (content_t.shape[-2], content_t.shape[-1]))

        def objective(
            x: torch.Tensor, targets: losses.Targets = targets
        ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            return losses.objective(x, extractor(x), targets, layer_weights)

        try:
            result = optimize.run(
                start,
                objective,
                iterations,
                optimizer=config.optimizer,
                lr=config.resolved_learning_rate(),
                callback=_per_scale(callback, index, sizes, iterations),
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
    )


def make_targets(
    extractor: FeatureExtractor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    weights: losses.Weights,
) -> losses.Targets:
    """Content features of ``content`` (1, 3, H, W) and the blend of the Gram matrices of ``styles``
    (each (1, 3, H_i, W_i)) by ``blend`` (summing to 1)."""
    with torch.no_grad():
        content_features = extractor(content)
        grams: dict[str, torch.Tensor] = {}
        for style, weight in zip(styles, blend, strict=True):
            features = extractor(style)
            for name in weights.style_layers:
                gram = weight * losses.gram(features[name])  # (1, C, C)
                grams[name] = grams[name] + gram if name in grams else gram
    return losses.Targets(
        content={name: content_features[name] for name in weights.content_layers},
        style=grams,
    )


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
    callback: Callable[[optimize.Progress], None] | None, index: int, sizes: list[int], iterations: int
) -> Callable[[optimize.Progress], None] | None:
    """``callback`` told which scale it hears from, and the work done over all scales."""
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
                work_done=before + progress.iteration * costs[index],
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
