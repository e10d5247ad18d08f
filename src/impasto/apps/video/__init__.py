"""Videos without flicker: Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos" (GCPR 2016).

Stylizing frames one by one flickers: every frame's optimization lands somewhere else. Here each frame
starts from the previous stylized frame warped onto it along the optical flow, and a temporal term
γ · mean(c · (x − warped previous)²) joins the objective, where c (flow.consistency) is 0 at
disocclusions and motion boundaries, so new content is free to take the style. With long-term
consistency, frames 1, 2 and 4 back each contribute where no closer frame is trusted.

Everything lives in a work folder beside the output (``OUT.mp4.work/``): the frames at the working
size, the flows, and the stylized frames, each written atomically. A rerun with the same input, styles
and options continues at the first missing frame; anything else starts the work folder afresh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from impasto.apps import batch
from impasto.apps.video import flow
from impasto.config import StyleConfig
from impasto.core.optimize import Progress
from impasto.errors import ConfigError, ImageError, ImpastoError
from impasto.io import images, video_io
from impasto.pipeline import Temporal, stylize_detailed

LONG_TERM_OFFSETS = (1, 2, 4)  # frames back, closest first (Ruder et al.'s J = {1, 2, 4})
DEFAULT_TEMPORAL_WEIGHT = 200.0  # γ; the other terms are relative (≈ 1 at the start), this one a mean
# Mean absolute difference (grey, [0, 1], at 32 × 18) between consecutive frames above which a new shot
# begins: a pan or a walk stays far below, a cut to another scene far above.
CUT_THRESHOLD = 0.12


@dataclass(frozen=True)
class VideoEvent:
    kind: Literal["frames", "frame", "progress", "write"]
    index: int  # 0-based frame
    total: int
    progress: Progress | None = None
    skipped: bool = False  # a frame already stylized by an earlier run


@dataclass(frozen=True)
class VideoResult:
    output: Path
    frames: int
    resumed: int  # frames found done in the work folder
    seconds: float
    seconds_per_frame: float  # of the frames stylized in this run
    rate: Any
    size: tuple[int, int]
    shots: tuple[tuple[int, int], ...] = ()  # (first, last) frame ranges between cuts


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _tensor(array: np.ndarray) -> torch.Tensor:
    """(H, W, C) in [0, 255] (or [0, 1] floats) → (1, C, H, W) float in [0, 1]."""
    values = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if array.dtype == np.uint8 or values.max() > 1.5:
        values = values / 255.0
    return values.permute(2, 0, 1).unsqueeze(0).contiguous()


def stylize_video(
    input_path: str | Path,
    styles: Sequence[str | Path],
    output_path: str | Path,
    config: StyleConfig | None = None,
    *,
    temporal_weight: float = DEFAULT_TEMPORAL_WEIGHT,
    long_term: bool = False,
    independent: bool = False,
    frame_iterations: int | None = None,
    keep_work: bool = True,
    cut_threshold: float = CUT_THRESHOLD,
    chunk_frames: int | None = None,
    ray_address: str | None = None,
    passes: int = 1,
    callback: Callable[[VideoEvent], None] | None = None,
) -> VideoResult:
    """Stylize every frame of ``input_path`` into ``output_path`` (.mp4, .mov, .mkv) with the input's
    frame rate and audio. ``independent`` turns the temporal terms off (each frame alone, for
    comparison). ``frame_iterations``: iterations for every frame after the first, which starts from
    scratch (default: half of the config's). A cut (``cut_threshold``) starts a new shot afresh, with
    no temporal term across it; ``chunk_frames`` splits shots into chunks that start afresh too (a seam
    every so many frames, for spreading one long shot over many workers). ``ray_address`` sends shots
    (or chunks) to a Ray cluster as independent tasks (distributed.py). ``passes`` > 1: the paper's
    multi-pass variant (see :func:`_multi_pass`; on this machine, not resumable mid-shot)."""
    config = (config or StyleConfig()).with_options(multiscale=False)
    if config.content_masks or config.style_masks:
        raise ConfigError("masks belong to one image; a video cannot use them")
    if not temporal_weight >= 0:
        raise ConfigError(f"temporal weight must be ≥ 0, got {temporal_weight}")
    input_path, output_path = Path(input_path), Path(output_path)
    video_io._format(output_path)  # a writable container, checked before the long run
    images.check_writable(output_path)
    info = video_io.probe(input_path)
    if info.frames == 0:
        raise ImageError(f"{input_path}: not one frame of the video can be decoded")
    for style in styles:  # every input checked before the work folder is made
        images.load(style, config.max_pixels, config.max_memory)
    on_gpu = torch.cuda.is_available() and (config.device == "auto" or config.device.startswith("cuda"))
    long_side = min(config.resolved_size(on_gpu), max(info.width, info.height))
    config = config.with_options(size=long_side)
    later_iterations = frame_iterations or max(1, config.resolved_iterations(on_gpu) // 2)
    style_paths = [Path(s) for s in styles]
    work = output_path.with_name(output_path.name + ".work")
    key = {
        "input": batch.file_digest(input_path),
        "styles": [batch.file_digest(s) for s in style_paths],
        "options": batch.options_for_key(config),
        "temporal_weight": 0.0 if independent else temporal_weight,
        "long_term": long_term and not independent,
        "frame_iterations": later_iterations,
        "cut_threshold": cut_threshold,
        "passes": passes,
        "chunk_frames": chunk_frames,
    }
    if passes < 1 or (passes > 1 and (independent or ray_address is not None)):
        raise ConfigError("passes must be ≥ 1, and several passes run here, with the temporal term on")
    if chunk_frames is not None and chunk_frames < 1:
        raise ConfigError(f"chunk frames must be ≥ 1, got {chunk_frames}")
    _prepare(work, key)
    with _removed_unless_resumable(work):
        frames_dir, done_dir = work / "frames", work / "stylized"
        count = _extract(input_path, frames_dir, long_side, callback)
        store = _Work(work)
        shots = _shots(store, count, cut_threshold)
        plan = _Plan(
            styles=[str(s) for s in style_paths],
            config=config,
            first_iterations=config.resolved_iterations(on_gpu),
            later_iterations=later_iterations,
            temporal_weight=0.0 if independent else temporal_weight,
            long_term=long_term and not independent,
        )
        start = time.perf_counter()
        resumed = sum(1 for t in range(count) if store.done(t))
        todo = [
            (first, last)
            for first, last in _chunks(shots, chunk_frames)
            if not all(store.done(t) for t in range(first, last))
        ]
        for t in range(count):
            if store.done(t) and callback is not None:
                callback(VideoEvent("frame", t, count, skipped=True))
        if passes > 1 and todo:
            for first, last in todo:
                _multi_pass(store, first, last, plan, passes, count, callback)
        elif ray_address is not None and todo:
            _run_on_ray(ray_address, store, todo, plan, count, callback)
        else:
            for first, last in todo:
                _stylize_range(store, first, last, plan, count, callback)
        made = count - resumed
        stylize_seconds = time.perf_counter() - start
        if callback is not None:
            callback(VideoEvent("write", count - 1, count))
        video_io.write_video(
            output_path,
            (_array(Image.open(done_dir / f"{t:06d}.png")) for t in range(count)),
            info.rate,
            audio_from=input_path if info.audio else None,
            # A variable frame rate keeps each frame's time (the frames are the input's, one for one).
            times=info.times if info.variable_rate and len(info.times) == count else None,
        )
    size = Image.open(done_dir / f"{0:06d}.png").size
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
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


class _Work:
    """The work folder: frames/NNNNNN.png (input at the working size), flows/, stylized/NNNNNN.png."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("frames", "flows", "stylized"):
            (root / name).mkdir(parents=True, exist_ok=True)

    def frame(self, t: int) -> np.ndarray:
        return _array(Image.open(self.root / "frames" / f"{t:06d}.png"))

    def done(self, t: int) -> bool:
        return (self.root / "stylized" / f"{t:06d}.png").is_file()

    def stylized(self, t: int) -> np.ndarray:
        image = Image.open(self.root / "stylized" / f"{t:06d}.png").convert("RGB")
        return np.asarray(image, dtype=np.float32) / 255.0

    def save(self, t: int, image: Image.Image) -> None:
        images.save(image, self.root / "stylized" / f"{t:06d}.png")

    def flows(self, t: int, back: int) -> tuple[np.ndarray, np.ndarray]:
        """(forward t−back → t, backward t → t−back), computed once and kept."""
        path = self.root / "flows" / f"{t:06d}_{back}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["forward"], cached["backward"]
        a, b = self.frame(t - back), self.frame(t)
        forward, backward = flow.flow(a, b), flow.flow(b, a)
        temp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.part")  # swept if a run dies here
        with temp.open("wb") as file:  # a file object: np.savez would add ".npz" to a name
            np.savez(file, forward=forward, backward=backward)
        temp.replace(path)
        return forward, backward


@dataclass(frozen=True)
class _Plan:
    """How every frame is made: the same on this machine and on a Ray worker."""

    styles: list[str]
    config: StyleConfig
    first_iterations: int
    later_iterations: int
    temporal_weight: float
    long_term: bool


def _stylize_range(
    store: _Work,
    first: int,
    last: int,
    plan: _Plan,
    count: int,
    callback: Callable[[VideoEvent], None] | None,
) -> None:
    """Frames first … last − 1 of one shot (or chunk), which starts fresh at ``first``."""
    for t in range(first, last):
        if store.done(t):
            continue
        content = store.frame(t)
        temporal = None
        iterations = plan.first_iterations
        if t > first and plan.temporal_weight > 0:
            iterations = plan.later_iterations
            offsets = [j for j in (LONG_TERM_OFFSETS if plan.long_term else (1,)) if t - j >= first]
            targets, weights = [], []
            init = None
            for j in offsets:
                forward, backward = store.flows(t, j)
                warped = flow.warp(store.stylized(t - j), backward)  # (H, W, 3) in [0, 1]
                c = flow.consistency(forward, backward)
                targets.append(warped)
                weights.append(c)
                if init is None:  # the closest frame starts the optimization; new content from the frame
                    init = c[..., None] * warped + (1 - c[..., None]) * (content / 255.0)
            if plan.long_term:
                weights = flow.long_term_weights(weights)
            assert init is not None
            temporal = Temporal(
                init=_tensor(init),
                targets=tuple(
                    (_tensor(w), torch.from_numpy(c)[None, None])
                    for w, c in zip(targets, weights, strict=True)
                ),
                weight=plan.temporal_weight,
            )

        def on_progress(progress: Progress, t: int = t) -> None:
            if callback is not None:
                callback(VideoEvent("progress", t, count, progress))

        done = stylize_detailed(
            Image.fromarray(content),
            plan.styles,
            config=plan.config.with_options(iterations=iterations),
            callback=on_progress,
            temporal=temporal,
        )
        if done.result.stopped != "done":
            raise ImpastoError(f"frame {t + 1}: {done.result.message}")
        store.save(t, done.image)
        if callback is not None:
            callback(VideoEvent("frame", t, count))


MULTI_PASS_BLEND = 0.5  # δ: how much of the warped neighbour enters a frame's start in a later pass


def _multi_pass(
    store: _Work,
    first: int,
    last: int,
    plan: _Plan,
    passes: int,
    count: int,
    callback: Callable[[VideoEvent], None] | None,
) -> None:
    """Ruder et al.'s multi-pass variant for one shot: a first pass stylizes every frame on its own; each
    later pass runs through the shot in the other direction, starting every frame from a blend of its
    last result and its neighbour's (this pass's) warped onto it, δ · c · warped + (1 − δ · c) · last,
    and holding it to that neighbour with the temporal term. Errors then spread both ways instead of
    piling up at the end of the shot. Each pass gives every frame ``later_iterations``."""
    results: dict[int, np.ndarray] = {}  # frame → its latest stylization, (H, W, 3) in [0, 1]

    def optimize(t: int, temporal: Temporal | None, iterations: int) -> np.ndarray:
        done = stylize_detailed(
            Image.fromarray(store.frame(t)),
            plan.styles,
            config=plan.config.with_options(iterations=iterations),
            temporal=temporal,
        )
        if done.result.stopped != "done":
            raise ImpastoError(f"frame {t + 1}: {done.result.message}")
        return np.asarray(done.image, dtype=np.float32) / 255.0

    for t in range(first, last):
        results[t] = optimize(t, None, plan.first_iterations)
    for index in range(1, passes):
        backward_pass = index % 2 == 1
        order = range(last - 2, first - 1, -1) if backward_pass else range(first + 1, last)
        for t in order:
            neighbour = t + 1 if backward_pass else t - 1
            if backward_pass:  # frame t+1 carried onto frame t: the pair (t+1, back 1) seen the other way
                forward, backward = store.flows(t + 1, 1)
                along, check = forward, flow.consistency(backward, forward)
            else:
                forward, backward = store.flows(t, 1)
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
        if callback is not None:
            callback(VideoEvent("frame", last - 1, count))
    for t in range(first, last):
        store.save(t, Image.fromarray(np.round(results[t] * 255).astype(np.uint8)))


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


def _shots(store: _Work, count: int, threshold: float) -> list[tuple[int, int]]:
    """(first, last) frame ranges of the shots, from the cuts (kept in the work folder)."""
    path = store.root / "shots.json"
    if path.is_file():
        return [(int(a), int(b)) for a, b in json.loads(path.read_text())]
    starts = detect_cuts([store.frame(t) for t in range(count)], threshold)
    shots = [(a, b) for a, b in zip(starts, [*starts[1:], count], strict=True)]
    path.write_text(json.dumps(shots))
    return shots


def _chunks(shots: Sequence[tuple[int, int]], size: int | None) -> list[tuple[int, int]]:
    """Shots split into pieces of at most ``size`` frames (each piece starts fresh: a seam)."""
    if not size:
        return list(shots)
    return [(a, min(a + size, last)) for first, last in shots for a in range(first, last, size)]


def _remote_range(
    frames: list[bytes],
    done: dict[int, bytes],
    first: int,
    last: int,
    plan: _Plan,
    styles: list[tuple[str, bytes]],
) -> dict[int, bytes]:
    """Runs on a Ray worker: one shot (or chunk) in a private work folder; returns the new frames as PNG."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="impasto-video-") as tmp:
        store = _Work(Path(tmp) / "work")
        style_paths = []
        for index, (name, data) in enumerate(styles):
            path = Path(tmp) / f"style{index}{Path(name).suffix}"
            path.write_bytes(data)
            style_paths.append(str(path))
        plan = dataclasses.replace(plan, styles=style_paths)
        for offset, data in enumerate(frames):
            (store.root / "frames" / f"{first + offset:06d}.png").write_bytes(data)
        for t, data in done.items():
            (store.root / "stylized" / f"{t:06d}.png").write_bytes(data)
        _stylize_range(store, first, last, plan, last, None)
        return {
            t: (store.root / "stylized" / f"{t:06d}.png").read_bytes()
            for t in range(first, last)
            if t not in done
        }


def _run_on_ray(
    address: str,
    store: _Work,
    ranges: list[tuple[int, int]],
    plan: _Plan,
    count: int,
    callback: Callable[[VideoEvent], None] | None,
) -> None:
    """Shots are independent: one task each; frames inside a shot stay in order on one worker. The
    driver writes every stylized frame into the work folder."""
    from impasto import distributed

    ray = distributed.connect(address)
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(max_retries=distributed.MAX_RETRIES, **({"num_gpus": 1} if gpus else {"num_cpus": 1}))(
        _remote_range
    )
    remote_plan = dataclasses.replace(plan, styles=[])
    style_files = [(Path(s).name, Path(s).read_bytes()) for s in plan.styles]
    pending = {}
    for first, last in ranges:
        frames = [(store.root / "frames" / f"{t:06d}.png").read_bytes() for t in range(first, last)]
        done = {
            t: (store.root / "stylized" / f"{t:06d}.png").read_bytes()
            for t in range(first, last)
            if store.done(t)
        }
        reference = task.remote(frames, done, first, last, remote_plan, style_files)
        pending[reference] = (first, last)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for reference in ready:
            pending.pop(reference)
            for t, data in sorted(ray.get(reference).items()):
                store.save(t, images.load(data, plan.config.max_pixels).image)
                if callback is not None:
                    callback(VideoEvent("frame", t, count))


@contextlib.contextmanager
def _removed_unless_resumable(work: Path) -> Iterator[None]:
    """On any failure (Ctrl-C included), remove ``work`` if it holds no stylized frame: extracted
    frames alone are quick to make again, and a folder left behind would only puzzle."""
    try:
        yield
    except BaseException:
        if not any((work / "stylized").glob("*.png")):
            shutil.rmtree(work, ignore_errors=True)
        raise


def _prepare(work: Path, key: dict[str, Any]) -> None:
    """Make ``work`` ready for ``key``: kept if it was made for the same job, emptied otherwise."""
    meta = work / "job.json"
    try:
        same = json.loads(meta.read_text()) == json.loads(json.dumps(key))
    except (OSError, ValueError):
        same = False
    if not same and work.exists():
        shutil.rmtree(work)
    for name in ("frames", "flows", "stylized"):
        (work / name).mkdir(parents=True, exist_ok=True)
    batch.sweep_temporaries(work)
    if not same:
        meta.write_text(json.dumps(key, indent=1))


def _extract(path: Path, folder: Path, long_side: int, callback: Callable[[VideoEvent], None] | None) -> int:
    """The input's frames at the working size, once: returns how many there are."""
    marker = folder / "count.json"
    if marker.is_file():
        count: int = json.loads(marker.read_text())["frames"]
        return count
    count = 0
    for index, array in enumerate(video_io.read_frames(path)):
        image = images.fit(Image.fromarray(array), long_side)
        images.save(image, folder / f"{index:06d}.png")
        count = index + 1
        if callback is not None:
            callback(VideoEvent("frames", index, 0))
    if count == 0:
        raise ImpastoError(f"{path}: the video has no frames")
    marker.write_text(json.dumps({"frames": count}))
    return count


def warping_error(output_path: str | Path, input_path: str | Path) -> dict[str, Any]:
    """Temporal consistency of a stylized video (Lai et al., ECCV 2018): the mean over consecutive frame
    pairs of Σ M · ‖O_t − warp(O_{t−1})‖² / Σ M, with the flow and the mask M computed on the input
    frames (resized to the output's size), pixels in [0, 1]. Lower flickers less."""
    outputs = list(video_io.read_frames(Path(output_path)))
    inputs = list(video_io.read_frames(Path(input_path)))
    if len(outputs) != len(inputs):
        raise ImpastoError(f"{output_path} has {len(outputs)} frames, {input_path} {len(inputs)}")
    if len(outputs) < 2:
        raise ImpastoError("the warping error needs at least two frames")
    h, w = outputs[0].shape[:2]
    inputs = [_array(Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS)) for f in inputs]
    errors = []
    for t in range(1, len(outputs)):
        forward, backward = flow.flow(inputs[t - 1], inputs[t]), flow.flow(inputs[t], inputs[t - 1])
        mask = flow.consistency(forward, backward, soften=False)
        warped = flow.warp(outputs[t - 1].astype(np.float32) / 255.0, backward)
        difference = np.sum((outputs[t].astype(np.float32) / 255.0 - warped) ** 2, axis=-1)
        errors.append(float(np.sum(mask * difference) / max(float(mask.sum()), 1.0)))
    return {"warping_error": float(np.mean(errors)), "pairs": float(len(errors)), "per_pair": errors}
