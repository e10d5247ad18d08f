"""Outputs larger than memory: optimize the image in overlapping tiles.

The style targets stay global — what the style loss keeps of the painting (Gram matrices), gathered
over the whole style image tile by tile — so every tile is pulled towards the same style; the content
targets of a tile are the content image's features under it. Tiles are optimized one after another
on one canvas: each starts from what the canvas holds (its neighbours' results in the overlap) and is
blended back with weights that ramp across the overlap, so no seam shows. This is about memory, not
speed: a tiled pass costs more than one over the whole image, because the overlaps are computed twice.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from impasto.core.backbone import FeatureExtractor
from impasto.core.optimize import Interrupted, RunResult

# Memory of one L-BFGS iteration by pixels of the optimized image, measured on the CPU with VGG-16 up to
# relu5_1 and history 50 (bench/speed.py: 598 MB at 256×170, 1025 MB at 512×341 px): activations and
# their gradients (~2 KB/px) plus L-BFGS's 50 pairs of image-sized vectors (1.2 KB/px).
BYTES_PER_PIXEL = 3400
# Memory a tiled run keeps at the output size beside the tile being optimized: the canvas and its
# copy, the content image, the start image and the previous scale upsampled (float32 RGB, 12 B/px each),
# and the result as 8-bit images.
CANVAS_BYTES_PER_PIXEL = 72
SAFETY = 0.75  # of the budget left after what the process already holds
MIN_TILE = 128
OVERLAP = 64  # px shared by neighbouring tiles (relu5_1's receptive field is much larger; 64 px hides seams)


def available_memory(device: torch.device) -> int:
    """Bytes free for this process: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def resident_memory() -> int:
    """Bytes this process holds now (its resident set)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def max_tile_pixels(budget: int, device: torch.device) -> int:
    """How many pixels one optimization step may touch within ``budget`` bytes."""
    held = resident_memory() if device.type == "cpu" else torch.cuda.memory_allocated(device)
    return max(0, int((budget - held) * SAFETY / BYTES_PER_PIXEL))


@dataclass(frozen=True)
class Tile:
    """A window of the image: rows top:bottom, columns left:right."""

    top: int
    bottom: int
    left: int
    right: int

    def of(self, image: torch.Tensor) -> torch.Tensor:
        return image[..., self.top : self.bottom, self.left : self.right]


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if tile >= length:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """Windows of at most ``tile`` × ``tile`` px covering (height, width), neighbours overlapping by at
    least ``overlap`` px, row by row."""
    return [
        Tile(top, min(top + tile, height), left, min(left + tile, width))
        for top in _starts(height, tile, overlap)
        for left in _starts(width, tile, overlap)
    ]


def blend_weight(window: Tile, overlap: int) -> torch.Tensor:
    """(1, 1, h, w) weights for blending a window back, tiles being done row by row: 1 inside, ramping
    linearly from 0 across ``overlap`` on its top and left sides unless they are the image's edges —
    there it meets tiles already done. Its bottom and right overlaps are taken whole: the tiles below
    and to the right start from them and ramp over them in turn, so no pixel keeps a share of the
    unoptimized image."""
    h, w = window.bottom - window.top, window.right - window.left

    def ramp(n: int, at_edge: bool) -> torch.Tensor:
        weight = torch.ones(n)
        if not at_edge:
            steps = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
            weight[: min(overlap, n)] = steps[: min(overlap, n)]
        return weight

    rows, columns = ramp(h, window.top == 0), ramp(w, window.left == 0)
    return (rows[:, None] * columns[None, :])[None, None]


def tiled_features(
    extractor: FeatureExtractor, image: torch.Tensor, tile: int, margin: int = OVERLAP
) -> Iterator[dict[str, torch.Tensor]]:
    """The features of ``image`` (1, 3, H, W), a tile at a time: layer → (1, C, h', w'), the features
    of each tile's core (the positions no other tile owns), computed without gradients.

    Each tile is run with ``margin`` px of context on every side and only its core is kept, so that
    statistics summed over the pieces (Gram matrices: :class:`impasto.core.style.gram.Gram`) match the
    whole image's up to the zero padding at tile borders, which the margin keeps away from the cores.
    """
    height, width = image.shape[-2:]
    core = max(32, tile - 2 * margin)
    for top, left in _cores(height, width, core):
        bottom, right = min(top + core, height), min(left + core, width)
        window = Tile(
            max(0, top - margin),
            min(height, bottom + margin),
            max(0, left - margin),
            min(width, right + margin),
        )
        with torch.no_grad():
            features = extractor(window.of(image))
        cores = {}
        for name, f in features.items():  # (1, C, h', w')
            stride_y = (window.bottom - window.top) / f.shape[-2]
            stride_x = (window.right - window.left) / f.shape[-1]
            y0, y1 = round((top - window.top) / stride_y), round((bottom - window.top) / stride_y)
            x0, x1 = round((left - window.left) / stride_x), round((right - window.left) / stride_x)
            cores[name] = f[..., y0:y1, x0:x1]
        yield cores


def _cores(height: int, width: int, core: int) -> Iterator[tuple[int, int]]:
    for top in range(0, height, core):
        for left in range(0, width, core):
            yield top, left


def optimize_tiled(
    start: torch.Tensor,
    side: int,
    optimize_window: Callable[[int, int, Tile, torch.Tensor], RunResult],
) -> RunResult:
    """A tiled scale: ``start`` (1, 3, H, W) optimized in overlapping windows of at most ``side`` px,
    ``optimize_window(index, count, window, its start)`` optimizing each (see :func:`run_tiled`). The
    result: the canvas, the tiles' mean loss, and how many tiles stopped early."""
    windows = tiles(start.shape[-2], start.shape[-1], side, OVERLAP)
    outcomes: list[RunResult] = []

    def optimize_tile(index: int, window: Tile, tile_start: torch.Tensor) -> torch.Tensor:
        outcome = optimize_window(index, len(windows), window, tile_start)
        outcomes.append(outcome)
        return outcome.image

    def stopped() -> bool:
        return outcomes[-1].stopped == "stopped"

    canvas = run_tiled(start, windows, OVERLAP, optimize_tile, stopped)
    if stopped():  # asked to stop: the tiles done and the one under way, the rest as they started
        return dataclasses.replace(outcomes[-1], image=canvas)
    diverged = [o for o in outcomes if o.stopped != "done"]
    return RunResult(
        image=canvas,
        loss=sum(o.loss for o in outcomes) / len(outcomes),
        iterations=outcomes[-1].iterations,
        stopped="done",
        message=f"{len(diverged)} of {len(windows)} tiles stopped early" if diverged else "",
    )


def run_tiled(
    canvas: torch.Tensor,
    windows: list[Tile],
    overlap: int,
    optimize_tile: Callable[[int, Tile, torch.Tensor], torch.Tensor],
    stop: Callable[[], bool] | None = None,
) -> torch.Tensor:
    """Optimize ``canvas`` (1, 3, H, W) window by window: ``optimize_tile(index, window, start)`` returns
    the optimized window, which is blended back with :func:`blend_weight`. Returns the new canvas; where
    ``stop()`` says so after a window, the windows after it are left as they are."""
    canvas = canvas.clone()
    for index, window in enumerate(windows):
        try:
            result = optimize_tile(index, window, window.of(canvas).clone())
        except Interrupted as stop:
            _paste(canvas, window, stop.result.image, overlap)
            raise Interrupted(dataclasses.replace(stop.result, image=canvas)) from None
        _paste(canvas, window, result, overlap)
        if stop is not None and stop():
            break
    return canvas


def _paste(canvas: torch.Tensor, window: Tile, result: torch.Tensor, overlap: int) -> None:
    weight = blend_weight(window, overlap).to(canvas)
    region = window.of(canvas)
    region.copy_(region * (1 - weight) + result * weight)
