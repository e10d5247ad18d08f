"""The state behind the web app: sessions, their uploads and jobs, and how a page's request becomes a
:class:`~impasto.config.StyleConfig` — every value checked, every bad one a 400 that names the field.
The HTTP side is server.py; the queue that runs the jobs, jobs.py; their quick sketches, sketches.py.
"""

from __future__ import annotations

import concurrent.futures
import math
import re
import secrets
import shlex
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from http import HTTPStatus
from pathlib import Path
from typing import Any

from impasto import examples, options
from impasto.choices import INIT_CHOICES
from impasto.config import StyleConfig
from impasto.errors import ConfigError, ImpastoError
from impasto.io import files
from impasto.web.jobs import Job, JobQueue, QueueFull, Stylize
from impasto.web.sketches import Sketcher

# Options the page may set, and how each is read from JSON (options.py says which). Everything else
# keeps the library's default.
OPTIONS: dict[str, type] = options.web_options()


@dataclass(frozen=True)
class Limits:
    """What one server allows; the defaults suit a laptop serving a few people."""

    max_upload_bytes: int = 25 * 2**20
    max_upload_pixels: int = 40_000_000
    # Memory one upload's decoding may take (images.decode_cost: a 32 Mpx photo). Uploads are decoded
    # one at a time; one that waits longer than request_timeout for its turn hears 503 (try again).
    max_decode_bytes: int = 384 * 2**20
    max_size: int = 1024  # long side of an output
    max_iterations: int = 2000
    max_styles: int = 4
    max_waiting: int = 16  # jobs queued behind the running one
    max_sketches: int = 16  # quick sketches waiting for the sketch thread (about half a second each)
    uploads_per_session: int = 8  # the oldest is forgotten beyond this
    jobs_per_session: int = 4  # finished jobs kept (with their images); the oldest go first
    session_idle: float = 3600.0  # seconds without a request before a session and its files are dropped
    # Sessions kept at once: beyond this the longest-idle one without a queued or running job goes (a
    # page that makes cookieless requests in a loop cannot grow the server without bound).
    max_sessions: int = 256
    max_disk_bytes: int = 2 * 2**30  # uploads kept at once, all sessions together
    request_timeout: float = 30.0  # seconds a connection may stay silent in the middle of a request
    idle_timeout: float = 15.0  # seconds a connection may wait for its (next) request
    workers: int = 16  # threads serving requests (a waiting connection holds none)
    max_connections: int = 512  # connections open at once; more are turned away with a 503


@dataclass
class Upload:
    path: Path
    name: str
    width: int
    height: int


@dataclass
class Session:
    id: str
    folder: Path
    seen: float = field(default_factory=time.monotonic)
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """Whether a job of this session waits or runs."""
        return any(job.state in ("queued", "running") for job in self.jobs.values())


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class App:
    """The state behind the server: sessions, their uploads and jobs, and the job queue."""

    def __init__(
        self,
        stylize: Stylize,
        limits: Limits | None = None,
        device: str = "auto",
        access_token: str | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.device = device
        self.access_token = access_token  # required of every request when set (see Handler._check_access)
        self.queue = JobQueue(stylize, self.limits.max_waiting)
        self.sketcher = Sketcher(self.limits.max_sketches)
        self.folder = Path(tempfile.mkdtemp(prefix="impasto-web-"))
        self.token = secrets.token_urlsafe(24)
        self.decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-decode")
        self.sessions: dict[str, Session] = {}
        self.lock = threading.Lock()
        # The repository's example images (a wheel installed without the repository has none; the page
        # then offers uploads only).
        self.examples = examples.FOLDER

    def session(self, token: str | None) -> tuple[Session, bool]:
        """The session of ``token``, or a new one (True when new). Idle sessions are swept here."""
        now = time.monotonic()
        with self.lock:
            for stale in [s for s in self.sessions.values() if now - s.seen > self.limits.session_idle]:
                self._drop(stale)
            if token and token in self.sessions:
                session = self.sessions[token]
                session.seen = now
                return session, False
            idle = sorted((s for s in self.sessions.values() if not s.busy), key=lambda s: s.seen)
            for oldest in idle[: max(0, len(self.sessions) + 1 - self.limits.max_sessions)]:
                self._drop(oldest)
            token = secrets.token_urlsafe(24)
            # The folder is made with the first upload: a visit that uploads nothing leaves no trace.
            session = self.sessions[token] = Session(token, self.folder / secrets.token_hex(8))
            return session, True

    def _drop(self, session: Session) -> None:
        for job in session.jobs.values():
            self.queue.stop(job)
        del self.sessions[session.id]
        shutil.rmtree(session.folder, ignore_errors=True)

    def disk_used(self) -> int:
        """Bytes of every session's uploads on disk."""
        with self.lock:
            return sum(
                u.path.stat().st_size
                for s in self.sessions.values()
                for u in s.uploads.values()
                if u.path.exists()
            )

    def close(self) -> None:
        self.sketcher.close()
        self.queue.close()
        self.decoder.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- uploads -------------------------------------------------------------------------------------

    def upload(self, session: Session, name: str, body: bytes) -> tuple[str, Upload]:
        """Keep an uploaded image (checked to be one, within the pixel limit) → ("upload:ID", it)."""

        suffix = Path(name).suffix.lower()
        if suffix not in files.IMAGE_SUFFIXES:
            suffix = ".img"
        if self.disk_used() + len(body) > self.limits.max_disk_bytes:
            raise HttpError(
                HTTPStatus.INSUFFICIENT_STORAGE, "the server's room for uploads is full; try again later"
            )
        upload_id = secrets.token_urlsafe(12)
        session.folder.mkdir(exist_ok=True)
        path = session.folder / f"{upload_id}{suffix}"
        path.write_bytes(body)
        try:
            size = self._decode(path)
        except ImpastoError as error:
            path.unlink(missing_ok=True)
            raise HttpError(HTTPStatus.BAD_REQUEST, _without_path(str(error), path, name)) from None
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        upload = Upload(path, _safe_name(name), *size)
        session.uploads[upload_id] = upload
        while len(session.uploads) > self.limits.uploads_per_session:
            oldest = next(iter(session.uploads))
            session.uploads.pop(oldest).path.unlink(missing_ok=True)
        return f"upload:{upload_id}", upload

    def _decode(self, path: Path) -> tuple[int, int]:
        """``path`` decoded on the decoding thread, within the limits → its size (W, H)."""
        from impasto.io import images

        limits = self.limits
        work = self.decoder.submit(images.probe, path, limits.max_upload_pixels, limits.max_decode_bytes)
        try:
            return work.result(timeout=limits.request_timeout)
        except concurrent.futures.TimeoutError:
            work.cancel()  # not begun: it never will be; begun: it ends on its own, its answer unread
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE, "the server is busy reading other uploads; try again"
            ) from None

    def image(self, session: Session, reference: object) -> tuple[Path, str]:
        """ "upload:ID" or "example:NAME" → the file and the name to show for it."""
        if isinstance(reference, str) and reference.startswith("upload:"):
            upload = session.uploads.get(reference.removeprefix("upload:"))
            if upload is None:
                raise HttpError(HTTPStatus.BAD_REQUEST, "that upload is gone; upload the image again")
            return upload.path, upload.name
        if isinstance(reference, str) and reference.startswith("example:"):
            name = reference.removeprefix("example:")
            if name in examples.ROLES:
                return self.examples / name, name
        raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown image {reference!r}")

    # -- jobs ------------------------------------------------------------------------------------------

    def start(self, session: Session, request: dict[str, Any]) -> Job:
        """A job of ``request``, submitted: its sketch at once (sketches.py), then, unless
        ``"sketch_only": true``, the optimization in the device's queue."""
        if any(job.state in ("queued", "running") for job in session.jobs.values()):
            raise HttpError(HTTPStatus.CONFLICT, "this page already has a job running; stop it first")
        sketch_only = request.get("sketch_only", False)
        if not isinstance(sketch_only, bool):
            raise HttpError(
                HTTPStatus.BAD_REQUEST, f"sketch_only must be true or false, got {_shown(sketch_only)}"
            )
        if sketch_only and self.sketcher.unavailable:
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the quick sketch is not available on this server: {self.sketcher.unavailable}",
            )
        content, content_name = self.image(session, request.get("content"))
        content_word = _command_word(request.get("content"), content, content_name)
        styles_in = request.get("styles")
        if not isinstance(styles_in, list) or not styles_in:
            raise HttpError(HTTPStatus.BAD_REQUEST, "choose at least one style image")
        if len(styles_in) > self.limits.max_styles:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"at most {self.limits.max_styles} style images")
        styles, style_names, blend = [], [], []
        for item in styles_in:
            if not isinstance(item, dict):
                raise HttpError(HTTPStatus.BAD_REQUEST, "each style is {image, weight}")
            path, name = self.image(session, item.get("image"))
            styles.append(path)
            style_names.append(_command_word(item.get("image"), path, name))
            blend.append(_number(item.get("weight", 1.0), "style weight"))
        config, budget = self._config(request.get("options") or {}, blend)
        job = Job(
            id=secrets.token_urlsafe(12),
            session=session.id,
            content=content,
            styles=styles,
            config=config,
            time_budget=budget,
            command=command_line(content_word, style_names, config, budget, sketch=sketch_only),
            sketch_only=sketch_only,
        )
        try:
            job.sketching = self.sketcher.submit(job)  # before the queue: its first step waits for it
            if not sketch_only:
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
        return job

    def _config(self, requested: dict[str, Any], blend: list[float]) -> tuple[StyleConfig, float | None]:
        if not isinstance(requested, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "options must be an object")
        values: dict[str, Any] = {}
        for name, value in requested.items():
            if name == "time_budget" or value is None or value == "":
                continue
            kind = OPTIONS.get(name)
            if kind is None:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown option {name!r}")
            if kind is bool:
                if not isinstance(value, bool):
                    raise HttpError(
                        HTTPStatus.BAD_REQUEST, f"{name} must be true or false, got {_shown(value)}"
                    )
                values[name] = value
            elif kind is str:
                if not isinstance(value, str):
                    raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be text, got {_shown(value)}")
                values[name] = value
            else:
                number = _number(value, name)
                if kind is int and number != int(number):
                    raise HttpError(
                        HTTPStatus.BAD_REQUEST, f"{name} must be a whole number, got {_shown(value)}"
                    )
                values[name] = int(number) if kind is int else number
        if values.get("init", "content") not in INIT_CHOICES:  # not a path: no files on the server
            raise HttpError(HTTPStatus.BAD_REQUEST, f"init must be one of {', '.join(INIT_CHOICES)}")
        budget = requested.get("time_budget")
        budget = None if budget in (None, "", 0) else _number(budget, "time budget")
        if budget is not None and budget <= 0:
            raise HttpError(HTTPStatus.BAD_REQUEST, "the time budget must be a positive number of seconds")
        try:
            config = StyleConfig(device=self.device, style_blend=tuple(blend), **values)
        except ConfigError as error:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(error)) from None
        if config.size is not None and config.size > self.limits.max_size:
            raise HttpError(
                HTTPStatus.BAD_REQUEST, f"this server makes images of at most {self.limits.max_size} px"
            )
        if config.iterations is not None and config.iterations > self.limits.max_iterations:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"at most {self.limits.max_iterations} iterations here")
        return config, budget

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
            "losses": job.curve(),
            "preview_version": job.preview_version,
            "sketch": job.showing_sketch,  # the picture is the quick sketch (GET …/sketch)
            "sketch_version": job.sketch_version,  # the preview_version that was the sketch
            "sketch_only": job.sketch_only,
            "result_size": job.result_size,
            "command": job.command,
        }

    def setup(self) -> dict[str, Any]:
        defaults = StyleConfig()
        return {
            "token": self.token,  # for the X-Impasto-Token header of every POST
            "sketch": self.sketcher.unavailable is None,  # whether quick sketches are made here
            "defaults": {name: getattr(defaults, name) for name in OPTIONS},
            "choices": options.web_choices(),
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


def _command_word(reference: object, path: Path, name: str) -> str:
    """How a command line names an image: an example by its real path (it ships with impasto, so the
    command runs as shown), an upload by the name of the file the user chose."""
    return str(path) if isinstance(reference, str) and reference.startswith("example:") else name


# The options ``impasto preview`` takes: those a feed-forward sketch honours (preview.make).
SKETCH_OPTIONS = frozenset(
    {"size", "style_blend", "preserve_colors", "color_match", "max_pixels", "max_upscale"}
)


def command_line(
    content: str, styles: list[str], config: StyleConfig, budget: float | None, *, sketch: bool = False
) -> str:
    """The ``impasto`` command that makes the same image (options that differ from the defaults, the
    server's device included); with ``sketch``, the ``impasto preview`` command of its quick sketch."""
    defaults = StyleConfig()
    words = ["impasto", *(["preview"] if sketch else []), content, *styles]
    words += ["-o", "impasto-sketch.png" if sketch else "impasto.png"]
    for f in fields(StyleConfig):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name) or (sketch and f.name not in SKETCH_OPTIONS):
            continue
        option = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            words.append(option if value else f"--no-{f.name.replace('_', '-')}")
        elif isinstance(value, tuple):
            if f.name == "style_blend" and len(set(value)) <= 1:
                continue
            words += [option, ",".join(f"{v:g}" for v in value)]
        else:
            words += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    if budget is not None and not sketch:
        words += ["--time-budget", f"{budget:g}"]
    return shlex.join(words)


def _number(value: object, what: str) -> float:
    """A finite number from JSON (or a numeric string, as a form sends); anything else is a 400."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a number, got {_shown(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a number, got {_shown(value)}") from None
    if not math.isfinite(number):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a finite number, got {_shown(value)}")
    return number


def size_text(count: int) -> str:
    if count >= 2**20:
        return f"{count / 2**20:.1f}".removesuffix(".0") + " MB"
    return f"{count / 2**10:.0f} KB"


def _shown(value: object) -> str:
    """``value`` for an error message, cut short: a request can hold a 5000-digit number."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _safe_name(name: str) -> str:
    """A file name fit to show and to put in a command line: the last path part, plain characters."""
    base = re.sub(r"[^\w.\- ]", "_", Path(name.replace("\\", "/")).name).strip() or "image"
    return base[:80]


def _without_path(message: str, path: Path, name: str) -> str:
    """An error about the temporary file, told about the file the user uploaded."""
    return message.replace(str(path), _safe_name(name))
