"""Making a shot's frames so they do not flicker (Ruder, Dosovitskiy & Brox, GCPR 2016).

Each frame after a shot's first starts from the previous stylized frame warped onto it along the optical
flow, and a temporal term λ · mean(c · (x − warped previous)²) joins the objective (λ: the
temporal weight; γ is the smoothness term's), where c
(flow.consistency) is 0 at disocclusions and motion boundaries, so new content is free to take the style.
With long-term consistency, frames 1, 2 and 4 back each contribute where no closer frame is trusted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from impasto.apps.video import flow
from impasto.apps.video.events import VideoEvent
from impasto.apps.video.workdir import Workdir
from impasto.config import StyleConfig
from impasto.core.optimize import Progress
from impasto.errors import ImpastoError, OutOfMemory
from impasto.pipeline import Temporal, stylize_detailed

LONG_TERM_OFFSETS = (1, 2, 4)  # frames back, closest first (Ruder et al.'s J = {1, 2, 4})
# Weight of the temporal term (--temporal-weight): the other terms are relative (≈ 1 at the start),
# this one a mean of squared differences of pixels in [0, 1].
DEFAULT_TEMPORAL_WEIGHT = 200.0
MULTI_PASS_BLEND = 0.5  # δ: how much of the warped neighbour enters a frame's start in a later pass

Report = Callable[[VideoEvent], None] | None


@dataclass(frozen=True)
class FramePlan:
    """How every frame is made: the same on this machine and on a Ray worker."""

    styles: list[str]
    config: StyleConfig
    first_iterations: int
    later_iterations: int
    temporal_weight: float
    long_term: bool
    time_budget: float | None = None  # seconds per frame; then the frame keeps its best image so far


def _tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W, C) in [0, 255] (or [0, 1] floats) → (1, C, H, W) float in [0, 1]."""
    values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.dtype == np.uint8 or values.max() > 1.5:
        values = values / 255.0
    return values.permute(2, 0, 1).unsqueeze(0).contiguous()


def stylize_frame(
    t: int,
    content: np.ndarray,
    plan: FramePlan,
    iterations: int,
    temporal: Temporal | None,
    on_progress: Callable[[Progress], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> Image.Image:
    """Frame ``t`` ((H, W, 3) uint8) → its stylized image; with the plan's time budget, the best image
    so far once the budget is spent. A frame that diverged or ran out of memory fails the run, with one
    line that names the frame (an :class:`ImpastoError`; OutOfMemory when it had no image at all)."""
    started = time.monotonic()
    try:
        made = stylize_detailed(
            Image.fromarray(content),
            plan.styles,
            config=plan.config.with_options(iterations=iterations),
            callback=on_progress,
            temporal=temporal,
            status=status,
            deadline=None if plan.time_budget is None else started + plan.time_budget,
        )
    except OutOfMemory as error:
        raise OutOfMemory(f"frame {t + 1}: {error}") from None
    if made.ended not in ("made", "out of time"):
        raise ImpastoError(f"frame {t + 1}: {made.result.message or made.ended}")
    return made.image


def stylize_range(work: Workdir, first: int, last: int, plan: FramePlan, count: int, report: Report) -> None:
    """Frames first … last − 1 of one shot (or chunk), which starts fresh at ``first``."""
    for t in range(first, last):
        if work.has_stylized(t):
            continue
        content = work.frame(t)
        temporal = None
        iterations = plan.first_iterations
        if t > first and plan.temporal_weight > 0:
            iterations = plan.later_iterations
            temporal = _temporal(work, t, first, content, plan)

        def on_progress(progress: Progress, t: int = t) -> None:
            if report is not None:
                report(VideoEvent("progress", t, count, progress))

        def on_status(message: str, t: int = t) -> None:
            if report is not None:
                report(VideoEvent("status", t, count, message=message))

        work.save(t, stylize_frame(t, content, plan, iterations, temporal, on_progress, on_status))
        if report is not None:
            report(VideoEvent("frame", t, count))


def _temporal(work: Workdir, t: int, first: int, content: np.ndarray, plan: FramePlan) -> Temporal:
    """Frame ``t``'s start image and temporal targets from the frames before it in its shot."""
    offsets = [j for j in (LONG_TERM_OFFSETS if plan.long_term else (1,)) if t - j >= first]
    targets, weights = [], []
    init = None
    for j in offsets:
        forward, backward = work.flows(t, j)
        warped = flow.warp(work.stylized(t - j), backward)  # (H, W, 3) in [0, 1]
        c = flow.consistency(forward, backward)
        targets.append(warped)
        weights.append(c)
        if init is None:  # the closest frame starts the optimization; new content from the frame
            init = c[..., None] * warped + (1 - c[..., None]) * (content / 255.0)
    if plan.long_term:
        weights = flow.long_term_weights(weights)
    assert init is not None
    return Temporal(
        init=_tensor(init),
        targets=tuple(
            (_tensor(w), torch.from_numpy(c)[None, None]) for w, c in zip(targets, weights, strict=True)
        ),
        weight=plan.temporal_weight,
    )


def multi_pass(
    work: Workdir, first: int, last: int, plan: FramePlan, passes: int, count: int, report: Report
) -> None:
    """Ruder et al.'s multi-pass variant for one shot: a first pass stylizes every frame on its own; each
    later pass runs through the shot in the other direction, starting every frame from a blend of its
    last result and its neighbour's (this pass's) warped onto it, δ · c · warped + (1 − δ · c) · last,
    and holding it to that neighbour with the temporal term. Errors then spread both ways instead of
    piling up at the end of the shot. Each pass gives every frame ``later_iterations``."""
    results: dict[int, np.ndarray] = {}  # frame → its latest stylization, (H, W, 3) in [0, 1]

    def optimize(t: int, temporal: Temporal | None, iterations: int) -> np.ndarray:
        def on_progress(progress: Progress) -> None:
            if report is not None:
                report(VideoEvent("progress", t, count, progress))

        image = stylize_frame(t, work.frame(t), plan, iterations, temporal, on_progress)
        return np.asarray(image, dtype=np.float32) / 255.0

    for t in range(first, last):
        results[t] = optimize(t, None, plan.first_iterations)
    for index in range(1, passes):
        backward_pass = index % 2 == 1
        order = range(last - 2, first - 1, -1) if backward_pass else range(first + 1, last)
        for t in order:
            neighbour = t + 1 if backward_pass else t - 1
            if backward_pass:  # frame t+1 carried onto frame t: the pair (t+1, back 1) seen the other way
                forward, backward = work.flows(t + 1, 1)
                along, check = forward, flow.consistency(backward, forward)
            else:
                forward, backward = work.flows(t, 1)
                along, check = backward, flow.consistency(forward, backward)
            warped = flow.warp(results[neighbour], along)
            blend = MULTI_PASS_BLEND * check[..., None]
            init = blend * warped + (1 - blend) * results[t]
            temporal = Temporal(
                init=_tensor(init),
                targets=((_tensor(warped), torch.from_numpy(check)[None, None]),),
                weight=plan.temporal_weight,
            )
            results[t] = optimize(t, temporal, plan.later_iterations)
        if report is not None:
            report(VideoEvent("frame", last - 1, count))
    for t in range(first, last):
        work.save(t, Image.fromarray(np.round(results[t] * 255).astype(np.uint8)))
