"""The loss terms of Gatys et al. as pure functions of feature maps, and the objective that sums them.

Normalization (departs from the paper; the reason is below each function). Gatys et al. sum squared
errors, so a loss grows with the image size and with the scale of the network's activations: the same
α/β means something else at 256 and at 1024 px, and on a Caffe VGG fed 0–255 pixels versus a torchvision
VGG fed unit-variance ones (activations ~50× apart, losses ~2500× apart). Here every term is *relative*:
the squared error divided by the squared size of the target, averaged over positions. A term is then a
dimensionless number near 1 when the image has nothing of the target and near 0 when it matches, so a
weight means about the same at any size, on any layer and on either backbone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from impasto.core.style import StyleLoss

EPS = 1e-8  # keeps the relative losses finite for an all-zero target (a black image, a dead channel)


def gram_sums(
    features: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | int]:
    """A Gram matrix before its division: Σ over positions of (m·F)(m·F)ᵀ (B, C, C), and Σ m² (the
    number of positions H·W without a mask; (B or 1, 1, 1) with one). Sums of pieces of an image
    (tiles) add up to the whole image's.

    features: (B, C, H, W); mask: optional (B or 1, 1, H, W) weights m in [0, 1].
    """
    if features.ndim != 4:
        raise ValueError(f"expected features of shape (B, C, H, W), got {tuple(features.shape)}")
    b, c, h, w = features.shape
    if mask is None:
        flat = features.reshape(b, c, h * w)  # (B, C, N)
        return flat @ flat.transpose(1, 2), h * w
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != features.shape[-2:]:
        raise ValueError(
            f"expected features (B, C, H, W) and a mask (B, 1, H, W), got {tuple(features.shape)} "
            f"and {tuple(mask.shape)}"
        )
    flat = (features * mask).reshape(b, c, h * w)  # (B, C, N)
    area = mask.pow(2).sum(dim=(1, 2, 3)).clamp(min=EPS).view(-1, 1, 1)  # (B or 1, 1, 1)
    return flat @ flat.transpose(1, 2), area


def gram(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices of feature maps, averaged over positions.

    features: (B, C, H, W) → (B, C, C), entry (c, d) = mean over positions of F_c · F_d.

    Gatys et al. sum over positions; dividing by H·W makes a Gram matrix a statistic of the texture that
    does not grow with the image size, so a style image of any size can be the target of any output.
    """
    sums, positions = gram_sums(features)
    return sums / positions  # (B, C, C)


def guided_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrices of the region that ``mask`` weights (Gatys et al. 2017, spatial control).

    features: (B, C, H, W); mask: (B or 1, 1, H, W) in [0, 1] → (B, C, C), averaged over the region:
    (F·m)(F·m)ᵀ / Σ m². With an all-ones mask this is :func:`gram`.
    """
    sums, area = gram_sums(features, mask)
    return sums / area  # (B, C, C)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared error of feature maps: Σ(F − P)² / Σ P².

    features, target: (B, C, H, W), the same shape → scalar.

    The paper uses ½ Σ(F − P)²; dividing by the target's energy makes the term independent of the
    layer's activation scale and of the image size.
    """
    if features.shape != target.shape:
        raise ValueError(f"features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape")
    return (features - target).pow(2).sum() / (target.pow(2).sum() + EPS)


def style_loss(
    features: torch.Tensor, target_gram: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Relative squared error of Gram matrices: ‖G − A‖² / ‖A‖².

    features: (B, C, H, W); target_gram: (B, C, C) or (C, C); mask: optional (B or 1, 1, H, W) region
    whose guided Gram matrix is compared instead (see :func:`guided_gram`) → scalar.

    The paper divides ‖G − A‖² by 4·N²·M²; with position-averaged Gram matrices (see :func:`gram`) and
    division by ‖A‖² the term is independent of image size and activation scale, so layers with large
    activations (relu4_1, relu5_1 on a Caffe VGG) do not drown the others.
    """
    g = gram(features) if mask is None else guided_gram(features, mask)
    if target_gram.shape[-2:] != g.shape[-2:]:
        raise ValueError(
            f"Gram target {tuple(target_gram.shape)} does not match features with {g.shape[-1]} channels"
        )
    target = target_gram.expand_as(g)  # (B, C, C)
    return (g - target).pow(2).sum() / (target.pow(2).sum() + EPS)


@dataclass(frozen=True)
class MeanCov:
    """A layer's features summarized as a Gaussian: what :func:`mean_cov_loss` compares against.

    mean: (C,); cov: (C, C); cov_sqrt: (C, C), the symmetric square root of cov; energy: scalar
    ‖mean‖² + tr cov, the second moment of the features, which normalizes the distance.
    """

    mean: torch.Tensor
    cov: torch.Tensor
    cov_sqrt: torch.Tensor
    energy: torch.Tensor


def moments(features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) over the positions of ``features`` (1, C, H, W), each position
    weighted by ``mask`` (1, 1, H, W) in [0, 1] when given (the statistics of that region)."""
    if features.ndim != 4 or features.shape[0] != 1:
        raise ValueError(f"expected features of shape (1, C, H, W), got {tuple(features.shape)}")
    flat = features[0].flatten(1)  # (C, N)
    if mask is None:
        mean = flat.mean(dim=1)  # (C,)
        centred = flat - mean[:, None]  # (C, N)
        return mean, centred @ centred.T / flat.shape[1]  # (C,), (C, C)
    if mask.shape != (1, 1, *features.shape[-2:]):
        raise ValueError(
            f"expected a mask (1, 1, H, W) for features {tuple(features.shape)}, got {tuple(mask.shape)}"
        )
    weights = mask.flatten() / mask.sum().clamp(min=EPS)  # (N,), summing to 1
    mean = flat @ weights
    centred = flat - mean[:, None]
    return mean, (centred * weights) @ centred.T


def mixture(
    stats: Sequence[tuple[torch.Tensor, torch.Tensor]], blend: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean and covariance of a mixture: of all the parts' values pooled with weights ``blend``
    (summing to 1), given each part's (mean (C,), covariance (C, C))."""
    mean = sum((w * m for (m, _), w in zip(stats, blend, strict=True)), torch.zeros_like(stats[0][0]))
    second = sum(
        (w * (c + torch.outer(m, m)) for (m, c), w in zip(stats, blend, strict=True)),
        torch.zeros_like(stats[0][1]),
    )
    return mean, second - torch.outer(mean, mean)  # (C,), (C, C)


def gaussian(mean: torch.Tensor, cov: torch.Tensor) -> MeanCov:
    """The target :func:`mean_cov_loss` compares against, for a mean (C,) and a covariance (C, C)."""
    values, vectors = torch.linalg.eigh(cov.double())
    cov_sqrt = (vectors * values.clamp(min=0).sqrt()) @ vectors.T  # (C, C)
    return MeanCov(mean, cov, cov_sqrt.to(cov.dtype), mean.pow(2).sum() + cov.trace())


def mean_cov(features: Sequence[torch.Tensor], blend: Sequence[float] | None = None) -> MeanCov:
    """The Gaussian target of one or several style images' features (each (1, C, H_i, W_i)).

    Several images are blended as a mixture (weights ``blend``, summing to 1): its mean and covariance
    are those of all their features pooled with those weights.
    """
    blend = blend or [1.0 / len(features)] * len(features)
    return gaussian(*mixture([moments(f) for f in features], blend))


def mean_cov_loss(features: torch.Tensor, target: MeanCov, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Relative Gaussian 2-Wasserstein distance between the features and the target's Gaussian.

    features: (1, C, H, W), mask: optional (1, 1, H, W), the region whose statistics are compared
    (:func:`moments`) → scalar. W₂² = ‖μ − μₜ‖² + tr Σ + tr Σₜ − 2 tr (Σₜ^½ Σ Σₜ^½)^½, divided by
    ‖μₜ‖² + tr Σₜ (so an all-zero image scores 1, a match 0). Matches means and covariances, where a Gram
    matrix mixes the two; not in Gatys et al. (Kolkin et al. 2019 and others use it). The trace of the
    square root comes from eigenvalues (eigvalsh, whose gradient is stable), in float64.
    """
    mean, cov = moments(features, mask)
    if mean.shape != target.mean.shape:
        raise ValueError(f"features with {mean.shape[0]} channels, target with {target.mean.shape[0]}")
    cross = (target.cov_sqrt @ cov @ target.cov_sqrt).double()  # (C, C), symmetric PSD
    cross = (cross + cross.T) / 2
    # The small ε keeps the square root's gradient finite at zero eigenvalues.
    root_trace = torch.linalg.eigvalsh(cross).clamp(min=0).add(EPS).sqrt().sum().to(cov.dtype)
    distance = (mean - target.mean).pow(2).sum() + cov.trace() + target.cov.trace() - 2 * root_trace
    relative: torch.Tensor = distance / (target.energy + EPS)
    return relative


@dataclass(frozen=True)
class Sliced:
    """A layer's features seen along fixed random directions: what :func:`sliced_wasserstein_loss` matches.

    directions: (C, K) unit columns; quantiles: (K, N), the target's projections onto each direction,
    sorted; energy: scalar mean of quantiles², which normalizes the distance.
    """

    directions: torch.Tensor
    quantiles: torch.Tensor
    energy: torch.Tensor


def random_directions(channels: int, count: int, seed: int = 0) -> torch.Tensor:
    """(channels, count) unit vectors drawn uniformly on the sphere, the same for the same seed."""
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(channels, count, generator=generator)
    unit: torch.Tensor = directions / directions.norm(dim=0, keepdim=True)
    return unit


def sorted_projections(features: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """features (1, C, H, W), directions (C, K) → (K, H·W): each direction's projections, sorted."""
    if features.ndim != 4 or features.shape[0] != 1 or features.shape[1] != directions.shape[0]:
        raise ValueError(
            f"expected features (1, C, H, W) and directions (C, K), got {tuple(features.shape)} and "
            f"{tuple(directions.shape)}"
        )
    return (directions.to(features).T @ features[0].flatten(1)).sort(dim=1).values  # (K, N)


def resample_quantiles(quantiles: torch.Tensor, count: int) -> torch.Tensor:
    """(K, N) sorted values → (K, count): the same quantile functions read at ``count`` points."""
    if quantiles.shape[1] == count:
        return quantiles
    return F.interpolate(quantiles[None], size=count, mode="linear", align_corners=False)[0]


def sliced(
    features: Sequence[torch.Tensor], directions: torch.Tensor, blend: Sequence[float] | None = None
) -> Sliced:
    """The sliced target of one or several style images' features (each (1, C, H_i, W_i)).

    Several images are blended by averaging their quantile functions with weights ``blend``: along
    each direction that is their 1-D Wasserstein barycentre.
    """
    blend = blend or [1.0 / len(features)] * len(features)
    each = [sorted_projections(f, directions) for f in features]
    count = max(q.shape[1] for q in each)
    quantiles = sum(
        (w * resample_quantiles(q, count) for q, w in zip(each, blend, strict=True)),
        torch.zeros_like(each[0][:, :1]).expand(-1, count),
    )
    return Sliced(directions, quantiles, quantiles.pow(2).mean())


def sliced_wasserstein_loss(features: torch.Tensor, target: Sliced) -> torch.Tensor:
    """Relative sliced 2-Wasserstein distance between the features and the target (Heitz et al. 2021).

    features: (1, C, H, W) → scalar: the mean squared difference of sorted projections, divided by the
    target's (so an all-zero image scores 1, a match 0). Matches the whole distribution of the features
    along each direction, not only its second moments. Departs from Heitz et al., who draw new
    directions at every step of Adam: here they stay fixed for a run, so L-BFGS sees one deterministic
    objective (and its line search and curvature pairs stay valid).
    """
    projected = sorted_projections(features, target.directions)  # (K, N)
    wanted = resample_quantiles(target.quantiles, projected.shape[1])  # (K, N)
    return (projected - wanted).pow(2).mean() / (target.energy + EPS)


def nearest_features(features: torch.Tensor, bank: torch.Tensor, budget: int = 2**24) -> torch.Tensor:
    """For each position of ``features``, the feature of ``bank`` most like it (cosine similarity).

    features: (1, C, H, W); bank: (1, C, H_s, W_s) → (1, C, H, W), each vector taken whole from the bank.
    Positions are matched in chunks of at most ``budget`` similarities (64 MiB in fp32), so memory stays
    bounded however large both images are.
    """
    if features.ndim != 4 or bank.ndim != 4 or features.shape[0] != 1 or features.shape[:2] != bank.shape[:2]:
        raise ValueError(
            f"expected features (1, C, H, W) and a bank (1, C, H_s, W_s), got {tuple(features.shape)} and "
            f"{tuple(bank.shape)}"
        )
    _, c, h, w = features.shape
    queries = F.normalize(features[0].flatten(1).T, dim=1)  # (N, C)
    keys = bank[0].flatten(1).T  # (M, C)
    chosen = nearest_index(queries, F.normalize(keys, dim=1), budget)  # (N,)
    return keys[chosen].T.reshape(1, c, h, w)


def nearest_index(queries: torch.Tensor, keys: torch.Tensor, budget: int = 2**24) -> torch.Tensor:
    """For each row of ``queries`` (N, D), the index of the row of ``keys`` (M, D) with the largest dot
    product → (N,). Matched in chunks of at most ``budget`` products (64 MiB in fp32), so memory stays
    bounded however large both are; nothing here waits for a GPU."""
    chunk = max(1, budget // keys.shape[0])
    return torch.cat([(part @ keys.T).argmax(dim=1) for part in torch.split(queries, chunk)])  # (N,)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels.

    image: (B, C, H, W) with H, W ≥ 2 → scalar. The squared (not absolute) form is smooth, which suits
    L-BFGS; as a mean it does not depend on the image size.
    """
    if image.ndim != 4 or image.shape[-1] < 2 or image.shape[-2] < 2:
        raise ValueError(f"expected an image of shape (B, C, H≥2, W≥2), got {tuple(image.shape)}")
    dy = image[..., 1:, :] - image[..., :-1, :]  # (B, C, H-1, W)
    dx = image[..., :, 1:] - image[..., :, :-1]  # (B, C, H, W-1)
    return dy.pow(2).mean() + dx.pow(2).mean()


def temporal_loss(image: torch.Tensor, warped: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s short-term consistency: mean(c · (x − ω)²) over pixels and channels.

    image, warped: (B, 3, H, W), the image and the previous stylized frame warped onto it;
    weights: (B or 1, 1, H, W) per-pixel consistency c in [0, 1] (0 where the flow cannot be trusted)
    → scalar. As a mean in [0, 1] pixel units it keeps its scale at any size.
    """
    if image.shape != warped.shape or weights.ndim != 4 or weights.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"expected image and warped (B, 3, H, W) alike and weights (B, 1, H, W), got "
            f"{tuple(image.shape)}, "
            f"{tuple(warped.shape)} and {tuple(weights.shape)}"
        )
    return (weights * (image - warped).pow(2)).mean()


@dataclass(frozen=True)
class Region:
    """A part of the output that takes its own style (spatial control).

    masks: layer → the region's weight (1, 1, H', W') at that layer's resolution.
    target: its style's target, of the run's kind of style loss (from its own region of the painting).
    """

    masks: Mapping[str, torch.Tensor]
    target: Any
    weight: float = 1.0  # the region's share of the image, so the style term keeps its scale


@dataclass(frozen=True)
class Targets:
    """What the image is pulled towards at one scale.

    content: layer → feature maps (1, C, H, W) of the content image at the output size.
    loss: the kind of style loss (:mod:`impasto.core.style`), and ``style`` its target for the whole
    image; with masks, ``regions`` instead, each with its own target.
    """

    content: Mapping[str, torch.Tensor]
    loss: StyleLoss
    style: Any = None
    regions: tuple[Region, ...] = ()

    def retargeted(self, features: Mapping[str, torch.Tensor]) -> Targets:
        """The style targets made again against the image whose ``features`` these are."""
        if self.regions:
            regions = tuple(
                dataclasses.replace(r, target=self.loss.retarget(r.target, features, r.masks))
                for r in self.regions
            )
            return dataclasses.replace(self, regions=regions)
        return dataclasses.replace(self, style=self.loss.retarget(self.style, features))


@dataclass(frozen=True)
class Weights:
    """α, β, γ and the per-layer weights (each set summing to 1, so α and β keep their meaning)."""

    content: float
    style: float
    tv: float
    content_layers: Mapping[str, float]
    style_layers: Mapping[str, float]


def objective(
    image: torch.Tensor, features: Mapping[str, torch.Tensor], targets: Targets, weights: Weights
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """J = α · Σ_l w_l content_l + β · style + γ · TV(image).

    image: (1, 3, H, W); features: layer → (1, C, H', W') of that image. The style term is the kind's
    own distance (:mod:`impasto.core.style`), over the whole image or region by region.
    Returns the total (scalar) and each weighted term by name ("content", "style", "tv").
    """
    content = sum(
        (
            w * content_loss(features[name], targets.content[name])
            for name, w in weights.content_layers.items()
        ),
        torch.zeros((), device=image.device),
    )
    if targets.regions:
        style = targets.loss.region_distance(features, targets.regions)
    else:
        style = targets.loss.distance(features, targets.style)
    terms = {"content": weights.content * content, "style": weights.style * style}
    if weights.tv > 0:
        terms["tv"] = weights.tv * tv_loss(image)
    total = sum(terms.values(), torch.zeros((), device=image.device))
    return total, terms
