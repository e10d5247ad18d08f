"""What the kinds that compare one layer at a time share: the weighted sum over layers, region by
region, and a summary that is the painting's feature maps themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from impasto.core.losses import Region
from impasto.core.style import Features, Masks


@dataclass(frozen=True)
class Layerwise:
    """A style loss Σ_l w_l d_l(F_l, T_l): ``layer_distance`` gives d_l, the subclass its target T_l.

    Without masks or tiles of its own (a subclass declares them), with a fixed target. Its summary of
    a painting is its feature maps at the style layers: layer → (1, C, H', W').
    """

    layers: Mapping[str, float]  # layer → weight, summing to 1
    seed: int = 0
    scale: int = 0  # the run's scale it serves: a layerwise kind is the same at every one

    masks: ClassVar[str | None] = None
    tiles: ClassVar[str | None] = None
    rematch_every: ClassVar[int] = 0

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(self.layers)

    def layer_distance(
        self, name: str, features: torch.Tensor, target: Any, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """d_l: the relative distance of one layer's ``features`` (1, C, H', W') from its ``target``,
        in the region ``mask`` (1, 1, H', W') weights when given → scalar."""
        raise NotImplementedError

    def summarize(self, features: Features, mask: Masks | None = None) -> Any:
        if mask is not None:
            raise ValueError(
                f"{type(self).__name__} takes no masks (its attribute masks names the kind that does)"
            )
        return {name: features[name] for name in self.layers}

    def merge(self, summaries: Sequence[Any]) -> Any:
        """The pieces' positions side by side: layer → (1, C, 1, Σ n_i)."""
        return {
            name: torch.cat([s[name].flatten(2) for s in summaries], dim=2)[:, :, None]
            for name in self.layers
        }

    def retarget(self, target: Any, features: Features, mask: Masks | None = None) -> Any:
        return target

    def distance(self, features: Features, target: Mapping[str, Any]) -> torch.Tensor:
        return _summed(
            {name: self.layer_distance(name, features[name], target[name]) for name in self.layers},
            self.layers,
        )

    def region_distance(self, features: Features, regions: Sequence[Region]) -> torch.Tensor:
        """Σ_l w_l Σ_r share_r d_l(F_l, T_r,l) in the region's mask (a region's share of the image keeps
        the term's scale)."""
        zero = _zero(features)
        return _summed(
            {
                name: sum(
                    (
                        r.weight * self.layer_distance(name, features[name], r.target[name], r.masks[name])
                        for r in regions
                    ),
                    zero,
                )
                for name in self.layers
            },
            self.layers,
        )


def _zero(tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """A scalar 0 on the device of ``tensors`` (layer → tensor)."""
    return torch.zeros((), device=next(iter(tensors.values())).device)


def _summed(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> torch.Tensor:
    """Σ_l w_l term_l, in the layers' order (the order fixes the floating-point sum)."""
    return sum((w * terms[name] for name, w in weights.items()), _zero(terms))


def blended(tensors: Sequence[torch.Tensor], blend: Sequence[float]) -> torch.Tensor:
    """Σ share · tensor, in the order given."""
    return sum((share * t for t, share in zip(tensors, blend, strict=True)), torch.zeros_like(tensors[0]))
