"""The state behind the web app: sessions, their uploads and jobs, and how a page's request becomes a
:class:`~impasto.config.StyleConfig` — every value checked, every bad one a 400 that names the field.
The HTTP side is server.py; the queue that runs the jobs, jobs.py; their quick sketches, sketches.py.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hmac
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

from PIL import Image, UnidentifiedImageError

from impasto import examples
from impasto.choices import INIT_CHOICES
from impasto.config import DEFAULT_ITERATIONS, DEFAULT_SIZE, StyleConfig, to_png_text
from impasto.config import OPTIONS as FIELDS
from impasto.errors import ConfigError, ImageError, ImpastoError
from impasto.io import files
from impasto.web.jobs import Job, JobQueue, QueueFull, Stylize
from impasto.web.sketches import Sketcher

# Options the page may set (those StyleConfig's fields mark ``web``), and the JSON type of each.
# Everything else keeps the library's default.
OPTIONS: dict[str, type] = {o.name: o.type for o in FIELDS if o.web and o.type is not None}


def form_choices() -> dict[str, list[str]]:
    """The choices of the web form's menus, from StyleConfig's fields. The page cannot name files on
    the server, so its start images are the named ones only."""
    menus = {o.name: list(o.choices) for o in FIELDS if o.web and o.choices is not None}
    menus["init"] = list(INIT_CHOICES)
    return menus


@dataclass(frozen=True)
class Limits:
    """What one server allows; the defaults suit a laptop serving a few people."""

    max_upload_bytes: int = 25 * 2**20
    max_upload_pixels: int = 40_000_000
    # Memory one image's decoding may take (images.decode_cost: a 32 Mpx baseline JPEG or PNG, about
    # 26 Mpx of progressive JPEG, 16 Mpx of WebP), for an upload and again when a job reads it. Uploads
    # are decoded one at a time; one that waits longer than request_timeout for its turn hears 503.
    max_decode_bytes: int = 384 * 2**20
    max_size: int = 1024  # long side of an output
    max_iterations: int = 2000
    max_styles: int = 4
    max_waiting: int = 16  # jobs queued behind the running one
    max_sketches: int = 16  # quick sketches waiting for the sketch thread (about half a second each)
    uploads_per_session: int = 8  # the oldest is forgotten beyond this
    jobs_per_session: int = 4  # finished jobs kept (with their images); the oldest go first
    session_idle: float = 3600.0  # seconds without a request before a session and its files are dropped
    # Sessions kept at once. Only a request carrying the page's token makes one; beyond this the
    # longest-idle session with nothing in it goes, and a session with uploads or jobs is never dropped
    # to make room (a newcomer then hears 503).
    max_sessions: int = 256
    max_disk_bytes: int = 2 * 2**30  # uploads kept at once, all sessions together
    request_timeout: float = 30.0  # seconds a request's headers may take (connections.py: the body more)
    idle_timeout: float = 15.0  # seconds a connection may wait for its (next) request
    per_client: int = 64  # connections one address may hold; its newest replaces its oldest idle one
    max_connections: int = 512  # connections open at once; more are turned away with a 503
    streams_per_session: int = 4  # progress streams (server-sent events) one session may hold open


# What an upload may be, checked from the file's header before any decoder runs: Pillow would
# otherwise hand an EPS to Ghostscript, or try each of its forty-odd formats on a stranger's bytes.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")


@dataclass
class Upload:
    path: Path
    name: str
    width: int
    height: int
    bytes: int


@dataclass
class Session:
    """One browser's uploads and jobs. Its dictionaries change only under the App's lock."""

    id: str
    folder: Path
    seen: float = field(default_factory=time.monotonic)
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    arriving: int = 0  # uploads being received or decoded
    streams: int = 0  # progress streams open

    @property
    def busy(self) -> bool:
        """Whether a job of this session waits or runs."""
        return any(job.state in ("queued", "running") for job in self.jobs.values())

    @property
    def has_work(self) -> bool:
        """Whether it holds anything of its user's: such a session is never dropped to make room."""
        return bool(self.uploads or self.jobs or self.arriving)


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class App:
    """The state behind the server: sessions, their uploads and jobs, and the job queue. Every method
    may be called from any thread; the sessions, their dictionaries and the disk account change only
    under ``lock``."""

    def __init__(
        self,
        stylize: Stylize,
        limits: Limits | None = None,
        device: str = "auto",
        access_token: str | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self.device_name = device
        self._device_kind: str | None = None
        self.access_token = access_token  # required of every request when set (middleware.AccessToken)
        self.folder = Path(tempfile.mkdtemp(prefix="impasto-web-"))
        self.queue = JobQueue(stylize, self.limits.max_waiting)
        self.sketcher = Sketcher(self.limits.max_sketches)
        self.token = secrets.token_urlsafe(24)
        self._cookie_key = secrets.token_bytes(32)
        self.decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="impasto-decode")
        self.sessions: dict[str, Session] = {}
        self.stored = 0  # bytes of uploads on disk (and reserved for those being written), all sessions
        self.lock = threading.Lock()
        self.closing = threading.Event()
        # The repository's example images (a wheel installed without the repository has none; the page
        # then offers uploads only).
        self.examples = examples.FOLDER

    # -- sessions --------------------------------------------------------------------------------------
    # A session's cookie is its id and a MAC of it under this server's key. The page's first visit gets
    # one, but the session itself is made by its first request that carries the page's token (an
    # upload or a job): another site's page can make a browser send GETs by the hundred (<img> tags),
    # and none of them may make state or push out a real user's.

    def cookie(self, session_id: str) -> str:
        mac = hmac.new(self._cookie_key, session_id.encode(), "sha256").hexdigest()[:32]
        return f"{session_id}.{mac}"

    def _session_id(self, cookie: str | None) -> str | None:
        """The session id a cookie of this server carries, or None (absent, forged, another server's)."""
        if not cookie or not cookie.isascii() or cookie.count(".") != 1:
            return None
        session_id = cookie.split(".", 1)[0]
        return session_id if hmac.compare_digest(self.cookie(session_id), cookie) else None

    def find(self, cookie: str | None) -> Session | None:
        """The session of ``cookie`` if there is one (never made here)."""
        session_id = self._session_id(cookie)
        with self.lock:
            self._sweep()
            session = self.sessions.get(session_id) if session_id else None
            if session is not None:
                session.seen = time.monotonic()
            return session

    def new_cookie(self, cookie: str | None) -> str | None:
        """A cookie to give a visitor whose ``cookie`` is not one of this server's, else None."""
        return None if self._session_id(cookie) else self.cookie(secrets.token_urlsafe(18))

    def session(self, cookie: str | None) -> tuple[Session, str | None]:
        """The session of ``cookie``, made if need be, for a request that carries the page's token →
        (it, the cookie to set when it is not the one given)."""
        session_id = self._session_id(cookie)
        with self.lock:
            self._sweep()
            if session_id in self.sessions:
                session = self.sessions[session_id]
                session.seen = time.monotonic()
                return session, None
            if len(self.sessions) >= self.limits.max_sessions:
                empty = [s for s in self.sessions.values() if not s.has_work]
                if not empty:
                    raise HttpError(
                        HTTPStatus.SERVICE_UNAVAILABLE,
                        "this server has as many visitors as it can hold; try again later",
                    )
                self._drop(min(empty, key=lambda s: s.seen))
            session_id = session_id or secrets.token_urlsafe(18)
            # The folder is made with the first upload: a session that uploads nothing leaves no trace.
            session = self.sessions[session_id] = Session(session_id, self.folder / secrets.token_hex(8))
            return session, None if cookie == self.cookie(session_id) else self.cookie(session_id)

    def _sweep(self) -> None:
        """Drop sessions idle past ``session_idle`` (under the lock)."""
        now = time.monotonic()
        for stale in [s for s in self.sessions.values() if now - s.seen > self.limits.session_idle]:
            if not stale.busy and not stale.arriving:
                self._drop(stale)

    def _drop(self, session: Session) -> None:
        for job in session.jobs.values():
            self.queue.stop(job)
        del self.sessions[session.id]
        self.stored -= sum(upload.bytes for upload in session.uploads.values())
        shutil.rmtree(session.folder, ignore_errors=True)

    def disk_used(self) -> int:
        """Bytes of every session's uploads on disk, and those reserved for uploads being written."""
        with self.lock:
            return self.stored

    def close(self) -> None:
        """Stop every job and remove every file (more than once does no harm)."""
        self.closing.set()
        self.sketcher.close()
        self.queue.close()
        self.decoder.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- uploads -------------------------------------------------------------------------------------

    def upload(self, session: Session, name: str, body: bytes) -> tuple[str, Upload]:
        """Keep an uploaded image (one of UPLOAD_FORMATS, within the limits) → ("upload:ID", it). Its
        bytes are reserved against the shared room before they are written: uploads that arrive
        together cannot pass the limit between them."""
        with self.lock:
            if self.stored + len(body) > self.limits.max_disk_bytes:
                raise HttpError(
                    HTTPStatus.INSUFFICIENT_STORAGE, "the server's room for uploads is full; try again later"
                )
            self.stored += len(body)
            session.arriving += 1
            session.folder.mkdir(exist_ok=True)
        upload_id = secrets.token_urlsafe(12)
        suffix = Path(name).suffix.lower()
        path = session.folder / f"{upload_id}{suffix if suffix in files.IMAGE_SUFFIXES else '.img'}"
        kept = False
        try:
            path.write_bytes(body)
            try:
                size = self._decode(path)
            except ImpastoError as error:
                raise HttpError(HTTPStatus.BAD_REQUEST, _without_path(str(error), path, name)) from None
            upload = Upload(path, _safe_name(name), *size, bytes=len(body))
            with self.lock:
                if session.id not in self.sessions:  # dropped meanwhile (the server is closing)
                    raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "this session is gone; reload the page")
                session.uploads[upload_id] = upload
                kept = True
                while len(session.uploads) > self.limits.uploads_per_session:
                    oldest = session.uploads.pop(next(iter(session.uploads)))
                    oldest.path.unlink(missing_ok=True)
                    self.stored -= oldest.bytes
        finally:
            with self.lock:
                session.arriving -= 1
                if not kept:
                    self.stored -= len(body)
            if not kept:
                path.unlink(missing_ok=True)
        return f"upload:{upload_id}", upload

    def _decode(self, path: Path) -> tuple[int, int]:
        """``path`` checked to be an image of an accepted format, then decoded on the decoding thread
        within the limits → its size (W, H)."""
        limits = self.limits
        work = self.decoder.submit(_probe, path, limits.max_upload_pixels, limits.max_decode_bytes)
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
            with self.lock:
                upload = session.uploads.get(reference.removeprefix("upload:"))
            if upload is None:
                raise HttpError(HTTPStatus.BAD_REQUEST, "that upload is gone; upload the image again")
            return upload.path, upload.name
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

    # -- jobs ------------------------------------------------------------------------------------------

    def start(self, session: Session, request: dict[str, Any]) -> Job:
        """A job of ``request``, submitted: its sketch at once (sketches.py), then, unless
        ``"sketch_only": true``, the optimization in the device's queue."""
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
        styles, style_names, blend, masks, mask_names = [], [], [], [], []
        for item in styles_in:
            if not isinstance(item, dict):
                raise HttpError(HTTPStatus.BAD_REQUEST, "each style is {image, weight, mask}")
            path, name = self.image(session, item.get("image"))
            styles.append(path)
            style_names.append(_command_word(item.get("image"), path, name))
            blend.append(_number(item.get("weight", 1.0), "style weight"))
            if item.get("mask") is not None:  # white where this style goes
                mask, mask_name = self.image(session, item["mask"])
                masks.append(mask)
                mask_names.append(_command_word(item["mask"], mask, mask_name))
        if masks and not (len(masks) == len(styles) or (len(styles) == 2 and styles_in[0].get("mask"))):
            raise HttpError(
                HTTPStatus.BAD_REQUEST,
                "give every style a mask, or none (with two styles, the first one's mask is enough)",
            )
        config, budget = self._config(request.get("options") or {}, blend, tuple(masks))
        # What the result's PNG carries (impasto --config result.png makes it again): the images and
        # masks by the names the user knows them by, never the server's paths.
        shown = dataclasses.replace(config, content_masks=tuple(Path(name) for name in mask_names))
        settings = to_png_text(shown, content_name, [Path(name).name for name in style_names])
        job = Job(
            id=secrets.token_urlsafe(12),
            session=session.id,
            content=content,
            styles=styles,
            config=config,
            time_budget=budget,
            command=command_line(
                content_word, style_names, config, budget, sketch=sketch_only, masks=mask_names
            ),
            names=(content_name, [Path(word).name for word in style_names]),
            request={
                "content": request.get("content"),
                "styles": [
                    {"image": i.get("image"), "weight": w} for i, w in zip(styles_in, blend, strict=True)
                ],
                "options": request.get("options") or {},
                "sketch_only": sketch_only,
            },
            sketch_only=sketch_only,
            read=self.read,
            settings=settings,
        )
        with self.lock:  # one job at a time per page: checked and added together
            if session.busy:
                raise HttpError(HTTPStatus.CONFLICT, "this page already has a job running; stop it first")
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

    def history(self, session: Session | None) -> list[dict[str, Any]]:
        """The session's jobs, newest first: each its status and the request that made it."""
        with self.lock:
            jobs = list(session.jobs.values()) if session is not None else []
        return [{**self.status(job), "request": job.request, "names": job.names} for job in reversed(jobs)]

    def job(self, session: Session | None, job_id: str) -> Job:
        """The job ``job_id`` of ``session``; unknown, expired and another session's all look the same."""
        with self.lock:
            job = session.jobs.get(job_id) if session is not None else None
        if job is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "no such job")
        return job

    def _config(
        self, requested: dict[str, Any], blend: list[float], masks: tuple[Path, ...] = ()
    ) -> tuple[StyleConfig, float | None]:
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
            config = StyleConfig(
                device=self.device_name, style_blend=tuple(blend), content_masks=masks, **values
            )
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
        """What the page needs: its token, and the defaults and choices of this server's device (a GPU's
        sizes and iterations on a GPU; the precisions the device has; the networks installed here)."""
        defaults = StyleConfig()
        kind = self.device()
        group = "cpu" if kind == "cpu" else "gpu"
        shown = {name: getattr(defaults, name) for name in OPTIONS}
        shown["size"] = min(DEFAULT_SIZE[group], self.limits.max_size)
        shown["iterations"] = DEFAULT_ITERATIONS[group]
        choices = form_choices()
        choices["precision"] = [p for p in choices["precision"] if p in _precisions(kind)]
        choices["model"] = [m for m in choices["model"] if _installed(m)] or choices["model"][:1]
        return {
            "token": self.token,  # for the X-Impasto-Token header of every POST
            "sketch": self.sketcher.unavailable is None,  # whether quick sketches are made here
            "device": kind,
            "defaults": shown,
            "choices": choices,
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


def download_name(content: str, styles: list[str], size: tuple[int, int] | None, sketch: bool) -> str:
    """A result's file name that says what it is: ``photo-in-starry-night-768px.png``."""

    def stem(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem).strip("-").lower()[:40] or "image"

    style = "-and-".join(stem(name) for name in styles[:2]) + ("-and-more" if len(styles) > 2 else "")
    pixels = f"-{max(size)}px" if size else ""
    return f"{stem(content)}-in-{style}{'-sketch' if sketch else ''}{pixels}.png"


def _probe(path: Path, max_pixels: int, max_bytes: int) -> tuple[int, int]:
    """The size of the image at ``path`` if it is one of UPLOAD_FORMATS (told from its header, before
    anything decodes it) and decodes within the limits (images.probe)."""
    from impasto.io import images

    try:
        with Image.open(path, formats=UPLOAD_FORMATS):
            pass
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageError(f"{path}: not an image impasto takes (PNG, JPEG, WebP, TIFF, BMP or GIF)") from None
    return images.probe(path, max_pixels, max_bytes)


def _command_word(reference: object, path: Path, name: str) -> str:
    """How a command line names an image: an example by its real path (it ships with impasto, so the
    command runs as shown), an upload by the name of the file the user chose."""
    return str(path) if isinstance(reference, str) and reference.startswith("example:") else name


# The options ``impasto preview`` takes: those a feed-forward sketch honours (preview.make).
SKETCH_OPTIONS = frozenset(
    {"size", "style_blend", "preserve_colors", "color_match", "max_pixels", "max_upscale", "content_masks"}
)


def command_line(
    content: str,
    styles: list[str],
    config: StyleConfig,
    budget: float | None,
    *,
    sketch: bool = False,
    masks: list[str] = [],  # noqa: B006 (never changed)
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
        if f.name == "content_masks":  # by the names the user knows them by
            for mask in masks:
                words += ["--content-mask", mask]
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
