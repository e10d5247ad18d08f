"""The targets of one scale: what the optimization pulls the image towards, computed once from the
photo and the paintings as the network sees them (the plain network, in fp32), through the style
loss's protocol (core/style/): the photo's content features, and the style loss's target for the
paintings, blended; for each region of the photo its own painting's, with masks; for a tiled scale,
what the kind keeps of each painting gathered tile by tile, and a tile's targets from the photo
under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from impasto.core import losses, tiling
from impasto.core import style as style_kinds
from impasto.core.backbone import FeatureExtractor
from impasto.errors import ConfigError


def make_targets(
    extractor: FeatureExtractor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    weights: losses.Weights,
    regions: Sequence[tuple[torch.Tensor, torch.Tensor | None]] = (),
    *,
    kind: str = "gram",
    seed: int = 0,
    scale: int = 0,
) -> losses.Targets:
    """Content features of ``content`` (1, 3, H, W) and the targets of the style loss ``kind`` (a name
    of :data:`impasto.core.style.KINDS`, ``seed`` what it draws, ``scale`` the run's scale it serves)
    for ``styles`` (each (1, 3, H_i, W_i)),
    blended by ``blend`` (summing to 1). With ``regions`` (one (content mask (1, 1, H, W), style mask
    (1, 1, H_i, W_i) or None) per style), each style's target for its own region of the output, from its
    own region of the painting, by the kind that serves ``kind`` with masks.

    ``extractor`` is the plain network, in fp32 whatever precision the optimization runs at: targets
    are computed once, so full precision costs nothing, and they are then the truest picture of the
    content and the styles; the optimization compares its own (perhaps bf16) features with them, and
    what rounding adds there is noise it cannot remove either way."""
    served = style_kinds.serving(kind, masks=bool(regions))
    if served is None:  # the plan refuses this before any work; a library caller may still ask
        accepted = style_kinds.accepting("masks")
        raise ConfigError(f"masks work with --style-loss {accepted} only, not {kind}")
    loss = style_kinds.make(served, weights.style_layers, seed, scale)
    with torch.no_grad():
        content_features = extractor(content)
    content_target = {name: content_features[name] for name in weights.content_layers}
    if not regions:
        summaries = [summarize_painting(loss, extractor, image) for image in styles]
        return losses.Targets(content_target, loss, style=loss.target(summaries, blend, content_features))
    parts = []
    for (mask, style_mask), image in zip(regions, styles, strict=True):
        summary = summarize_painting(loss, extractor, image, style_mask)
        parts.append(
            losses.Region(
                masks=_at_layers(mask, content_features, loss.reads),
                target=loss.target([summary], [1.0], content_features),
                weight=float(mask.mean()),
            )
        )
    return losses.Targets(content_target, loss, regions=tuple(parts))


def summarize_painting(
    loss: style_kinds.StyleLoss,
    extractor: FeatureExtractor,
    image: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> Any:
    """What ``loss`` keeps of the painting ``image`` (1, 3, H, W), in the region ``mask`` (1, 1, H, W)
    when given."""
    with torch.no_grad():
        features = extractor(image)
    return loss.summarize(features, None if mask is None else _at_layers(mask, features, loss.reads))


def tiled_targets(
    extractor: FeatureExtractor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    weights: losses.Weights,
    tile_side: int,
    *,
    kind: str = "gram",
    seed: int = 0,
) -> Callable[[torch.Tensor], losses.Targets]:
    """For a tiled scale: what the kind that serves ``kind`` on tiles keeps of each painting (each
    (1, 3, H_i, W_i)), gathered tile by tile of it (:func:`tiling.tiled_features`); returns the targets
    of one tile of the output from the content (1, 3, h, w) under it."""
    served = style_kinds.serving(kind, tiles=True)
    if served is None:  # the plan refuses this before any work
        raise ConfigError(f"--style-loss {kind} works only on images that fit in memory")
    loss = style_kinds.make(served, weights.style_layers, seed)
    summaries = [
        loss.merge([loss.summarize(tile) for tile in tiling.tiled_features(extractor, image, tile_side)])
        for image in styles
    ]

    def targets(content: torch.Tensor) -> losses.Targets:
        with torch.no_grad():
            features = extractor(content)
        content_target = {name: features[name] for name in weights.content_layers}
        return losses.Targets(content_target, loss, style=loss.target(summaries, blend, features))

    return targets


def _at_layers(
    mask: torch.Tensor, features: dict[str, torch.Tensor], layers: Iterable[str]
) -> dict[str, torch.Tensor]:
    """A mask (1, 1, H, W) at the resolution of each of ``layers``' ``features``, by averaging, like
    the poolings between the layers."""
    return {name: F.interpolate(mask, size=features[name].shape[-2:], mode="area") for name in layers}
