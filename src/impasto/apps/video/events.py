"""What a video run reports while it works, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from impasto.core.optimize import Progress


@dataclass(frozen=True)
class VideoEvent:
    """What a run is doing: extracting frame ``index`` ("frames"; ``total`` unknown, 0), saying what
    a frame's run does before its iterations ("status", in ``message``), iterating on a frame
    ("progress"), done with a frame ("frame"), writing the video ("write")."""

    kind: Literal["frames", "status", "frame", "progress", "write"]
    index: int  # 0-based frame
    total: int
    progress: Progress | None = None
    skipped: bool = False  # a frame already stylized by an earlier run
    message: str = ""


@dataclass(frozen=True)
class VideoResult:
    output: Path
    frames: int
    resumed: int  # frames found stylized in the work folder
    seconds: float
    seconds_per_frame: float  # of the frames stylized in this run
    rate: Fraction
    size: tuple[int, int]
    shots: tuple[tuple[int, int], ...] = ()  # (first, last) frame ranges between cuts
