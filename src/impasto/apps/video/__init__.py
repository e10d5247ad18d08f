"""Videos without flicker: Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016).

    stylize_video (here)   the run: checks, the work folder, shots, frames, the output file
    workdir.py             the work folder beside the output, the only code that knows its layout
    temporal.py            a shot's frames: warped starts, the temporal term, multi-pass
    remote.py              shots on a Ray cluster, a task each (through distributed.py)
    shots.py               cuts between scenes; chunks of a long shot
    flow.py                optical flow, warping, the consistency weights
    metrics.py             the warping error: how much a video flickers
    events.py              what a run reports and returns

A rerun with the same input, styles and options continues at the first frame missing from the work
folder; anything else starts it afresh. :func:`plan_video` says what a run would do, writing nothing
(``impasto video --dry-run``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from impasto.apps.video import shots as shot_ranges
from impasto.apps.video.events import VideoEvent, VideoResult
from impasto.apps.video.metrics import warping_error
from impasto.apps.video.remote import run_on_ray
from impasto.apps.video.shots import CUT_THRESHOLD, detect_cuts
from impasto.apps.video.temporal import (
    DEFAULT_TEMPORAL_WEIGHT,
    LONG_TERM_OFFSETS,
    FramePlan,
    multi_pass,
    stylize_range,
)
from impasto.apps.video.workdir import Workdir
from impasto.config import MIN_SIZE, StyleConfig, look_options
from impasto.core.devices import resolve_device
from impasto.errors import ConfigError, ImageError
from impasto.io import files, images, video_io
from impasto.plan import Plan, check_style_shape, make_plan

__all__ = [
    "CUT_THRESHOLD",
    "DEFAULT_TEMPORAL_WEIGHT",
    "LONG_TERM_OFFSETS",
    "VideoEvent",
    "VideoOptions",
    "VideoResult",
    "detect_cuts",
    "plan_video",
    "stylize_video",
    "warping_error",
]


@dataclass(frozen=True)
class VideoOptions:
    """How a video is made, beside the picture's options (StyleConfig): what :func:`stylize_video`,
    :func:`plan_video`, ``impasto video`` and the Ray tasks share, each written once."""

    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT  # each frame held to the one before (Ruder et al.)
    long_term: bool = False  # held to frames 1, 2 and 4 back, not only the one before
    independent: bool = False  # each frame alone: no temporal term (for comparison)
    frame_iterations: int | None = None  # a later frame's iterations (None: half the first frame's)
    cut_threshold: float = CUT_THRESHOLD  # how different two frames are at a cut (shots.py)
    chunk_frames: int | None = None  # shots split into chunks of so many frames, each afresh
    ray_address: str | None = None  # shots (or chunks) sent to a Ray cluster (distributed.py)
    passes: int = 1  # the paper's multi-pass variant when > 1 (temporal.multi_pass)
    time_budget: float | None = None  # seconds each frame may take


@dataclass(frozen=True)
class _Job:
    """A video run once every input and option is checked: what it reads, makes and writes."""

    config: StyleConfig  # at the frames' size, one scale
    info: video_io.VideoInfo
    style_paths: list[Path]
    work_folder: Path
    plan: FramePlan
    key: dict[str, Any]  # what the work folder was made for (job.json)
    first: Plan  # the run of a shot's first frame, as the pipeline will plan it
    later: Plan | None  # the run of every later frame, held to the ones before (None: no temporal term)


def _job(
    input_path: str | Path,
    styles: Sequence[str | Path],
    output_path: str | Path,
    config: StyleConfig | None,
    how: VideoOptions,
) -> _Job:
    """Every check a run makes before it writes anything, and the run they allow."""
    config = (config or StyleConfig()).with_options(multiscale=False)
    if config.content_masks or config.style_masks:
        raise ConfigError("masks belong to one image; a video cannot use them")
    _check_numbers(how)
    input_path, output_path = Path(input_path), Path(output_path)
    work_folder = _work_folder(input_path, styles, output_path)
    info = video_io.probe(input_path)
    if info.frames == 0:
        raise ImageError(f"{input_path}: not one frame of the video can be decoded")
    style_shapes = []
    for style in styles:  # every input checked before the work folder is made
        loaded = images.load(style, config.max_pixels, config.max_memory).image
        style_shapes.append((loaded.height, loaded.width))
    temporal = how.temporal_weight > 0 and not how.independent
    config, first, later, later_iterations = _frame_plans(
        config, (info.height, info.width), how.frame_iterations, temporal
    )
    first_iterations = first.scales[-1].iterations
    for style_shape in style_shapes:
        check_style_shape(style_shape, first.scales[0].style_size)
    style_paths = [Path(s) for s in styles]
    key = {
        "input": files.sha256(input_path),
        "styles": [files.sha256(s) for s in style_paths],
        "options": look_options(config),
        **_frames_key(how, later_iterations),
        "passes": how.passes,
        "chunk_frames": how.chunk_frames,
    }
    if how.time_budget is not None:  # only then: work folders of runs without one stay resumable
        key["time_budget"] = how.time_budget
    plan = FramePlan(
        styles=[str(s) for s in style_paths],
        config=config,
        first_iterations=first_iterations,
        later_iterations=later_iterations,
        temporal_weight=0.0 if how.independent else how.temporal_weight,
        long_term=how.long_term and not how.independent,
        time_budget=how.time_budget,
    )
    return _Job(config, info, style_paths, work_folder, plan, key, first, later)


def _frame_plans(
    config: StyleConfig, shape: tuple[int, int], frame_iterations: int | None, temporal: bool
) -> tuple[StyleConfig, Plan, Plan | None, int]:
    """(the frames' config, with their long side; the plan of a shot's first frame; that of the frames
    after it, which start from the one before, or None without the temporal term; the iterations of
    those) for frames of ``shape`` (H, W)."""
    # The device, the frames' size and iterations as `impasto` settles them for a picture
    # (pipeline.prepare: resolve_device, then make_plan), but a video is never enlarged: a --size
    # above its own long side is that side (or the smallest size there is).
    device = resolve_device(config.device)
    if config.size is not None and config.size > max(shape):
        config = config.with_options(size=max(MIN_SIZE, *shape))
    first = make_plan(config, shape, device)
    config = config.with_options(size=first.scales[-1].size)  # the frames' long side, from now on
    later, later_iterations = None, frame_iterations or max(1, first.scales[-1].iterations // 2)
    if temporal:
        again = config.with_options(iterations=later_iterations)
        later = make_plan(again, shape, device, video_frame=True)  # refuses what a frame cannot do
    return config, first, later, later_iterations


def _frames_key(how: VideoOptions, later_iterations: int) -> dict[str, Any]:
    """What the work folder's key holds of how the frames are made (one with a different key starts
    afresh)."""
    return {
        "temporal_weight": 0.0 if how.independent else how.temporal_weight,
        "long_term": how.long_term and not how.independent,
        "frame_iterations": later_iterations,
        "cut_threshold": how.cut_threshold,
    }


def _check_numbers(how: VideoOptions) -> None:
    """ConfigError for a video option out of its range, or passes where they cannot run."""
    if not how.temporal_weight >= 0:
        raise ConfigError(f"temporal weight must be ≥ 0, got {how.temporal_weight}")
    if how.passes < 1 or (how.passes > 1 and (how.independent or how.ray_address is not None)):
        raise ConfigError("passes must be ≥ 1, and several passes run here, with the temporal term on")
    if how.chunk_frames is not None and how.chunk_frames < 1:
        raise ConfigError(f"chunk frames must be ≥ 1, got {how.chunk_frames}")
    if how.time_budget is not None and not how.time_budget > 0:
        raise ConfigError(f"time budget must be > 0 seconds, got {how.time_budget}")


def _work_folder(input_path: Path, styles: Sequence[str | Path], output_path: Path) -> Path:
    """The work folder beside ``output_path``, once the output (a container impasto writes, in a
    writable folder) and the work folder are checked to leave every input alone."""
    video_io.check_output(output_path)
    work_folder = output_path.with_name(output_path.name + ".work")
    inputs = [input_path, *(Path(s) for s in styles)]
    files.check_outputs([("-o", output_path), ("the work folder", work_folder)], inputs)
    for path in inputs:  # the work folder is removed when a run starts afresh, with what is in it
        if Path(os.path.realpath(path)).is_relative_to(os.path.realpath(work_folder)):
            raise ConfigError(f"{path} is inside the work folder {work_folder}; move it out first")
    return work_folder


def plan_video(
    input_path: str | Path,
    styles: Sequence[str | Path],
    output_path: str | Path,
    config: StyleConfig | None = None,
    options: VideoOptions | None = None,
    **given: Any,
) -> str:
    """What :func:`stylize_video` with these arguments would do, for people, writing nothing: the video,
    the plan of a shot's first frame and of the frames after it, and what an earlier run left in the
    work folder. Raises what stylize_video raises before it writes anything."""
    how = dataclasses.replace(options or VideoOptions(), **given)
    job = _job(input_path, styles, output_path, config, how)
    info, plan = job.info, job.plan
    audio = ", with audio" if info.audio else ""
    chunks = f"; a fresh start every {how.chunk_frames} frames too" if how.chunk_frames else ""
    lines = [
        f"{Path(input_path).name}: {info.frames} frames of {info.width}×{info.height}, "
        f"{float(info.rate):g} a second{audio}",
        f"the first frame of each shot (the cuts are found once the frames are extracted{chunks}):",
        *(f"  {line}" for line in job.first.describe().splitlines()),
    ]
    if job.later is not None:
        back = "to frames 1, 2 and 4 back" if plan.long_term else "to it"
        lines.append(
            "every later frame starts from the one before, warped along the optical flow, and is held "
            f"{back} (temporal weight {plan.temporal_weight:g}):"
        )
        lines += [f"  {line}" for line in job.later.describe().splitlines()]
    else:
        lines.append("every later frame: the same, on its own (no temporal term)")
    if how.passes > 1:
        lines.append(f"then {how.passes - 1} more passes through each shot, in alternating directions")
    if how.time_budget is not None:
        lines.append(f"each frame stops after {how.time_budget:g} s with its best image so far")
    kept = _resumable(job.work_folder, job.key)
    if kept is None:
        lines.append(f"work folder {job.work_folder}: none to continue from; made afresh")
    else:
        lines.append(f"work folder {job.work_folder}: {kept} frames stylized by an earlier run; it continues")
    return "\n".join(lines)


def _resumable(work_folder: Path, key: dict[str, Any]) -> int | None:
    """Frames an earlier run with the same job left stylized in ``work_folder`` (None: it starts afresh;
    Workdir.for_job decides the same way, but this only reads)."""
    try:
        same = json.loads((work_folder / "job.json").read_text()) == json.loads(json.dumps(key))
    except (OSError, ValueError):
        return None
    return sum(1 for _ in (work_folder / "stylized").glob("*.png")) if same else None


def stylize_video(
    input_path: str | Path,
    styles: Sequence[str | Path],
    output_path: str | Path,
    config: StyleConfig | None = None,
    options: VideoOptions | None = None,
    *,
    keep_work: bool = True,
    callback: Callable[[VideoEvent], None] | None = None,
    **given: Any,
) -> VideoResult:
    """Stylize every frame of ``input_path`` into ``output_path`` (.mp4, .mov, .mkv) with the input's
    frame rate (or frame times) and audio. How: ``options`` (:class:`VideoOptions`), its fields also
    given as keywords (``given``, over ``options``). ``independent`` turns the temporal terms off (each
    frame alone, for comparison). ``frame_iterations``: iterations for every frame after a shot's first, which
    starts from scratch (default: half of the config's). A cut (``cut_threshold``) starts a new shot
    afresh, with no temporal term across it; ``chunk_frames`` splits shots into chunks that start afresh
    too (a seam every so many frames, for spreading one long shot over many workers). ``ray_address``
    sends shots (or chunks) to a Ray cluster as independent tasks (distributed.py). ``passes`` > 1: the
    paper's multi-pass variant (temporal.multi_pass; on this machine, not resumable mid-shot).
    ``time_budget``: seconds each frame may take; then it keeps its best image so far."""
    how = dataclasses.replace(options or VideoOptions(), **given)
    job = _job(input_path, styles, output_path, config, how)
    input_path, output_path = Path(input_path), Path(output_path)
    config, info, plan = job.config, job.info, job.plan
    assert config.size is not None  # _job settled it: the frames' long side
    long_side = config.size
    work = Workdir.for_job(job.work_folder, job.key)
    with work.removed_unless_resumable():

        def on_frame(index: int) -> None:
            if callback is not None:
                callback(VideoEvent("frames", index, 0))

        count = work.extract(input_path, long_side, on_frame)
        shots = shot_ranges.shots(work, count, how.cut_threshold)
        start = time.perf_counter()
        resumed = sum(1 for t in range(count) if work.has_stylized(t))
        todo = _todo(work, shot_ranges.chunks(shots, how.chunk_frames), count, callback)
        _stylize_ranges(work, todo, plan, count, how.passes, how.ray_address, callback)
        made = count - resumed
        stylize_seconds = time.perf_counter() - start
        if callback is not None:
            callback(VideoEvent("write", count - 1, count))
        _write(work, output_path, input_path, info, count)
    size = work.stylized_image(0).size
    if not keep_work:
        work.remove()
    return VideoResult(
        output=output_path,
        frames=count,
        resumed=resumed,
        seconds=time.perf_counter() - start,
        seconds_per_frame=stylize_seconds / made if made else 0.0,
        rate=info.rate,
        size=size,
        shots=tuple(shots),
    )


def _todo(
    work: Workdir,
    ranges: Sequence[tuple[int, int]],
    count: int,
    callback: Callable[[VideoEvent], None] | None,
) -> list[tuple[int, int]]:
    """The (first, last) frame ranges of ``ranges`` not all stylized yet; ``callback`` hears of each
    frame an earlier run stylized (skipped)."""
    todo = [
        (first, last) for first, last in ranges if not all(work.has_stylized(t) for t in range(first, last))
    ]
    for t in range(count):
        if work.has_stylized(t) and callback is not None:
            callback(VideoEvent("frame", t, count, skipped=True))
    return todo


def _stylize_ranges(
    work: Workdir,
    todo: Sequence[tuple[int, int]],
    plan: FramePlan,
    count: int,
    passes: int,
    ray_address: str | None,
    callback: Callable[[VideoEvent], None] | None,
) -> None:
    """Each range of ``todo`` stylized: in several passes, on a Ray cluster, or here, one after another."""
    if passes > 1 and todo:
        for first, last in todo:
            multi_pass(work, first, last, plan, passes, count, callback)
    elif ray_address is not None and todo:
        run_on_ray(ray_address, work, list(todo), plan, count, callback)
    else:
        for first, last in todo:
            stylize_range(work, first, last, plan, count, callback)


def _write(work: Workdir, output_path: Path, input_path: Path, info: video_io.VideoInfo, count: int) -> None:
    """The ``count`` stylized frames written to ``output_path`` at the input's rate, with its audio."""
    video_io.write_video(
        output_path,
        (np.asarray(work.stylized_image(t), dtype=np.uint8) for t in range(count)),
        info.rate,
        audio_from=input_path if info.audio else None,
        # A variable frame rate keeps each frame's time (the frames are the input's, one for one).
        times=info.times if info.variable_rate and len(info.times) == count else None,
    )
