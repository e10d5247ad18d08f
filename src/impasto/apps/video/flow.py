"""Optical flow between video frames, warping along it, and where it can be trusted (Ruder et al. 2016).

Conventions: a flow is an array (H, W, 2) of float32 (dx, dy) in pixels. The *backward* flow of frame t
says for each pixel x of frame t where it was in frame t−1: x + b(x). The *forward* flow of frame t−1
says where its pixels went in frame t. Frames are (H, W, 3) uint8 RGB arrays.

Flow is OpenCV's DIS (dense inverse search; Kroeger et al. 2016): fast on a CPU, no learned weights.
Imported lazily: only videos need OpenCV (``pip install impasto[video]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from impasto.errors import ConfigError


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise ConfigError(
            "videos need OpenCV: pip install 'impasto[video]' (opencv-python-headless and av)"
        ) from None
    return cv2


def flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dense flow from ``source`` to ``target`` (both (H, W, 3) uint8): for each pixel x of ``source``,
    ``x + flow[x]`` is where it is in ``target``. → (H, W, 2) float32."""
    if source.shape != target.shape or source.ndim != 3:
        raise ValueError(f"expected two frames (H, W, 3) alike, got {source.shape} and {target.shape}")
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (source, target)]
    result: np.ndarray = dis.calc(grey[0], grey[1], None)
    return result.astype(np.float32)


def warp(image: np.ndarray, flow_field: np.ndarray) -> np.ndarray:
    """Sample ``image`` (H, W, C) at x + flow(x) for every pixel x (bilinear; outside: the nearest edge
    pixel). With the backward flow of frame t this carries frame t−1 onto frame t. → (H, W, C) float32."""
    if image.shape[:2] != flow_field.shape[:2]:
        raise ValueError(f"image {image.shape} and flow {flow_field.shape} differ in size")
    cv2 = _cv2()
    h, w = flow_field.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = grid_x + flow_field[..., 0]
    map_y = grid_y + flow_field[..., 1]
    warped: np.ndarray = cv2.remap(
        image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return warped.reshape(image.shape)


def consistency(forward: np.ndarray, backward: np.ndarray, soften: bool = True) -> np.ndarray:
    """Where the backward flow of frame t can be trusted: (H, W) float32 in [0, 1], 0 at disocclusions
    and motion boundaries (Ruder et al. 2016, eqs. 2–3).

    forward: flow t−1 → t; backward: flow t → t−1. A pixel x of frame t is disoccluded when going back
    and forth does not return it: |w̃ + b|² > 0.01 (|w̃|² + |b|²) + 0.5 with w̃ = forward(x + b(x)); it
    is on a motion boundary when |∇b_x|² + |∇b_y|² > 0.01 |b|² + 0.002. Pixels that leave the frame
    going back are untrusted too. ``soften`` blurs the edges of the trusted region (a 5 × 5 Gaussian),
    never raising an untrusted pixel above 0.
    """
    if forward.shape != backward.shape or forward.shape[-1] != 2:
        raise ValueError(f"expected two flows (H, W, 2) alike, got {forward.shape} and {backward.shape}")
    cv2 = _cv2()
    h, w = backward.shape[:2]
    there = warp(forward, backward)  # (H, W, 2): forward flow at x + b(x)
    round_trip = np.sum((there + backward) ** 2, axis=-1)
    magnitude = np.sum(there**2, axis=-1) + np.sum(backward**2, axis=-1)
    trusted = round_trip <= 0.01 * magnitude + 0.5
    gy_u, gx_u = np.gradient(backward[..., 0])
    gy_v, gx_v = np.gradient(backward[..., 1])
    gradient = gx_u**2 + gy_u**2 + gx_v**2 + gy_v**2
    trusted &= gradient <= 0.01 * np.sum(backward**2, axis=-1) + 0.002
    grid_x, grid_y = np.meshgrid(np.arange(w), np.arange(h))
    back_x, back_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    trusted &= (back_x >= 0) & (back_x <= w - 1) & (back_y >= 0) & (back_y <= h - 1)
    weights: np.ndarray = trusted.astype(np.float32)
    if soften:
        blurred: np.ndarray = cv2.GaussianBlur(weights, (5, 5), 0)
        weights = (np.minimum(weights, blurred) * trusted).astype(np.float32)
    return weights


def long_term_weights(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Ruder et al.'s long-term weights: each earlier frame counts only where no closer frame is trusted.

    weights: consistency of frames t−j → t, closest first → the same list with
    c_j := max(c_j − Σ_{k closer} c_k, 0).
    """
    out: list[np.ndarray] = []
    covered = np.zeros_like(weights[0]) if weights else np.zeros(0, np.float32)
    for c in weights:
        out.append(np.maximum(c - covered, 0).astype(np.float32))
        covered = covered + c
    return out
