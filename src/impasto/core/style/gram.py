"""Gatys et al.'s style loss: the painting's Gram matrices at every style layer (1.0's look)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from impasto.core import losses
from impasto.core.style import Features, Masks
from impasto.core.style.layerwise import Layerwise, blended


@dataclass(frozen=True)
class GramSums:
    """A painting's Gram matrices before their division, per layer: Σ (m·F)(m·F)ᵀ (1, C, C) and Σ m²
    (:func:`losses.gram_sums`), so that the tiles of a painting add up to the whole."""

    sums: Mapping[str, torch.Tensor]
    areas: Mapping[str, torch.Tensor | int]

    def grams(self) -> dict[str, torch.Tensor]:
        """layer → the Gram matrix (1, C, C)."""
        return {name: sums / self.areas[name] for name, sums in self.sums.items()}


@dataclass(frozen=True)
class Gram(Layerwise):
    """‖G(F) − G(S)‖² / ‖G(S)‖² at each style layer (:func:`losses.style_loss`). With masks, guided
    Gram matrices of each region (Gatys et al. 2017); on tiles, the painting's sums tile by tile."""

    masks: ClassVar[str | None] = "gram"
    tiles: ClassVar[str | None] = "gram"

    def summarize(self, features: Features, mask: Masks | None = None) -> GramSums:
        return summarize_grams(features, self.layers, mask)

    def merge(self, summaries: Sequence[GramSums]) -> GramSums:
        return merge_gram_sums(summaries)

    def target(
        self, summaries: Sequence[GramSums], blend: Sequence[float], content: Features
    ) -> dict[str, torch.Tensor]:
        each = [s.grams() for s in summaries]
        return {name: blended([g[name] for g in each], blend) for name in self.layers}

    def layer_distance(
        self, name: str, features: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return losses.style_loss(features, target, mask)


def summarize_grams(features: Features, layers: Iterable[str], mask: Masks | None = None) -> GramSums:
    """The Gram sums of ``features`` at ``layers``, in the region ``mask`` weights when given."""
    pairs = {name: losses.gram_sums(features[name], None if mask is None else mask[name]) for name in layers}
    return GramSums({n: s for n, (s, _) in pairs.items()}, {n: a for n, (_, a) in pairs.items()})


def merge_gram_sums(summaries: Sequence[GramSums]) -> GramSums:
    """The pieces of one painting (its tiles) as one: their sums added, in the order given (the order
    of the floating-point sums)."""
    first, *rest = summaries
    sums, areas = dict(first.sums), dict(first.areas)
    for summary in rest:
        for name in sums:
            sums[name] = sums[name] + summary.sums[name]
            areas[name] = areas[name] + summary.areas[name]
    return GramSums(sums, areas)
