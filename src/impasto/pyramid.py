"""Coarse to fine: the sizes of a multi-scale run and resizing between them.

Gatys et al. 2017 ("Controlling Perceptual Factors", section on scale) stylize a small image first and
use its upsampled result to start the next size: large structures settle where optimization is cheap,
and each larger scale only adds detail. Sizes grow by a constant factor (√2 by default, so each scale
has twice the pixels of the one before and costs about twice as much per iteration).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DEFAULT_STEP = math.sqrt(2)


def scale_sizes(long_side: int, min_size: int, step: float = DEFAULT_STEP) -> list[int]:
    """Long sides from the smallest scale (≥ ``min_size``) up to ``long_side``, growing by ``step``.

    >>> scale_sizes(512, 128)
    [128, 181, 256, 362, 512]
    """
    if step <= 1:
        raise ValueError(f"step must be > 1, got {step}")
    sizes = [long_side]
    while round(sizes[-1] / step) >= min_size:
        sizes.append(round(sizes[-1] / step))
    return sizes[::-1]


def shape_at(shape: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` (H, W) resized so its long side is ``long_side``."""
    height, width = shape
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) → (B, C, *shape), bicubic with antialiasing when shrinking, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    return F.interpolate(image, size=shape, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """(B, C, H, W) resized so its long side is ``long_side``, keeping its aspect ratio."""
    return resize(image, shape_at((image.shape[-2], image.shape[-1]), long_side))
