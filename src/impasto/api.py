"""The public face: :func:`stylize` turns a content and a style image into a stylized PIL image."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from impasto import images, losses, optimize
from impasto.backbone import FeatureExtractor
from impasto.config import MIN_SIZE, StyleConfig
from impasto.devices import resolve_device
from impasto.errors import ImageError, Interrupted
from impasto.weights import load_params

ImageLike = str | os.PathLike[str] | Image.Image | torch.Tensor


@dataclass(frozen=True)
class Stylized:
    """A finished stylization: the image and how it was made."""

    image: Image.Image
    icc_profile: bytes | None  # the content image's RGB colour profile, to embed in the output
    result: optimize.RunResult  # how the optimization ended (stopped, message, loss, iterations)
    config: StyleConfig
    device: torch.device
    iterations: int  # iterations asked for (resolved from the config and the device)


def stylize(
    content: ImageLike,
    style: ImageLike,
    *,
    config: StyleConfig | None = None,
    callback: Callable[[optimize.Progress], None] | None = None,
    **options: Any,
) -> Image.Image:
    """Render ``content`` in the style of ``style`` (Gatys et al.) and return the image.

    ``content`` and ``style`` are paths, PIL images, or tensors (3, H, W) / (1, 3, H, W) in [0, 1].
    ``options`` are fields of :class:`StyleConfig` (``size``, ``style_weight``, …) and override
    ``config``. ``callback`` receives a :class:`~impasto.optimize.Progress` after every iteration.
    Raises :class:`~impasto.errors.ImpastoError` subclasses for bad input, and
    :class:`~impasto.errors.Interrupted` (holding the best image so far) on Ctrl-C.
    """
    return stylize_detailed(content, style, config=config, callback=callback, **options).image


def stylize_detailed(
    content: ImageLike,
    style: ImageLike,
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
    style_image = _load(style, config.max_pixels, "style")
    long_side = config.size or max(MIN_SIZE, min(config.resolved_size(on_gpu), max(content_image.image.size)))
    content_pil = images.fit(content_image.image, long_side)
    # The style image is resized relative to the output, so its strokes keep their scale in it.
    style_pil = images.fit(style_image.image, long_side)
    content_t = images.to_tensor(content_pil).to(device)  # (1, 3, H, W)
    style_t = images.to_tensor(style_pil).to(device)  # (1, 3, H_s, W_s)

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

    with torch.no_grad():
        content_features = extractor(content_t)
        style_features = extractor(style_t)
        targets = losses.Targets(
            content={name: content_features[name] for name in layer_weights.content_layers},
            style={name: losses.gram(style_features[name]) for name in layer_weights.style_layers},
        )
    del content_features, style_features

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return losses.objective(x, extractor(x), targets, layer_weights)

    init = _initial_image(config, content_t, style_t)
    iterations = config.resolved_iterations(on_gpu)
    try:
        result = optimize.run(
            init,
            objective,
            iterations,
            optimizer=config.optimizer,
            lr=config.resolved_learning_rate(),
            callback=callback,
        )
    except Interrupted as interrupted:
        best = images.to_pil(interrupted.result.image)
        raise Interrupted(interrupted.result, best, content_image.icc_profile) from None
    return Stylized(
        image=images.to_pil(result.image),
        icc_profile=content_image.icc_profile,
        result=result,
        config=config,
        device=device,
        iterations=iterations,
    )


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


def _initial_image(config: StyleConfig, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """The image the optimization starts from, (1, 3, H, W) like ``content``."""
    height, width = content.shape[-2:]
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
    return torch.nn.functional.interpolate(
        picture, size=(height, width), mode="bicubic", antialias=True, align_corners=False
    ).clamp(0, 1)
