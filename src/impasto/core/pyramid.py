"""Resizing between the scales of a coarse-to-fine run (plan.py chooses the scales).

Gatys et al. 2017 ("Controlling Perceptual Factors", section on scale) stylize a small image first and
use its upsampled result to start the next size: large structures settle where optimization is cheap,
and each larger scale only adds detail.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from impasto.core.shapes import shape_at as shape_at


def resize(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) → (B, C, *shape), bicubic with antialiasing when shrinking, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == tuple(shape):
        return image
    return F.interpolate(image, size=shape, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def resize_long_side(image: torch.Tensor, long_side: int) -> torch.Tensor:
    """(B, C, H, W) resized so its long side is ``long_side``, keeping its aspect ratio."""
    return resize(image, shape_at((image.shape[-2], image.shape[-1]), long_side))
