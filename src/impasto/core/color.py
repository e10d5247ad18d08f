"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Two ways to keep the content's colours while taking the style's strokes:

- luminance-only transfer: stylize the luminance channel alone, then put back the content's chroma;
- colour histogram matching: recolour the style image so its colour mean and covariance are the
  content's, before the transfer.

Pure functions on tensors (B, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import torch

ColorMode = Literal["none", "luminance", "histogram"]
MatchMethod = Literal["sym", "chol", "pca"]

# RGB → YIQ (NTSC 1953). Y is luminance; I and Q carry the chroma.
_RGB_TO_YIQ = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [0.595716, -0.274453, -0.321263],
        [0.211456, -0.522591, 0.311135],
    ]
)


def _check(image: torch.Tensor) -> None:
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"expected an RGB image of shape (B, 3, H, W), got {tuple(image.shape)}")


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB → (B, 3, H, W) YIQ."""
    _check(image)
    matrix = _RGB_TO_YIQ.to(image)
    return torch.einsum("ij,bjhw->bihw", matrix, image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ → (B, 3, H, W) RGB (not clamped)."""
    _check(image)
    matrix = torch.linalg.inv(_RGB_TO_YIQ.double()).to(image)
    return torch.einsum("ij,bjhw->bihw", matrix, image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB → (B, 1, H, W) luminance Y."""
    return rgb_to_yiq(image)[:, :1]


def as_grey_rgb(luma: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) luminance → (B, 3, H, W) grey RGB, so the network (trained on RGB) can see it."""
    return luma.expand(-1, 3, -1, -1).clamp(0, 1)


def match_luminance(style_luma: torch.Tensor, content_luma: torch.Tensor) -> torch.Tensor:
    """Shift and scale ``style_luma`` (B, 1, H, W) to the mean and standard deviation of
    ``content_luma`` (B, 1, H', W'), as Gatys et al. 2017 do before luminance-only transfer."""
    s_mean, s_std = style_luma.mean(), style_luma.std()
    c_mean, c_std = content_luma.mean(), content_luma.std()
    return (style_luma - s_mean) / (s_std + 1e-8) * c_std + c_mean


def combine_luminance(luma: torch.Tensor, chroma_from: torch.Tensor) -> torch.Tensor:
    """RGB image (B, 3, H, W) with the luminance ``luma`` (B, 1, H, W) and the I, Q chroma of
    ``chroma_from`` (B, 3, H, W) RGB, clamped to [0, 1]."""
    yiq = rgb_to_yiq(chroma_from)
    return yiq_to_rgb(torch.cat([luma, yiq[:, 1:]], dim=1)).clamp(0, 1)


def match_chroma(image: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``image`` (1, 3, H, W) with its chroma (YIQ's I and Q) moved to the mean and covariance of
    ``reference``'s (1, 3, H', W'), its luminance untouched: q' = Σ_r^½ Σ_q^−½ (q − μ_q) + μ_r on the
    (I, Q) pairs. Clamped to [0, 1]."""
    yiq = rgb_to_yiq(image)
    chroma = yiq[0, 1:].reshape(2, -1).double()  # (2, N)
    wanted = rgb_to_yiq(reference)[0, 1:].reshape(2, -1).double()
    mean_q, mean_r = chroma.mean(dim=1), wanted.mean(dim=1)
    cov_q = (chroma - mean_q[:, None]) @ (chroma - mean_q[:, None]).T / chroma.shape[1]
    cov_r = (wanted - mean_r[:, None]) @ (wanted - mean_r[:, None]).T / wanted.shape[1]
    _, inv_sqrt_q = _sqrt_and_inverse_sqrt(cov_q, eps)
    sqrt_r, _ = _sqrt_and_inverse_sqrt(cov_r, eps)
    moved = sqrt_r @ inv_sqrt_q @ (chroma - mean_q[:, None]) + mean_r[:, None]
    result = torch.cat([yiq[:, :1], moved.reshape(1, 2, *image.shape[-2:]).to(image.dtype)], dim=1)
    return yiq_to_rgb(result).clamp(0, 1)


def color_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (3,) and covariance (3, 3) of the pixel colours of ``image`` (1, 3, H, W)."""
    _check(image)
    pixels = image[0].reshape(3, -1).double()  # (3, N)
    mean = pixels.mean(dim=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / pixels.shape[1]


def stats_distance(image: torch.Tensor, reference: torch.Tensor) -> float:
    """How far the colours of ``image`` are from ``reference``'s, both (1, 3, H, W) in [0, 1]:
    ‖μ_image − μ_reference‖ + ‖Σ_image − Σ_reference‖_F (0 for the same colour statistics)."""
    mean_a, cov_a = color_stats(image)
    mean_b, cov_b = color_stats(reference)
    return float((mean_a - mean_b).norm() + (cov_a - cov_b).norm())


def _sqrt_and_inverse_sqrt(cov: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh(cov)
    values = values.clamp(min=eps)
    return (
        vectors @ torch.diag(values.sqrt()) @ vectors.T,
        vectors @ torch.diag(values.rsqrt()) @ vectors.T,
    )


def match_histogram(
    source: torch.Tensor, reference: torch.Tensor, method: MatchMethod = "sym", eps: float = 1e-5
) -> torch.Tensor:
    """Recolour ``source`` (1, 3, H, W) so its colour mean and covariance are ``reference``'s
    (1, 3, H', W'): x' = A (x − μ_s) + μ_r with A Σ_s Aᵀ = Σ_r.

    ``method`` picks A among the matrices that satisfy this: "sym" (the default) — Σ_r^½ Σ_s^−½ with
    symmetric square roots; "chol" — L_r L_s⁻¹ from Cholesky factors; "pca" — Q_r Λ_r^½ Λ_s^−½ Q_sᵀ
    through the eigen-decompositions of both. Result clamped to [0, 1].
    """
    mu_s, cov_s = color_stats(source)
    mu_r, cov_r = color_stats(reference)
    identity = torch.eye(3, dtype=cov_s.dtype)
    if method == "sym":
        _, inv_sqrt_s = _sqrt_and_inverse_sqrt(cov_s, eps)
        sqrt_r, _ = _sqrt_and_inverse_sqrt(cov_r, eps)
        transform = sqrt_r @ inv_sqrt_s
    elif method == "chol":
        chol_s = torch.linalg.cholesky(cov_s + eps * identity)
        chol_r = torch.linalg.cholesky(cov_r + eps * identity)
        transform = chol_r @ torch.linalg.inv(chol_s)
    elif method == "pca":
        values_s, vectors_s = torch.linalg.eigh(cov_s)
        values_r, vectors_r = torch.linalg.eigh(cov_r)
        transform = (
            vectors_r
            @ torch.diag(values_r.clamp(min=eps).sqrt())
            @ torch.diag(values_s.clamp(min=eps).rsqrt())
            @ vectors_s.T
        )
    else:
        raise ValueError(f"unknown method {method!r}; choose sym, chol or pca")
    pixels = source[0].reshape(3, -1).double()  # (3, N)
    matched = transform @ (pixels - mu_s[:, None]) + mu_r[:, None]
    return matched.reshape(source.shape).to(source.dtype).clamp(0, 1)
