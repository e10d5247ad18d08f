"""Where a video cuts to another scene: each shot starts afresh, with no temporal term across a cut."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from impasto.apps.video.workdir import Workdir

# Mean absolute difference (grey, [0, 1], at 32 × 18) between consecutive frames above which a new shot
# begins: a pan or a walk stays far below, a cut to another scene far above.
CUT_THRESHOLD = 0.12


def detect_cuts(frames: Sequence[np.ndarray], threshold: float = CUT_THRESHOLD) -> list[int]:
    """Indices of frames that begin a new shot (0 always does): where the mean absolute difference of
    consecutive frames, grey and downscaled to 32 × 18, exceeds ``threshold`` (in [0, 1])."""
    small = [
        np.asarray(Image.fromarray(f).convert("L").resize((32, 18), Image.Resampling.BILINEAR), np.float32)
        / 255
        for f in frames
    ]
    return [0] + [
        t for t in range(1, len(small)) if float(np.abs(small[t] - small[t - 1]).mean()) > threshold
    ]


def shots(work: Workdir, count: int, threshold: float) -> list[tuple[int, int]]:
    """(first, last) frame ranges of the shots of the ``count`` frames in ``work`` (found once, kept)."""

    def find() -> list[tuple[int, int]]:
        starts = detect_cuts([work.frame(t) for t in range(count)], threshold)
        return list(zip(starts, [*starts[1:], count], strict=True))

    return work.shots(find)


def chunks(ranges: Sequence[tuple[int, int]], size: int | None) -> list[tuple[int, int]]:
    """Shots split into pieces of at most ``size`` frames (each piece starts fresh: a seam)."""
    if not size:
        return list(ranges)
    return [(a, min(a + size, last)) for first, last in ranges for a in range(first, last, size)]
