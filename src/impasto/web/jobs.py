"""Stylization jobs of the web app: a queue per device that runs one job at a time, and what each job
shows while it runs (progress, a preview image, the loss curve).

A job's first picture is its quick sketch (sketches.py), made on a thread of its own from the moment the
job is submitted; the optimization's first step waits for it (briefly), so that a page always sees the
sketch before the optimization's own picture replaces it. On a CPU the run starts only once the sketch
is made: sharing the cores, both would be slower, and the sketch would take over a second.

Nothing here knows about HTTP; the server turns requests into :class:`Job` objects and reads them back.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from impasto.config import StyleConfig
from impasto.errors import ImpastoError
from impasto.io.images import png_bytes

State = Literal["queued", "running", "done", "stopped", "failed"]
PREVIEW_INTERVAL = 0.5  # seconds between preview images: a GPU does hundreds of iterations a second
MAX_CURVE_POINTS = 200  # the loss curve a status carries, thinned evenly
# Seconds the optimization's first step waits for the job's sketch, which is under way since the job was
# submitted (about half a second's work): a sketch that is later than that is dropped, not waited for.
SKETCH_WAIT = 3.0


class QueueFull(Exception):
    """No room for another job; the message says why."""


@dataclass
class Job:
    """One stylization asked for by one browser session."""

    id: str
    session: str
    content: Path
    styles: Sequence[Path]
    config: StyleConfig
    time_budget: float | None = None  # seconds; the run stops with its best image when they are up
    command: str = ""  # the equivalent command line
    names: tuple[str, list[str]] = ("image", ["style"])  # the images' names, as the user knows them
    request: dict[str, Any] = field(default_factory=dict)  # what the page asked for (to make it again)
    settings: str | None = None  # the options as the result's PNG carries them (config.to_png_text)
    files: dict[str, Path] = field(default_factory=dict)  # the request's uploads: reference → file
    state: State = "queued"
    message: str = ""
    iteration: int = 0
    total: int = 0
    scale: int = 1
    scales: int = 1
    work: float = 0.0  # fraction of the run done, 0 … 1
    losses: list[float] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    # When the first iteration was reported, and the work done then: the time estimate counts from
    # there, so the seconds spent loading the network and computing targets do not inflate it.
    iterating_since: tuple[float, float] | None = None
    preview: bytes | None = None  # PNG of the image as it is now
    preview_version: int = 0
    result: bytes | None = None  # PNG of the finished image
    result_size: tuple[int, int] | None = None
    sketch_only: bool = False  # the quick sketch is the result; no optimization runs
    sketch: bytes | None = None  # PNG of the quick sketch, once made
    sketch_version: int | None = None  # the preview_version that was the sketch
    sketching: concurrent.futures.Future[None] | None = None  # the sketch under way (sketches.py)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # How the run and the sketch read the images (the server decodes them within its limits); None:
    # the paths are given to the library as they are.
    read: Callable[[Path], Image.Image] | None = None

    def inputs(self) -> tuple[Path | Image.Image, list[Path | Image.Image], StyleConfig]:
        """The content, the styles and the options with their masks, the images read as ``read`` says."""
        if self.read is None:
            return self.content, list(self.styles), self.config
        masks = tuple(self.read(m) if isinstance(m, Path) else m for m in self.config.content_masks)
        config = dataclasses.replace(self.config, content_masks=masks) if masks else self.config
        return self.read(self.content), [self.read(path) for path in self.styles], config

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.monotonic()) - self.started

    def eta(self) -> float | None:
        """Seconds left, from the pace of the iterations so far (None until there are two reports)."""
        if self.state != "running" or self.iterating_since is None:
            return None
        since, work_then = self.iterating_since
        if self.work <= work_then:
            return None
        left = (time.monotonic() - since) * (1 - self.work) / (self.work - work_then)
        if self.time_budget is not None:
            left = min(left, max(0.0, self.time_budget - self.elapsed))
        return left

    @property
    def showing_sketch(self) -> bool:
        """Whether the preview is the quick sketch (nothing of the optimization has replaced it yet)."""
        return self.sketch_version is not None and self.sketch_version == self.preview_version

    def show_sketch(self, sketch: bytes) -> bool:
        """Publish ``sketch`` (a PNG) as the job's picture, unless the optimization already has one or
        the job is over → whether it was published."""
        with self.lock:
            if self.preview is not None or self.state not in ("queued", "running"):
                return False
            self.sketch, self.preview = sketch, sketch
            self.preview_version += 1
            self.sketch_version = self.preview_version
            return True

    def curve(self) -> list[float]:
        losses = self.losses
        if len(losses) <= MAX_CURVE_POINTS:
            return list(losses)
        step = len(losses) / MAX_CURVE_POINTS
        return [losses[int(i * step)] for i in range(MAX_CURVE_POINTS)] + [losses[-1]]


Stylize = Callable[..., Any]  # impasto.pipeline.stylize_detailed, or a stand-in with its signature
Keep = Callable[[Job, State], None]  # told of a job that ends in that state with a picture


class JobQueue:
    """Jobs waiting for one device, run one at a time in submission order by a worker thread."""

    def __init__(self, stylize: Stylize, max_waiting: int = 16, kept: Keep | None = None) -> None:
        self._stylize = stylize
        self._max_waiting = max_waiting
        self._kept = kept  # told of each job that ended with a picture (App: written to --outputs)
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="impasto-jobs", daemon=True)
        self._worker.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                raise QueueFull("the server is shutting down")
            if len(self._waiting) >= self._max_waiting:
                raise QueueFull(
                    f"{len(self._waiting)} jobs are already waiting for this machine; try again in a while"
                )
            self._waiting.append(job)
            self._cond.notify()

    def position(self, job: Job) -> int:
        """0 while running (or finished), else 1 + the number of jobs ahead of it."""
        with self._cond:
            try:
                return self._waiting.index(job) + 1
            except ValueError:
                return 0

    def stop(self, job: Job) -> None:
        """Stop ``job``: a waiting job is dropped, a running one ends with its best image so far."""
        job.stop_requested.set()
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                job.state, job.message = "stopped", "stopped before it started"

    def close(self) -> None:
        with self._cond:
            self._closed = True
            for job in self._waiting:
                job.state, job.message = "stopped", "the server shut down"
            self._waiting.clear()
            if self._running is not None:
                self._running.stop_requested.set()
            self._cond.notify_all()
        self._worker.join(timeout=30)  # the running job stops at its next step

    @property
    def alive(self) -> bool:
        """Whether the worker still runs (a job that did not stop in time after close())."""
        return self._worker.is_alive()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._running = self._waiting.popleft()
            try:
                run_job(job, self._stylize, self._kept)
            finally:
                with self._cond:
                    self._running = None


def run_job(job: Job, stylize: Stylize, kept: Keep | None = None) -> None:
    """Run ``job`` to the end, recording its progress; never raises. ``kept`` is told of a job that
    ends with a picture (and the state it ends in) before its state says so: whoever sees it ended
    finds it kept."""
    from impasto.io import images

    job.state, job.started = "running", time.monotonic()
    last_preview = 0.0

    def on_progress(progress: Any) -> None:
        nonlocal last_preview
        if job.iterating_since is None and job.sketching is not None:
            # The first step is reported only once the sketch is shown (or late: see SKETCH_WAIT).
            concurrent.futures.wait([job.sketching], timeout=SKETCH_WAIT)
        job.iteration, job.total = progress.iteration, progress.total
        job.scale, job.scales = progress.scale, progress.scales
        job.work = progress.work_done / progress.work_total if progress.work_total else 0.0
        if job.iterating_since is None:
            job.iterating_since = (time.monotonic(), job.work)
        job.losses.append(float(progress.loss))
        now = time.monotonic()
        if now - last_preview >= PREVIEW_INTERVAL or progress.iteration == progress.total:
            preview = png_bytes(images.to_pil(progress.image))
            with job.lock:
                job.preview, job.preview_version = preview, job.preview_version + 1
            last_preview = now

    try:
        if job.sketching is not None and _on_cpu(job.config.device):
            concurrent.futures.wait([job.sketching], timeout=SKETCH_WAIT)
        content, styles, config = job.inputs()
        made = stylize(
            content,
            styles,
            config=config,
            callback=on_progress,
            deadline=None if job.time_budget is None else job.started + job.time_budget,
            should_stop=job.stop_requested.is_set,
        )
        if made.ended == "out of time":
            message = f"time budget of {job.time_budget:g} s reached"
            _finish(job, made.image, made.icc_profile, "done", message, kept)
        elif made.ended == "stopped":
            _finish(job, made.image, made.icc_profile, "stopped", "This is the best image it had.", kept)
        else:
            # A run that diverged or ran out of memory ends with its best image so far, but it did not
            # do what was asked.
            finished: State = "done" if made.ended == "made" else "stopped"
            _finish(job, made.image, made.icc_profile, finished, made.result.message, kept)
    except ImpastoError as error:
        job.state, job.message = "failed", str(error)
    except MemoryError:
        job.state, job.message = "failed", "out of memory: try a smaller output size"
    except Exception as error:  # keep the server alive whatever a run does; the log gets the details
        traceback.print_exc()
        job.state, job.message = "failed", f"internal error ({type(error).__name__}): {error}"
    finally:
        job.finished = time.monotonic()


def _on_cpu(device: str) -> bool:
    """Whether a run on ``device`` ("auto", "cpu", "cuda:1", …) would run on the CPU (an unusable device:
    False, the run says why)."""
    from impasto.core.devices import resolve_device
    from impasto.errors import DeviceError

    try:
        return resolve_device(device).type == "cpu"
    except DeviceError:
        return False


def _finish(
    job: Job,
    image: Image.Image,
    icc_profile: bytes | None,
    state: State,
    message: str,
    kept: Keep | None,
) -> None:
    result = png_bytes(image, icc_profile, options=job.settings)
    with job.lock:
        job.result, job.result_size = result, image.size
        job.preview, job.preview_version = png_bytes(image), job.preview_version + 1
    job.message = message
    if kept is not None:
        kept(job, state)  # may add to the message
    job.state = state
