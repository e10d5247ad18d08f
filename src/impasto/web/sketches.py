"""The web app's quick sketch: Magenta's feed-forward network (:func:`impasto.preview.make`, what
``impasto preview`` runs) renders a job's picture in about half a second, so that a page shows something
the moment Start is pressed, while the optimization is still loading its network, computing its targets
or compiling.

Sketches are made on a thread of their own, one at a time, from the moment a job is submitted: never
behind another page's optimization in the device's queue, and within a page's own job always first
(jobs.py: on a CPU the run starts once the sketch is made, on a GPU its first step waits for it). A
"sketch only" job is made here alone and has the sketch as its result.

Without onnxruntime or Magenta's ONNX files the app works as before, without sketches: one line on
stderr says why, and a "sketch only" request is answered with that reason.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image

from impasto.errors import ConfigError, ImageError, ImpastoError
from impasto.io.images import png_bytes
from impasto.web.jobs import Job, QueueFull


class Sketcher:
    """Makes the sketches of one server's jobs on one thread; at most ``max_waiting`` wait their turn."""

    def __init__(self, max_waiting: int) -> None:
        self._max_waiting = max_waiting
        self._waiting = 0
        self._warmed = False
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-sketch")
        self.unavailable: str | None = None  # why this server makes no sketches, or None
        if reason := _missing():
            self._off(reason)

    def warm(self) -> None:
        """Open the network's sessions in the background (once; about 0.3 s), so that the first sketch
        takes no longer than the others. Called when the page is loaded: its user will soon press Start."""
        with self._lock:
            if self._warmed or self.unavailable:
                return
            self._warmed = True
        with contextlib.suppress(RuntimeError):  # the server is closing
            self._pool.submit(self._warm_up)

    def submit(self, job: Job) -> Future[None] | None:
        """Start making ``job``'s sketch (published with :meth:`Job.show_sketch`; a ``sketch_only`` job
        ends with it) → its future; None when there will be none (no sketches here, or too many waiting:
        a sketch-only job then raises QueueFull)."""
        with self._lock:
            if self.unavailable or self._waiting >= self._max_waiting:
                if job.sketch_only:
                    raise QueueFull(
                        f"the quick sketch is not available on this server: {self.unavailable}"
                        if self.unavailable
                        else f"{self._waiting} sketches are already waiting; try again in a moment"
                    )
                return None
            self._waiting += 1
        try:
            future = self._pool.submit(self._run, job)
        except RuntimeError:  # the pool was shut down: the server is closing
            self._done()
            raise QueueFull("the server is shutting down") from None
        future.add_done_callback(self._done)  # made, failed or cancelled
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, job: Job) -> None:
        try:
            if job.sketch_only:
                self._sketch_only(job)
            elif job.preview is None and not job.stop_requested.is_set() and not self.unavailable:
                job.show_sketch(png_bytes(self._sketch(job)))
        except ImpastoError as error:
            if not job.sketch_only:  # an unreadable image: the optimization will say so itself
                print(f"impasto: warning: no quick sketch for a job: {error}", file=sys.stderr)
        except Exception:  # a bug: the log gets the details, the job goes on without its sketch
            traceback.print_exc()

    def _done(self, future: object = None) -> None:
        with self._lock:
            self._waiting -= 1

    def _sketch_only(self, job: Job) -> None:
        if job.stop_requested.is_set():
            job.state, job.message = "stopped", "stopped before it started"
            return
        job.state, job.started = "running", time.monotonic()
        try:
            image = self._sketch(job)
            sketch = png_bytes(image)
            with job.lock:
                result = png_bytes(image, image.info.get("icc_profile"), options=job.settings)
                job.result, job.result_size = result, image.size
                job.sketch, job.preview = sketch, sketch
                job.preview_version += 1
                job.sketch_version = job.preview_version
            job.state, job.message = "done", "a quick sketch by a feed-forward network; Start paints it"
        except ImpastoError as error:
            job.state, job.message = "failed", str(error)
            raise
        except Exception as error:
            job.state, job.message = "failed", f"internal error ({type(error).__name__}): {error}"
            raise
        finally:
            job.finished = time.monotonic()

    def _sketch(self, job: Job) -> Image.Image:
        """``job``'s content in its styles, with the options a sketch honours (size, style weights,
        colours kept): its ICC profile, if any, in ``info``."""
        from impasto import preview

        try:
            content, styles, config = job.inputs()
            return preview.make(content, styles, config=config)
        except (ConfigError, ImageError):  # this job's images or options
            raise
        except ImpastoError as error:  # no onnxruntime after all, or a file changed: no more tries
            self._off(str(error))
            raise

    def _warm_up(self) -> None:
        from impasto import preview

        try:
            preview.sketch(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8)))
        except ImpastoError as error:
            self._off(str(error))
        except Exception:
            traceback.print_exc()

    def _off(self, reason: str) -> None:
        with self._lock:
            if self.unavailable:
                return
            self.unavailable = reason
        print(f"impasto: warning: no quick sketch on this server: {reason}", file=sys.stderr)


def _missing() -> str | None:
    """Why sketches cannot be made here, found without opening anything (the files are hashed when
    first used); None when they can."""
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed (pip install onnxruntime)"
    from impasto.core.weights import PREVIEW_REGISTRY, installed_path

    for entry in PREVIEW_REGISTRY.values():
        path = installed_path(entry)
        if path is None or not path.is_file():
            return f"Magenta's network is not installed (install it with: {entry.install_hint})"
    return None
