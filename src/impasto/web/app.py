"""The state behind the web app: its sessions (sessions.py), their uploads, and their jobs, each made
from a page's request (job_requests.py reads it) and run by the queue (jobs.py) after its quick sketch
(sketches.py). The HTTP side is routes.py and server.py.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
import secrets
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import Any

from PIL import Image

from impasto import examples
from impasto.config import DEFAULT_ITERATIONS, DEFAULT_SIZE, StyleConfig, to_png_text
from impasto.errors import ConfigError, ImpastoError
from impasto.io import files
from impasto.web import job_requests, uploads
from impasto.web.commands import command_line, download_name
from impasto.web.errors import HttpError
from impasto.web.jobs import Job, JobQueue, QueueFull, Stylize
from impasto.web.kept import Full, Kept
from impasto.web.limits import Limits
from impasto.web.sessions import Session, SessionStore, Upload
from impasto.web.sketches import Sketcher


class App:
    """The state behind the server: the sessions (their uploads and jobs), the job queue and the
    sketcher. Every method may be called from any thread; the sessions, their dictionaries and the
    disk account change only under ``sessions.lock``."""

    def __init__(
        self,
        stylize: Stylize,
        limits: Limits | None = None,
        device: str = "auto",
        access_token: str | None = None,
        outputs: Path | None = None,
        history_shared: bool = True,
    ) -> None:
        self.limits = limits or Limits()
        # Where every finished or stopped result is written too (None: nowhere), and whether every
        # session's history shows them: the folder is the person's who started the server, so only
        # where whoever reaches the page is them (a server on this computer only, or one that asks
        # for an access token), never on an open server.
        self.kept = None if outputs is None else Kept(outputs, self.limits.max_kept_bytes)
        self.history_shared = history_shared and self.kept is not None
        self.device_name = device
        self._device_kind: str | None = None
        self.access_token = access_token  # required of every request when set (middleware.AccessToken)
        _sweep_stale_folders()
        self.folder = Path(tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-"))
        self.queue = JobQueue(stylize, self.limits.max_waiting, self._keep if self.kept else None)
        self.sketcher = Sketcher(self.limits.max_sketches)
        self.token = secrets.token_urlsafe(24)
        self.decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-decode")
        self.sessions = SessionStore(self.limits, self.folder, self.queue.stop)
        self.closing = threading.Event()
        # The repository's example images (a wheel installed without the repository has none; the page
        # then offers uploads only).
        self.examples = examples.FOLDER

    def close(self) -> None:
        """Stop every job and remove every file (more than once does no harm)."""
        self.closing.set()
        self.sketcher.close()
        self.queue.close()
        self.decoder.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def upload(self, session: Session, name: str, body: bytes) -> tuple[str, Upload]:
        """Keep an uploaded image (one of UPLOAD_FORMATS, within the limits) → ("upload:ID", it), its
        bytes reserved against the shared room before they are written (SessionStore.reserve)."""
        self.sessions.reserve(session, len(body))
        upload_id = secrets.token_urlsafe(12)
        suffix = Path(name).suffix.lower()
        path = session.folder / f"{upload_id}{suffix if suffix in files.IMAGE_SUFFIXES else '.img'}"
        kept = False
        try:
            path.write_bytes(body)
            try:
                size = self._decode(path)
            except ImpastoError as error:
                raise HttpError(
                    HTTPStatus.BAD_REQUEST, uploads.without_path(str(error), path, name)
                ) from None
            upload = Upload(path, uploads.safe_name(name), *size, bytes=len(body))
            self.sessions.keep(session, upload_id, upload)
            kept = True
        finally:
            self.sessions.arrived(session, len(body), kept)
            if not kept:
                path.unlink(missing_ok=True)
        return f"upload:{upload_id}", upload

    def _keep(self, job: Job, state: str) -> None:
        """``job``'s picture (with the options that made it) written to the outputs folder under the
        name its download has, made unique, with the inputs and the request that made it (kept.py);
        a failure is one line on stderr and in the job's message, the job stays done."""
        assert self.kept is not None and job.result is not None and job.result_size is not None
        name = download_name(*job.names, job.result_size, job.sketch_only)
        fields = {
            "names": job.names,
            "request": job.request,
            "state": state,
            "message": job.message,
            "elapsed": round(job.elapsed, 1),
            "command": job.command,
            "size": job.result_size,
            "job": job.id,
        }
        try:
            self.kept.keep(job.result, name, job.files, fields)
        except (Full, OSError) as error:
            why = str(error) if isinstance(error, Full) else error.strerror or str(error)
            print(f"impasto serve: cannot keep {name} in {self.kept.folder}: {why}", file=sys.stderr)
            job.message = f"{job.message} (not kept in the outputs folder: {why})".lstrip()

    def made_with(self, upload: Upload) -> dict[str, Any] | None:
        """The settings of the page an upload impasto made carries (the options that made it, those
        the page may set), or None for any other picture: the page offers to use them."""
        from impasto.config import from_toml

        try:
            config = from_toml(upload.path)
        except ConfigError:  # no impasto picture, or none this impasto can read
            return None
        chosen = {name: getattr(config, name) for name in job_requests.OPTIONS}
        return {name: value for name, value in chosen.items() if value is not None}

    def _decode(self, path: Path) -> tuple[int, int]:
        """``path`` checked to be an image of an accepted format, then decoded on the decoding thread
        within the limits → its size (W, H)."""
        limits = self.limits
        work = self.decoder.submit(uploads.probe, path, limits.max_upload_pixels, limits.max_decode_bytes)
        try:
            return work.result(timeout=limits.request_timeout)
        except concurrent.futures.TimeoutError:
            work.cancel()  # not begun: it never will be; begun: it ends on its own, its answer unread
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE, "the server is busy reading other uploads; try again"
            ) from None

    def image(self, session: Session, reference: object) -> tuple[Path, str]:
        """ "upload:ID", "kept:SHA256" (an input of a kept result) or "example:NAME" → the file and the
        name to show for it."""
        if isinstance(reference, str) and reference.startswith("upload:"):
            with self.sessions.lock:
                upload = session.uploads.get(reference.removeprefix("upload:"))
            if upload is None:
                raise HttpError(HTTPStatus.BAD_REQUEST, "that upload is gone; upload the image again")
            return upload.path, upload.name
        if isinstance(reference, str) and reference.startswith("kept:"):
            found = self.kept.input(reference) if self.kept is not None and self.history_shared else None
            if found is None:
                raise HttpError(HTTPStatus.BAD_REQUEST, "that image is no longer kept; upload it again")
            return found
        if isinstance(reference, str) and reference.startswith("example:"):
            name = reference.removeprefix("example:")
            if name in examples.ROLES:
                return self.examples / name, name
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown image {reference!r}")

    def read(self, path: Path) -> Image.Image:
        """An image of a job, decoded within the server's limits (as its upload was), its colour profile
        in ``info``: what the job's run and its sketch are given instead of the path."""
        from impasto.io import images

        loaded = images.load(path, self.limits.max_upload_pixels, self.limits.max_decode_bytes)
        if loaded.icc_profile:
            loaded.image.info["icc_profile"] = loaded.icc_profile
        return loaded.image

    def start(self, session: Session, request: dict[str, Any]) -> Job:
        """A job of ``request``, submitted: its sketch at once (sketches.py), then, unless
        ``"sketch_only": true``, the optimization in the device's queue."""
        sketch_only = request.get("sketch_only", False)
        if not isinstance(sketch_only, bool):
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                f"sketch_only must be true or false, got {job_requests.shown(sketch_only)}",
            )
        if sketch_only and self.sketcher.unavailable:
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the quick sketch is not available on this server: {self.sketcher.unavailable}",
            )
        files: dict[str, Path] = {}  # the uploads it reads, which the outputs folder keeps with it

        def find(reference: object) -> tuple[Path, str]:
            path, name = self.image(session, reference)
            if isinstance(reference, str) and not reference.startswith("example:"):
                files[reference] = path
            return path, name

        named = job_requests.images(request, find, self.limits.max_styles)
        asked = request.get("options") or {}
        config, budget = job_requests.options(
            asked, named.blend, tuple(named.masks), self.device_name, self.limits
        )
        # What the result's PNG carries (impasto --config result.png makes it again): the images and
        # masks by the names the user knows them by, never the server's paths.
        shown = dataclasses.replace(config, content_masks=tuple(Path(word) for word in named.mask_words))
        style_names = [Path(name).name for name in named.style_names]
        size = None if config.size is None else (config.size, config.size)  # the download's, its long side
        job = Job(
            id=secrets.token_urlsafe(12),
            session=session.id,
            content=named.content,
            styles=named.styles,
            config=config,
            time_budget=budget,
            command=command_line(
                named.content_word,
                named.style_words,
                config,
                budget,
                sketch=sketch_only,
                masks=named.mask_words,
                output=download_name(named.content_name, style_names, size, sketch_only),
            ),
            names=(named.content_name, style_names),
            request={
                "content": request.get("content"),
                "styles": [
                    {"image": i.get("image"), "weight": w, "mask": i.get("mask")}
                    for i, w in zip(request["styles"], named.blend, strict=True)
                ],
                "options": asked,
                "sketch_only": sketch_only,
            },
            sketch_only=sketch_only,
            files=files,
            read=self.read,
            settings=to_png_text(shown, named.content_name, style_names),
        )
        self._submit(session, job)
        return job

    def _submit(self, session: Session, job: Job) -> None:
        """``job``'s sketch, then (unless it asks for the sketch alone) its run, queued; the session's
        oldest finished jobs beyond ``jobs_per_session`` forgotten."""
        with self.sessions.lock:  # a few jobs per browser (its tabs): checked and added together
            if session.active >= self.limits.active_per_session:
                raise HttpError(
                    HTTPStatus.CONFLICT,
                    f"this browser already has {session.active} jobs waiting or running; stop one first",
                )
            try:
                job.sketching = self.sketcher.submit(job)  # before the queue: its first step waits for it
                if not job.sketch_only:
                    self.queue.submit(job)
            except QueueFull as full:
                job.stop_requested.set()  # a sketch already begun is not shown
                if job.sketching is not None:
                    job.sketching.cancel()
                raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, str(full)) from None
            session.jobs[job.id] = job
            finished = [j for j in session.jobs.values() if j.state not in ("queued", "running")]
            for old in finished[: max(0, len(session.jobs) - self.limits.jobs_per_session)]:
                del session.jobs[old.id]

    def history(self, session: Session | None) -> list[dict[str, Any]]:
        """The session's jobs, newest first, each its status, the request that made it and where its
        picture is. Where the history is shared, the outputs folder's results follow, the newest
        HISTORY_SHOWN, and a job kept there is listed as kept (under the name its file has)."""
        with self.sessions.lock:
            jobs = list(session.jobs.values()) if session is not None else []
        records = self.kept.records()[:HISTORY_SHOWN] if self.kept is not None and self.history_shared else []
        kept = {record.job for _, record in records}
        listed = [
            {
                **self.status(job),
                "request": job.request,
                "names": job.names,
                "picture": f"/api/jobs/{job.id}/result",
            }
            for job in reversed(jobs)
            if job.id not in kept
        ]
        return listed + [
            {
                "id": record_id,
                "state": record.state,
                "message": record.message,
                "elapsed": record.elapsed,
                "result_size": record.size,
                "command": record.command,
                "download": record.file,
                "request": record.request,
                "names": record.names,
                "picture": f"/api/kept/{record_id}",
            }
            for record_id, record in records
        ]

    def forget(self, session: Session | None, entry: str) -> None:
        """Remove ``entry`` from the history, its files deleted: an ended job of the session, or where
        the history is shared a kept result (and the job it was, in whichever session still holds it)."""
        found = self.kept.picture(entry) if self.kept is not None and self.history_shared else None
        with self.sessions.lock:
            if found is not None:
                job_id = found[1].job
                for holder in self.sessions.sessions.values():
                    holder.jobs.pop(job_id, None)
            else:
                if session is None or (job := session.jobs.get(entry)) is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, "no such result")
                if job.state in ("queued", "running"):
                    raise HttpError(HTTPStatus.CONFLICT, "that job is still running: stop it first")
                del session.jobs[entry]
                job_id = entry
        if self.kept is not None:
            record = entry if found is not None else self.kept.of_job(job_id)
            if record is not None:
                self.kept.delete(record)

    def kept_picture(self, record_id: str) -> tuple[Path, str]:
        """The file of a kept result and its name, where the history is shared."""
        found = self.kept.picture(record_id) if self.kept is not None and self.history_shared else None
        if found is None or not found[0].is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, "no such result")
        return found[0], found[1].file

    def uploaded(self, session: Session | None, reference: str) -> Path:
        """The file of the upload ``reference`` (its id, or "upload:ID") of ``session``, or of a kept
        result's input ("kept:SHA256") where the history is shared; unknown, forgotten and another
        session's all look the same."""
        if reference.startswith("kept:"):
            found = self.kept.input(reference) if self.kept is not None and self.history_shared else None
            if found is None:
                raise HttpError(HTTPStatus.NOT_FOUND, "no such upload: upload the image again")
            return found[0]
        with self.sessions.lock:
            upload = session.uploads.get(reference.removeprefix("upload:")) if session is not None else None
        if upload is None or not upload.path.is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, "no such upload: upload the image again")
        return upload.path

    def job(self, session: Session | None, job_id: str) -> Job:
        """The job ``job_id`` of ``session``; unknown, expired and another session's all look the same."""
        with self.sessions.lock:
            job = session.jobs.get(job_id) if session is not None else None
        if job is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "no such job")
        return job

    def status(self, job: Job) -> dict[str, Any]:
        eta = job.eta()
        return {
            "id": job.id,
            "state": job.state,
            "message": job.message,
            "position": self.queue.position(job),
            "iteration": job.iteration,
            "total": job.total,
            "scale": job.scale,
            "scales": job.scales,
            "progress": round(job.work, 4),
            "elapsed": round(job.elapsed, 1),
            "eta": None if eta is None else round(eta, 1),
            # JSON has no infinity: a diverged step is a gap in the curve.
            "losses": [loss if math.isfinite(loss) else None for loss in job.curve()],
            "preview_version": job.preview_version,
            "sketch": job.showing_sketch,  # the picture is the quick sketch (GET …/sketch)
            "sketch_version": job.sketch_version,  # the preview_version that was the sketch
            "sketch_only": job.sketch_only,
            "result_size": job.result_size,
            "command": job.command,
            "download": download_name(*job.names, job.result_size, job.sketch_only),
        }

    def device(self) -> str:
        """The kind of device the jobs run on: "cpu", "cuda" or "mps" (found once; imports torch)."""
        if self._device_kind is None:
            from impasto.core.devices import resolve_device
            from impasto.errors import DeviceError

            try:
                self._device_kind = resolve_device(self.device_name).type
            except DeviceError:  # the runs will say why; the page offers what a CPU can do
                self._device_kind = "cpu"
        return self._device_kind

    def setup(self) -> dict[str, Any]:
        """What the page needs: its token, its settings form (drawn from the option table), and the
        defaults and choices of this server's device (a GPU's sizes and iterations on a GPU; the
        precisions the device has; the networks installed here)."""
        defaults = StyleConfig()
        kind = self.device()
        group = "cpu" if kind == "cpu" else "gpu"
        shown = {name: getattr(defaults, name) for name in job_requests.OPTIONS}
        shown["size"] = min(DEFAULT_SIZE[group], self.limits.max_size)
        shown["iterations"] = DEFAULT_ITERATIONS[group]
        choices = job_requests.form_choices()
        choices["precision"] = [p for p in choices["precision"] if p in _precisions(kind)]
        choices["model"] = [m for m in choices["model"] if _installed(m)] or choices["model"][:1]
        highs = {"size": self.limits.max_size, "iterations": self.limits.max_iterations}
        return {
            "token": self.token,  # for the X-Impasto-Token header of every POST
            "sketch": self.sketcher.unavailable is None,  # whether quick sketches are made here
            "device": kind,
            "defaults": shown,
            "choices": choices,
            "settings": job_requests.form_settings(choices, highs),  # the form, from the option table
            "limits": {
                "max_upload_bytes": self.limits.max_upload_bytes,
                "max_size": self.limits.max_size,
                "max_iterations": self.limits.max_iterations,
                "max_styles": self.limits.max_styles,
            },
            "examples": [
                {"name": name, "role": role}
                for name, role in examples.ROLES.items()
                if (self.examples / name).is_file()
            ],
        }


# The outputs folder's newest results the history lists (the page shows each picture; the folder keeps
# the rest).
HISTORY_SHOWN = 48
_FOLDER_PREFIX = "impasto-web-"  # then the server's process id: impasto-web-4242-k3j9x


def _sweep_stale_folders() -> None:
    """The temporary folders (uploads, results) of servers that ended without removing them (killed
    with SIGKILL, the machine lost power): each names its server's process, and one whose process is
    gone is removed. A folder of a running server, or of a process id now reused, is left alone."""
    if os.name != "posix":  # os.kill(pid, 0) asks whether a process lives on POSIX only
        return
    for folder in Path(tempfile.gettempdir()).glob(f"{_FOLDER_PREFIX}*-*"):
        pid = folder.name.removeprefix(_FOLDER_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir() or folder.is_symlink():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (PermissionError, OverflowError, OSError):
            continue  # another user's process, alive: not ours to sweep


def _precisions(kind: str) -> tuple[str, ...]:
    """The precisions worth offering on a device of ``kind``: bf16 on a CPU only where it has bf16
    arithmetic (emulated, it is ~50× slower), tf32 and fp16 on CUDA only."""
    if kind == "cuda":
        return ("auto", "fp32", "tf32", "bf16", "fp16")
    if kind == "mps":
        return ("auto", "fp32", "fp16")
    from impasto.core.runtime import cpu_has_fast_bf16

    return ("auto", "fp32", "bf16") if cpu_has_fast_bf16() else ("auto", "fp32")


def _installed(model: str) -> bool:
    """Whether ``model``'s weights are on this computer (nothing is downloaded for a page's menu)."""
    from impasto.core.registry import REGISTRY, cache_dir, installed_path

    entry = REGISTRY.get(model)
    if entry is None:
        return False
    path = installed_path(entry) if entry.package is not None else cache_dir() / entry.file_name
    return path is not None and path.is_file()
