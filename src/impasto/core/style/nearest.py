"""1.1–1.5's default: the deep layers take, at each position, the painting's feature most like the
photo's there; the shallow layers the painting's Gram matrices."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from impasto.core import losses
from impasto.core.style import Features, block
from impasto.core.style.layerwise import Layerwise, blended

# The layers of these blocks and deeper take a nearest-neighbour target; the first two blocks keep the
# painting's Gram matrices. Their features see at most 14 px: colours and fine strokes, too little to
# hold an object, and matching their many positions would cost the most.
FROM_BLOCK = 3


def matched_layer(name: str) -> bool:
    """Whether layer ``name`` takes a nearest-neighbour target ("relu3_1" → block 3: yes)."""
    return block(name) >= FROM_BLOCK


@dataclass(frozen=True)
class Nearest(Layerwise):
    """From block 3 on, a target laid out like the photo: at each position the painting's feature most
    like the photo's there (:func:`losses.nearest_features`), compared by :func:`losses.content_loss`'s
    relative squared error; Gram matrices before block 3.

    Not in Gatys et al. A Gram matrix of a deep layer describes the painting's objects (a face, a hand,
    a figure) as co-occurring features, and the optimization paints them in wherever it can; a target
    laid out like the photo asks for the painting's features only where the photo has something like
    them, so a sky takes the painting's sky and no face appears in it. The idea is Chen & Schmidt's
    style swap (2016) and Kolkin et al.'s nearest-neighbour style transfer (2022), here with
    one-position patches matched once per scale against the photo (not the changing output), so L-BFGS
    sees one fixed objective.
    """

    # Masks: each region takes its style's guided Gram matrices (a region's own painting is matched
    # as a whole). Tiles: the Gram matrices of every layer; tiles come at the large scales, where the
    # look is already made and the painting's objects are larger than the deep layers' view.
    masks: ClassVar[str | None] = "gram"
    tiles: ClassVar[str | None] = "gram"

    def target(
        self, summaries: Sequence[dict[str, torch.Tensor]], blend: Sequence[float], content: Features
    ) -> dict[str, torch.Tensor]:
        """layer → a Gram matrix (1, C, C) before block 3, the matched features (1, C, H', W') from it.
        Several styles: their matched features averaged by the blend weights, position by position."""
        target = {}
        for name in self.layers:
            each = [s[name] for s in summaries]  # (1, C, H_i', W_i') per style
            if matched_layer(name):
                target[name] = blended([losses.nearest_features(content[name], f) for f in each], blend)
            else:
                target[name] = blended([losses.gram(f) for f in each], blend)
        return target

    def layer_distance(
        self, name: str, features: torch.Tensor, target: Any, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if matched_layer(name):
            return losses.content_loss(features, target)
        return losses.style_loss(features, target)
