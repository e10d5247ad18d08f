"""Image shapes as numbers, before any pixel is touched: the shape an image takes at a long side, and
the thinnest the network takes.

No torch here: the feed-forward sketch (:mod:`impasto.preview`) refuses the pictures that a run's plan
(:mod:`impasto.plan`) refuses without loading it; :mod:`impasto.core.pyramid` resizes tensors to these
shapes.
"""

from __future__ import annotations

from impasto.errors import ConfigError

# The network's deepest default layer (relu5_1) sits behind four 2× poolings: a side under 16 px
# leaves it nothing, and torch stops with an error deep inside the pooling.
MIN_SIDE = 16


def shape_at(shape: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(H, W) of an image of ``shape`` (H, W) resized so its long side is ``long_side``."""
    height, width = shape
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def refuse_thin(what: str, original: tuple[int, int], size: int, remedy: str) -> tuple[int, int]:
    """The shape (H, W) of an image of ``original`` shape at long side ``size``; a ConfigError naming
    ``what`` and ``remedy`` if the network would get less than MIN_SIDE px on a side."""
    shape = shape_at(original, size)
    if min(shape) < MIN_SIDE:
        raise ConfigError(
            f"{what} is too thin: {original[1]}×{original[0]} becomes {shape[1]}×{shape[0]} px at {size} "
            f"px, and the network needs at least {MIN_SIDE} px on each side; crop it, or {remedy}"
        )
    return shape
