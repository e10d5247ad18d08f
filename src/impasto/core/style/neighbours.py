"""2.0's look: each place of the image pulled towards the painting's hypercolumn most like it, matched
again as the image changes (after Kolkin et al. 2022, Neural Neighbor Style Transfer)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from impasto.core import losses
from impasto.core.backbone import INPUT
from impasto.core.style import Features, Masks, block
from impasto.core.style.gram import GramSums, merge_gram_sums, summarize_grams
from impasto.core.style.layerwise import blended

# The layers of a hypercolumn: every ReLU of the Caffe VGG-19 up to relu4_3 (Kolkin et al. use these
# and relu5's too; relu5 adds object parts, which is what this kind keeps out).
HYPERCOLUMN = (
    "relu1_1",
    "relu1_2",
    "relu2_1",
    "relu2_2",
    "relu3_1",
    "relu3_2",
    "relu3_3",
    "relu4_1",
    "relu4_2",
    "relu4_3",
)
GRID_LAYER = "relu3_1"  # the hypercolumns' grid: a quarter of the image's side
GRAM_BEFORE_BLOCK = 4  # the run's style layers before relu4 keep Gram matrices (colours, strokes)
MAX_BANK = 2**14  # the painting's hypercolumns kept (a random subset beyond): memory and matching time
MATCH_DIMS = 256  # matching compares random projections of the hypercolumns (2688 numbers) to this many


def columns(features: Features, shape: tuple[int, int], places: torch.Tensor | None = None) -> torch.Tensor:
    """Hypercolumns as rows → (n, D), D = 2688: each layer of :data:`HYPERCOLUMN` resampled to the grid
    ``shape`` and divided by its channel count (so that no layer's size outweighs the others), at the
    grid's ``places`` (flat indices; all h·w, row by row, without). A layer at a time: the whole
    (h·w, D) stack is never made when only some places are asked for."""
    kept = []
    for part in resampled(features, shape):
        flat = part[0].flatten(1)  # (C_l, h·w)
        kept.append((flat if places is None else flat[:, places]).T / part.shape[1])
    return torch.cat(kept, dim=1)


def resampled(
    features: Features, shape: tuple[int, int], layers: Sequence[str] = HYPERCOLUMN
) -> list[torch.Tensor]:
    """Each of ``layers`` on the grid ``shape`` → (1, C_l, h, w): the larger layers
    averaged over the pixels each grid cell covers (a hypercolumn then sees the strokes around its
    place, where Kolkin et al. sample one pixel bilinearly), the smaller ones enlarged (nearest: each
    relu4 feature, which sees ~90 px, fills the 2 × 2 cells under it; bilinear's backward pass costs
    several times more on a CPU)."""
    out = []
    for name in layers:
        f = features[name]
        height, width = f.shape[-2:]
        if (height, width) == shape:
            pass
        elif height % shape[0] == 0 and width % shape[1] == 0 and height // shape[0] == width // shape[1]:
            f = F.avg_pool2d(f, height // shape[0])  # VGG's poolings halve: an exact factor, the usual case
        elif height >= shape[0] and width >= shape[1]:
            f = F.adaptive_avg_pool2d(f, shape)
        else:
            f = F.interpolate(f, size=shape, mode="nearest-exact")
        out.append(f)
    return out


def _subset(rows: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """(n, …) → (min(n, count), …): all the rows, or a random subset of them drawn from ``seed``."""
    if rows.shape[0] <= count:
        return rows
    keep = torch.randperm(rows.shape[0], generator=torch.Generator().manual_seed(seed))[:count]
    return rows[keep.to(rows.device)]


def _projected(features: Features, grid: tuple[int, int], projection: torch.Tensor) -> torch.Tensor:
    """The hypercolumns on ``grid`` times ``projection`` (D, d) → (h·w, d), a layer at a time."""
    total, start = torch.zeros(grid[0] * grid[1], projection.shape[1], device=projection.device), 0
    for part in resampled(features, grid):
        channels = part.shape[1]
        total = total + (part[0].flatten(1).T / channels) @ projection[start : start + channels]
        start += channels
    return total


def _grid(features: Features) -> tuple[int, int]:
    height, width = features[GRID_LAYER].shape[-2:]
    return height, width


@dataclass(frozen=True)
class Colours:
    """The mean (3,) and covariance (3, 3) of a painting's pixels (as the network sees them) over
    ``area`` (positions, or the mask's sum), so that pieces of a painting pool to the whole."""

    mean: torch.Tensor
    cov: torch.Tensor
    area: float


def summarize_colours(pixels: torch.Tensor, mask: torch.Tensor | None = None) -> Colours:
    """pixels (1, 3, H, W), mask (1, 1, H, W) or None → their :class:`Colours`."""
    area = float(pixels.shape[-2] * pixels.shape[-1] if mask is None else mask.sum())
    return Colours(*losses.moments(pixels, mask), area)


def pooled(parts: Sequence[Colours]) -> Colours:
    """Pieces of one painting's colours as one: a mixture weighted by their areas."""
    total = sum(part.area for part in parts)
    mean, cov = losses.mixture([(p.mean, p.cov) for p in parts], [p.area / total for p in parts])
    return Colours(mean, cov, total)


@dataclass(frozen=True)
class Painting:
    """What :class:`Neighbours` keeps of a painting: its hypercolumns (n, D), its Gram sums and its
    pixels' colours."""

    columns: torch.Tensor
    grams: GramSums
    colours: Colours


@dataclass(frozen=True)
class NeighboursTarget:
    """bank: (M, D) the paintings' hypercolumns; keys: (M, d) the same centred and
    projected, of unit length, what queries are matched against; projection: (D, d); photo: (h·w, d)
    the photo's hypercolumns projected; matched: (1, D', h, w) the bank's vector nearest to each
    place's query, from its column ``first`` on (the layers the cosine term reads, D' = D − first),
    of unit length; grams: the paintings' Gram matrices (1, C, C) at the Gram layers; colours: the
    Gaussian of the paintings' pixels (several: their mixture)."""

    bank: torch.Tensor
    keys: torch.Tensor
    projection: torch.Tensor
    photo: torch.Tensor
    matched: torch.Tensor
    grams: Mapping[str, torch.Tensor]
    colours: losses.MeanCov
    first: int = 0


@dataclass(frozen=True)
class Neighbours:
    """At each position, 1 − cos(hypercolumn, the painting's hypercolumn nearest to a query), averaged;
    plus the relative Gram distance at the run's style layers before relu4 and the relative Gaussian
    distance of the pixels' colours to the painting's (:func:`losses.mean_cov_loss`).

    The query is the photo's hypercolumn blended with the image's own (``share`` of it), matched again
    every ``rematch_every`` iterations (:meth:`retarget`), so the target follows the painting as the
    image moves towards it instead of stopping at "the photo with the painting's features where it
    already had them" (1.5's nearest). Nearest by centred cosine: each side's mean hypercolumn taken
    off, so matching looks at what varies, not at the overall brightness of the features.

    Departures from Kolkin et al.: one-place hypercolumns to relu4_3 (no relu5, no patches), matching
    on random projections to :data:`MATCH_DIMS` numbers (10× less work), L-BFGS on pixels over
    impasto's scales instead of Adam on a Laplacian pyramid, no content loss of their kind (impasto's
    relu4_2 term stays, weighted by α), a Gram term: the cosine leaves the features' size free, and
    without the Gram matrices the colours run outside the painting's range, and a colour term: the
    pixels' mean and covariance (Gram matrices mix the two, and VGG's first layers see edges as much
    as colours), which brings the palette nearer the painting's where the Gram term leaves the photo's
    light (a night sky under La Grande Jatte's greens). The painting is not also
    matched turned by quarters (as the 2.0 probe did): measured at 384 px on three pairs, the turns made
    The Scream's bands lose their direction (embedding 0.56 against 0.41) and cost 20 % more time.
    """

    layers: Mapping[str, float]  # the run's style layers (only those before relu4 are read: Gram)
    seed: int = 0
    share: float = 0.25  # the image's share of the query (the photo's the rest)
    # Measured at 512 px on the nine calibration pairs: 3 against the probe's 1 lowers the embedding on
    # eight and the palette distance on eight (the colours stay nearer the painting's), content +0.03.
    gram_weight: float = 3.0
    # Measured at 512 px on the nine calibration pairs, weight 10 against none: the palette distance
    # lower on eight and equal on one (La Grande Jatte under the rocket 0.035 → 0.020, The Scream under
    # the coffee 0.10 → 0.014), the embedding within ±0.01 on seven (−0.03 on one, +0.03 on one).
    colour_weight: float = 10.0
    rematch_every: int = 20  # iterations between matches
    # At the scales after the first, the cosine term compares the hypercolumns from this VGG block up
    # (1: all of them); the matching still reads them whole. The first scale makes the layout and the
    # strokes; at the later ones the fine layers' cosine pulls each place towards one matched pixel's
    # grain, which more iterations then sharpen into a grain of their own, while the Gram and colour
    # terms keep the painting's fine texture as statistics.
    refine_from: int = 1
    scale: int = 0  # the scale of the run this loss serves (0: the first)

    masks: ClassVar[str | None] = "neighbours"
    # Tiles take the Gram matrices of every style layer, as 1.5's nearest did: a tiled scale comes after
    # the base scales have made the look, and a painting's objects are then larger than what the deep
    # layers see; matching the bank tile by tile is left for later.
    tiles: ClassVar[str | None] = "gram"

    @property
    def gram_layers(self) -> dict[str, float]:
        """The Gram layers and their weights, summing to 1."""
        chosen = {n: w for n, w in self.layers.items() if block(n) < GRAM_BEFORE_BLOCK}
        total = sum(chosen.values())
        return {n: w / total for n, w in chosen.items()}

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*HYPERCOLUMN, *self.gram_layers, INPUT)))

    @property
    def cosine_layers(self) -> tuple[str, ...]:
        """The hypercolumn's layers the cosine term compares: all at the first scale, those from
        block :attr:`refine_from` up at the later ones (a suffix of :data:`HYPERCOLUMN`)."""
        return (
            HYPERCOLUMN if self.scale == 0 else tuple(n for n in HYPERCOLUMN if block(n) >= self.refine_from)
        )

    def summarize(self, features: Features, mask: Masks | None = None) -> Painting:
        grid = _grid(features)
        places = torch.arange(grid[0] * grid[1], device=features[GRID_LAYER].device)
        if mask is not None:
            places = places[F.interpolate(mask[GRID_LAYER], size=grid, mode="area").flatten() > 0.5]
        places = _subset(places, MAX_BANK, self.seed)
        colours = summarize_colours(features[INPUT], None if mask is None else mask[INPUT])
        return Painting(
            columns(features, grid, places), summarize_grams(features, self.gram_layers, mask), colours
        )

    def merge(self, summaries: Sequence[Painting]) -> Painting:
        """Pieces of one painting: their hypercolumns together, their Gram sums added, their colours
        pooled."""
        return Painting(
            torch.cat([s.columns for s in summaries]),
            merge_gram_sums([s.grams for s in summaries]),
            pooled([s.colours for s in summaries]),
        )

    def target(
        self, summaries: Sequence[Painting], blend: Sequence[float], content: Features
    ) -> NeighboursTarget:
        """The bank: up to :data:`MAX_BANK` hypercolumns, each painting's share of them its blend
        weight (a random subset, drawn from the seed); matched against the photo alone."""
        picked = [
            _subset(s.columns, max(1, round(weight * MAX_BANK)), self.seed + index)
            for index, (s, weight) in enumerate(zip(summaries, blend, strict=True))
        ]
        bank = picked[0] if len(picked) == 1 else torch.cat(picked)  # (M, D)
        # The projection is drawn apart from the bank's subset, so that it is the same for every blend.
        draw = torch.Generator().manual_seed(self.seed)
        projection = torch.randn(bank.shape[1], MATCH_DIMS, generator=draw).to(bank) / math.sqrt(MATCH_DIMS)
        projected = bank @ projection  # (M, d); centred after the projection, which is linear
        keys = F.normalize(projected - projected.mean(dim=0), dim=1)
        each = [s.grams.grams() for s in summaries]
        grams = {n: blended([g[n] for g in each], blend) for n in self.gram_layers}
        colours = losses.gaussian(
            *losses.mixture([(s.colours.mean, s.colours.cov) for s in summaries], blend)
        )
        grid = _grid(content)
        photo = _projected(content, grid, projection)
        # An fp32 bank is kept in bfloat16: a match needs three digits, and a 512 px painting's bank is
        # then 70 MB, not 140 (float64, for checks, stays as it is).
        kept = bank.to(torch.bfloat16) if bank.dtype == torch.float32 else bank
        first = sum(content[n].shape[1] for n in HYPERCOLUMN if n not in self.cosine_layers)
        target = NeighboursTarget(kept, keys, projection, photo, torch.empty(0), grams, colours, first)
        return self._matched(target, photo, grid)

    def retarget(
        self, target: NeighboursTarget, features: Features, mask: Masks | None = None
    ) -> NeighboursTarget:
        # The projection is linear: blending the projected hypercolumns blends the hypercolumns.
        grid = _grid(features)
        now = _projected(features, grid, target.projection)
        return self._matched(target, (1 - self.share) * target.photo + self.share * now, grid)

    def _matched(
        self, target: NeighboursTarget, query: torch.Tensor, grid: tuple[int, int]
    ) -> NeighboursTarget:
        """``target`` matched again for the projected queries (h·w, d) of the places of ``grid``."""
        queries = F.normalize(query - query.mean(dim=0), dim=1)  # centred, of unit length
        chosen = losses.nearest_index(queries, target.keys)  # (N,)
        rows = target.bank[chosen, target.first :].to(target.keys.dtype)  # (N, D')
        # Kept in the bank's type (bfloat16 in an fp32 run: its rows are bfloat16 already), 66 MB
        # less at 512 px; the cosine is summed in the features' type.
        matched = F.normalize(rows, dim=1).to(target.bank.dtype).T.reshape(1, -1, *grid)  # (1, D, h, w)
        return dataclasses.replace(target, matched=matched)

    def _cosine(self, features: Features, target: NeighboursTarget) -> torch.Tensor:
        """(1, 1, h, w): 1 − cos of each position's hypercolumn (its :attr:`cosine_layers`) with its
        match."""
        # Layer by layer, without the (1, D, h, w) stack: with h_l = f_l / C_l and t of unit length,
        # cos = Σ_l ⟨f_l, t_l⟩ / C_l ÷ √(Σ_l |f_l|² / C_l²).
        shape = (target.matched.shape[-2], target.matched.shape[-1])
        dot = square = torch.zeros(1, 1, *shape, device=target.matched.device)
        start = 0
        for part in resampled(features, shape, self.cosine_layers):
            channels = part.shape[1]
            match = target.matched[:, start : start + channels]
            dot = dot + (part * match).sum(dim=1, keepdim=True) / channels
            square = square + part.pow(2).sum(dim=1, keepdim=True) / channels**2
            start += channels
        return 1 - dot / square.sqrt().clamp(min=losses.EPS)

    def _statistics(
        self, features: Features, target: NeighboursTarget, masks: Masks | None = None
    ) -> torch.Tensor:
        """The Gram and colour terms, weighted, over the region ``masks`` weight when given."""
        total = self.colour_weight * losses.mean_cov_loss(
            features[INPUT], target.colours, None if masks is None else masks[INPUT]
        )
        for n, w in self.gram_layers.items():
            mask = None if masks is None else masks[n]
            total = total + self.gram_weight * w * losses.style_loss(features[n], target.grams[n], mask)
        return total

    def distance(self, features: Features, target: NeighboursTarget) -> torch.Tensor:
        # The Gram and colour terms first, as measured: the other order (autograd then sums the
        # gradients of the layers both terms read the other way round) made an evaluation of a bf16
        # run at 512 px 0.82 s instead of 0.65 s, the ReLUs' backward pass two to three times slower.
        statistics = self._statistics(features, target)
        return self._cosine(features, target).mean() + statistics

    def region_distance(self, features: Features, regions: Sequence[losses.Region]) -> torch.Tensor:
        """Σ over regions of the region's share × (the cosine term averaged over the region + the
        guided Gram and colour terms): each region matched against its own painting's bank."""
        total = torch.zeros((), device=next(iter(features.values())).device)
        for region in regions:
            target: NeighboursTarget = region.target
            statistics = self._statistics(features, target, region.masks)  # first: see distance
            cosine = self._cosine(features, target)
            inside = F.interpolate(region.masks[GRID_LAYER], size=cosine.shape[-2:], mode="area")
            term = (inside * cosine).sum() / inside.sum().clamp(min=losses.EPS)
            total = total + region.weight * (term + statistics)
        return total
