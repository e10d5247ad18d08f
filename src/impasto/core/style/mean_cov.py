"""The Gaussian 2-Wasserstein distance at every style layer: means and covariances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from impasto.core import losses
from impasto.core.style import Features
from impasto.core.style.layerwise import Layerwise


@dataclass(frozen=True)
class MeanCov(Layerwise):
    """:func:`losses.mean_cov_loss` at each style layer, against the Gaussian of the paintings' features
    (several blended as a mixture). Not in Gatys et al.: it matches means and covariances where a Gram
    matrix mixes the two (Kolkin et al. 2019 and others). No masks, no tiles."""

    def target(
        self, summaries: Sequence[dict[str, torch.Tensor]], blend: Sequence[float], content: Features
    ) -> dict[str, losses.MeanCov]:
        return {name: losses.mean_cov([s[name] for s in summaries], blend) for name in self.layers}

    def layer_distance(
        self, name: str, features: torch.Tensor, target: losses.MeanCov, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return losses.mean_cov_loss(features, target)
