"""The sliced 2-Wasserstein distance at every style layer: the whole distribution of the features."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from impasto.core import losses
from impasto.core.style import Features
from impasto.core.style.layerwise import Layerwise


@dataclass(frozen=True)
class SlicedWasserstein(Layerwise):
    """:func:`losses.sliced_wasserstein_loss` at each style layer (Heitz et al. 2021), along as many
    random directions as channels (as Heitz et al.), drawn from the run's seed and the layer's place,
    the same at every scale of a run. No masks, no tiles."""

    def target(
        self, summaries: Sequence[dict[str, torch.Tensor]], blend: Sequence[float], content: Features
    ) -> dict[str, losses.Sliced]:
        target = {}
        for index, name in enumerate(self.layers):
            each = [s[name] for s in summaries]  # (1, C, H_i', W_i') per style
            channels = each[0].shape[1]
            directions = losses.random_directions(channels, channels, self.seed + index).to(each[0].device)
            target[name] = losses.sliced(each, directions, blend)
        return target

    def layer_distance(
        self, name: str, features: torch.Tensor, target: losses.Sliced, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return losses.sliced_wasserstein_loss(features, target)
