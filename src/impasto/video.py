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

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from impasto import batch, flow, images, video_io
from impasto.api import Temporal, stylize_detailed
from impasto.config import StyleConfig
from impasto.errors import ConfigError, ImpastoError
from impasto.optimize import Progress

LONG_TERM_OFFSETS = (1, 2, 4)  # frames back, closest first (Ruder et al.'s J = {1, 2, 4})
DEFAULT_TEMPORAL_WEIGHT = 200.0  # γ; the other terms are relative (≈ 1 at the start), this one a mean


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
    callback: Callable[[VideoEvent], None] | None = None,
) -> VideoResult:
    """Stylize every frame of ``input_path`` into ``output_path`` (.mp4, .mov, .mkv) with the input's
    frame rate and audio. ``independent`` turns the temporal terms off (each frame alone, for
    comparison). ``frame_iterations``: iterations for every frame after the first, which starts from
    scratch (default: half of the config's)."""
    config = (config or StyleConfig()).with_options(multiscale=False)
    if config.content_masks or config.style_masks:
        raise ConfigError("masks belong to one image; a video cannot use them")
    if not temporal_weight >= 0:
        raise ConfigError(f"temporal weight must be ≥ 0, got {temporal_weight}")
    input_path, output_path = Path(input_path), Path(output_path)
    video_io._format(output_path)  # a writable container, checked before the long run
    images.check_output(output_path.with_suffix(".png"))  # the folder exists and is writable
    info = video_io.probe(input_path)
    on_gpu = torch.cuda.is_available() and config.device in ("auto", "cuda")
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
    }
    _prepare(work, key)
    frames_dir, flows_dir, done_dir = work / "frames", work / "flows", work / "stylized"
    count = _extract(input_path, frames_dir, long_side, callback)

    def frame(t: int) -> np.ndarray:
        return _array(Image.open(frames_dir / f"{t:06d}.png"))

    def stylized(t: int) -> np.ndarray:
        return np.asarray(Image.open(done_dir / f"{t:06d}.png").convert("RGB"), dtype=np.float32) / 255.0

    def flows(t: int, back: int) -> tuple[np.ndarray, np.ndarray]:
        """(forward t−back → t, backward t → t−back), cached in the work folder."""
        path = flows_dir / f"{t:06d}_{back}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["forward"], cached["backward"]
        a, b = frame(t - back), frame(t)
        forward, backward = flow.flow(a, b), flow.flow(b, a)
        temp = path.with_name(f".{path.stem}.{np.random.randint(1 << 30):08x}.npz")
        np.savez(temp, forward=forward, backward=backward)
        temp.replace(path)
        return forward, backward

    start = time.perf_counter()
    resumed, made = 0, 0
    for t in range(count):
        target = done_dir / f"{t:06d}.png"
        if target.is_file():
            resumed += 1
            if callback is not None:
                callback(VideoEvent("frame", t, count, skipped=True))
            continue
        content = frame(t)
        temporal = None
        iterations = config.resolved_iterations(on_gpu)
        if t > 0 and not independent:
            iterations = later_iterations
            offsets = [j for j in (LONG_TERM_OFFSETS if long_term else (1,)) if j <= t]
            targets, weights = [], []
            init = None
            for j in offsets:
                forward, backward = flows(t, j)
                warped = flow.warp(stylized(t - j), backward)  # (H, W, 3) in [0, 1]
                c = flow.consistency(forward, backward)
                targets.append(warped)
                weights.append(c)
                if init is None:  # the closest frame starts the optimization; new content from the frame
                    init = c[..., None] * warped + (1 - c[..., None]) * (content / 255.0)
            if long_term:
                weights = flow.long_term_weights(weights)
            assert init is not None
            temporal = Temporal(
                init=_tensor(init),
                targets=tuple(
                    (_tensor(w), torch.from_numpy(c)[None, None])
                    for w, c in zip(targets, weights, strict=True)
                ),
                weight=temporal_weight,
            )

        def on_progress(progress: Progress, t: int = t) -> None:
            if callback is not None:
                callback(VideoEvent("progress", t, count, progress))

        done = stylize_detailed(
            Image.fromarray(content),
            [str(s) for s in style_paths],
            config=config.with_options(iterations=iterations),
            callback=on_progress,
            temporal=temporal,
        )
        if done.result.stopped != "done":
            raise ImpastoError(f"frame {t + 1}: {done.result.message}")
        images.save(done.image, target)
        made += 1
        if callback is not None:
            callback(VideoEvent("frame", t, count))
    stylize_seconds = time.perf_counter() - start
    if callback is not None:
        callback(VideoEvent("write", count - 1, count))
    video_io.write_video(
        output_path,
        (_array(Image.open(done_dir / f"{t:06d}.png")) for t in range(count)),
        info.rate,
        audio_from=input_path if info.audio else None,
    )
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    first = Image.open(done_dir / f"{0:06d}.png") if keep_work else None
    size = first.size if first is not None else (0, 0)
    return VideoResult(
        output=output_path,
        frames=count,
        resumed=resumed,
        seconds=time.perf_counter() - start,
        seconds_per_frame=stylize_seconds / made if made else 0.0,
        rate=info.rate,
        size=size,
    )


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


def warping_error(output_path: str | Path, input_path: str | Path) -> dict[str, float]:
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
    return {"warping_error": float(np.mean(errors)), "pairs": float(len(errors))}
