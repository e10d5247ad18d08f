"""Step 1 of a run: its inputs read and checked, and its plan made (:func:`prepare`) — the options,
the photo and the paintings (through the one loader, io/images.py), the masks, the start image a file
names — every check that can fail, before any work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from impasto.choices import INIT_CHOICES
from impasto.config import MaskLike, StyleConfig
from impasto.core.devices import resolve_device
from impasto.errors import ConfigError, ImageError
from impasto.io import images
from impasto.plan import Plan, check_style_shape, make_plan

ImageLike = str | os.PathLike[str] | Image.Image | torch.Tensor


StyleLike = ImageLike | Sequence[ImageLike]


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
class Prepared:
    """A run ready to go: its options, loaded images and validated plan (see :func:`prepare`)."""

    config: StyleConfig
    content: images.LoadedImage
    styles: list[images.LoadedImage]
    blend: list[float]
    content_masks: list[torch.Tensor]  # one per style, each (1, 1, H, W) in [0, 1]; empty: no masks
    style_masks: list[torch.Tensor | None]
    plan: Plan
    start_picture: images.LoadedImage | None = None  # the image file ``init`` names, if it names one


def prepare(
    content: ImageLike,
    style: StyleLike,
    *,
    config: StyleConfig | None = None,
    temporal: Temporal | None = None,
    **options: Any,
) -> Prepared:
    """Step 1: load the images and make the run's plan, validating everything that can fail before the
    first iteration (``impasto --dry-run`` prints ``prepare(...).plan.describe()``)."""
    config = config or StyleConfig()
    if options:  # validated once: a given config already was, when it was made
        config = config.with_options(**options)
    device = resolve_device(config.device)
    content_image = _load(content, config, "content")
    style_images = [_load(s, config, "style") for s in expand_styles(style)]
    blend = _blend(config.style_blend, len(style_images))
    content_masks, style_masks = _masks(config, len(style_images))
    width, height = content_image.image.size
    schedule = make_plan(
        config, (height, width), device, masks=bool(config.content_masks), video_frame=temporal is not None
    )
    smallest = min(scale.style_size for scale in schedule.scales)
    for style_image in style_images:
        check_style_shape((style_image.image.height, style_image.image.width), smallest)
    if temporal is not None and temporal.init.shape[-2:] != schedule.scales[-1].shape:
        raise ConfigError(
            f"temporal start image {tuple(temporal.init.shape)} is not {schedule.scales[-1].shape}"
        )
    start_picture = None if config.init in INIT_CHOICES else _load(config.init, config, "start image")
    return Prepared(
        config, content_image, style_images, blend, content_masks, style_masks, schedule, start_picture
    )


def _masks(config: StyleConfig, styles: int) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """The content masks (one per style, each (1, 1, H, W) in [0, 1]) and style masks (or Nones)."""
    content = [_load_mask(m, config, "content mask") for m in config.content_masks]
    if len(content) == 1 and styles == 2:
        content.append(1 - content[0])  # one mask for two styles: the second takes the rest
    if content and len(content) != styles:
        raise ConfigError(
            f"{len(config.content_masks)} content masks for {styles} style images: give one per style "
            "(or one for two styles)"
        )
    style: list[torch.Tensor | None] = [_load_mask(m, config, "style mask") for m in config.style_masks]
    if style and len(style) != styles:
        raise ConfigError(f"{len(style)} style masks for {styles} style images: give one per style")
    if style and not content:
        raise ConfigError("style masks need content masks: which part of the output takes which style?")
    return content, style or [None] * len(content)


def _load_mask(source: MaskLike, config: StyleConfig, what: str) -> torch.Tensor:
    """A mask image → (1, 1, H, W) in [0, 1] (its luminance; white = inside)."""
    loaded = _load(source, config, what)
    grey = np.asarray(loaded.image.convert("L"), dtype=np.float32) / 255.0  # (H, W)
    return torch.from_numpy(grey)[None, None]


def expand_styles(style: StyleLike) -> list[ImageLike]:
    """One style, a list of styles, or a folder (every image in it, sorted by name) → a list."""
    listed = [style] if isinstance(style, str | os.PathLike | Image.Image | torch.Tensor) else list(style)
    expanded: list[ImageLike] = [
        found
        for item in listed
        for found in ([item] if isinstance(item, torch.Tensor) else images.expand(item, "style image"))
    ]
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


def _load(source: ImageLike, config: StyleConfig, what: str) -> images.LoadedImage:
    if isinstance(source, Image.Image):
        return images.from_pil(source)
    if isinstance(source, torch.Tensor):
        try:
            return images.LoadedImage(images.to_pil(source), None)
        except ValueError as error:
            raise ImageError(f"{what} tensor: {error}") from None
    if isinstance(source, str | os.PathLike):
        return images.load(source, config.max_pixels, config.max_memory)
    raise ImageError(f"{what}: expected a path, a PIL image or a tensor, got {type(source).__name__}")
