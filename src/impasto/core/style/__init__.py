"""The kinds of style loss, each one class behind the protocol :class:`StyleLoss`, and the registry
that names them.

A kind says what it keeps of a painting and how far an image is from that, in five steps:

1. ``summarize(features, mask)``: what it keeps of one painting, or of one tile of it (Gram sums,
   the feature maps themselves…); ``mask`` (layer → (1, 1, H', W')) keeps a region of it.
2. ``merge(summaries)``: the tiles of one painting as one summary, as if it had been seen whole.
3. ``target(summaries, blend, content)``: the target for the output from every painting's summary,
   blended by ``blend`` (summing to 1), and the photo's features (which a nearest-neighbour kind
   matches against).
4. ``distance(features, target)`` and ``region_distance(features, regions)``: a scalar, the relative
   distance of an image's features from the target, over the whole image or region by region.
5. ``retarget(target, features, mask)``: the target made again against the image being optimized.
   A kind whose target is fixed returns it unchanged and has ``rematch_every`` 0; one that re-matches
   says every how many iterations, and the pipeline runs a scale in rounds of that many, calling
   ``retarget`` with the current image's features before each round (``pipeline.descend_in_rounds``).

Masks and tiles are declared by each kind in one place, its class attributes ``masks`` and ``tiles``:
the name of the kind whose targets serve a masked (tiled) run — its own, another's — or None where it
refuses them. :func:`serving` reads them; the plan refuses what they refuse before any work.

Features are ``layer → (1, C, H', W')``. This module imports nothing heavy: the command line, the web
form and the options' validation read :data:`NAMES` without loading torch; a kind's module is imported
when it is first made.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

if TYPE_CHECKING:
    import torch

    from impasto.core.losses import Region

Features = Mapping[str, "torch.Tensor"]  # layer → (1, C, H', W')
Masks = Mapping[str, "torch.Tensor"]  # layer → (1, 1, H', W') in [0, 1]

# name → "module:Class" under impasto.core.style: the one list of kinds (CLI, web form, config).
KINDS: dict[str, str] = {
    "gram": "gram:Gram",
    "nearest": "nearest:Nearest",
    "mean-cov": "mean_cov:MeanCov",
    "sliced-wasserstein": "sliced:SlicedWasserstein",
    "neighbours": "neighbours:Neighbours",
}
NAMES: tuple[str, ...] = tuple(KINDS)


class StyleLoss(Protocol):
    """What every kind of style loss does (the module's docstring tells each step)."""

    masks: ClassVar[str | None]  # the kind that serves a masked run (None: refused)
    tiles: ClassVar[str | None]  # the kind that serves a tiled scale (None: refused)

    @property
    def layers(self) -> Mapping[str, float]:
        """The run's style layers → weight, summing to 1."""

    @property
    def scale(self) -> int:
        """The run's scale it serves (0: the first)."""

    @property
    def reads(self) -> tuple[str, ...]:
        """The layers whose features the kind reads (the network is cut after the deepest)."""

    @property
    def rematch_every(self) -> int:
        """Iterations between calls of retarget (0: the target is fixed)."""

    def summarize(self, features: Features, mask: Masks | None = None) -> Any: ...
    def merge(self, summaries: Sequence[Any]) -> Any: ...
    def target(self, summaries: Sequence[Any], blend: Sequence[float], content: Features) -> Any: ...
    def retarget(self, target: Any, features: Features, mask: Masks | None = None) -> Any: ...
    def distance(self, features: Features, target: Any) -> torch.Tensor: ...
    def region_distance(self, features: Features, regions: Sequence[Region]) -> torch.Tensor: ...


def block(layer: str) -> int:
    """The VGG block of a layer: "relu3_1" → 3 (0 for a name without one)."""
    found = re.match(r"[a-z]+(\d+)_", layer)
    return int(found.group(1)) if found else 0


def kind(name: str) -> type[StyleLoss]:
    """The class of the kind ``name`` (a key of :data:`KINDS`), its module imported on first use."""
    if name not in KINDS:
        raise ValueError(f"no style loss {name!r}; the kinds are {', '.join(NAMES)}")
    module, _, cls = KINDS[name].partition(":")
    found: type[StyleLoss] = getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    return found


def make(name: str, layers: Mapping[str, float], seed: int = 0, scale: int = 0) -> StyleLoss:
    """The style loss ``name`` over ``layers`` (name → weight, summing to 1); ``seed`` draws whatever
    the kind draws at random (the same at every scale of a run); ``scale``: the run's scale it serves
    (0: the first; a kind may refine differently once the first has made the picture)."""
    return kind(name)(dict(layers), seed, scale=scale)  # type: ignore[call-arg]


def serving(name: str, *, masks: bool = False, tiles: bool = False) -> str | None:
    """The kind whose targets serve a run of ``name`` with masks and/or on tiles (None: refused)."""
    served: str | None = name
    for asked, attribute in ((masks, "masks"), (tiles, "tiles")):
        if asked and served is not None:
            served = getattr(kind(served), attribute)
    return served


def accepting(what: Literal["masks", "tiles"]) -> str:
    """The kinds that take masks (tiles), for the messages that refuse the others ("a, b or c")."""
    names = [name for name in NAMES if getattr(kind(name), what) is not None]
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 2 else names)
