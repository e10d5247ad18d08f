"""The web app's HTTP server: a page, its static files and a small JSON API over :mod:`impasto.web.jobs`.

Built on the standard library's threading HTTP server, so ``impasto serve`` needs nothing the core does
not already install and starts in a fraction of a second. Every browser gets a session cookie; uploads,
jobs and results live in that session and are invisible to every other one (their ids are random too).

    GET  /                          the page
    GET  /static/NAME               its script and style sheet
    GET  /examples/NAME             a built-in example image
    GET  /api/setup                 defaults, choices, limits and examples for the page
    POST /api/uploads               an image as the raw request body → {"id", "width", "height"}
    POST /api/jobs                  {"content", "styles": [{"image", "weight"}], options} → {"id"}
    GET  /api/jobs/ID               the job's state, progress, loss curve, queue position
    GET  /api/jobs/ID/preview       the image as it is now (PNG)
    GET  /api/jobs/ID/result        the finished image (PNG, as a download)
    POST /api/jobs/ID/stop          stop it; a running job keeps its best image so far

No other web site can drive it through the user's browser: a request whose Host is not this server's
own name is refused (a DNS-rebinding page names itself), and so is every POST that another site sent
(Origin, Sec-Fetch-Site) or that lacks the server's token, which only this page can read (/api/setup).
Served to a network (``--host 0.0.0.0``), an access token can be required of every request: given once in
the URL (``/?token=…``), it is kept in a cookie.

No client can exhaust it: connections are served by a fixed pool of threads (more wait in a bounded
line, the rest are turned away), a silent or idle connection is dropped after a timeout, uploads are
decoded one at a time on a thread of their own, each within a limit of decoded memory, and sessions,
their files and the queue of jobs are all bounded.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.cookies
import json
import math
import re
import secrets
import shlex
import shutil
import tempfile
import threading
import time
import urllib.parse
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
from impasto.web.connections import OneRequestHandler, PooledServer
from impasto.web.jobs import Job, JobQueue, QueueFull, Stylize

STATIC = Path(__file__).resolve().parent / "static"
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}
COOKIE = "impasto_session"
# Every POST carries the server's token in this header. The page reads it from /api/setup, which
# another site's page cannot read (no CORS), and a custom header cannot be sent cross-site without a
# preflight this server never approves.
TOKEN_HEADER = "X-Impasto-Token"
# Where a server started with an access token (--token) finds it: the URL once, then this cookie; or
# this header, for scripts.
ACCESS_COOKIE = "impasto_access"
ACCESS_HEADER = "X-Impasto-Access"
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
DRAIN_LIMIT = 256 * 2**20  # bytes of a too-large upload read (and dropped) so the client hears why
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
        if any(job.state in ("queued", "running") for job in session.jobs.values()):
            raise HttpError(HTTPStatus.CONFLICT, "this page already has a job running; stop it first")
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
            command=command_line(content_word, style_names, config, budget),
        )
        try:
            self.queue.submit(job)
        except QueueFull as full:
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
            "result_size": job.result_size,
            "command": job.command,
        }

    def setup(self) -> dict[str, Any]:
        defaults = StyleConfig()
        return {
            "token": self.token,  # for the X-Impasto-Token header of every POST
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


def command_line(content: str, styles: list[str], config: StyleConfig, budget: float | None) -> str:
    """The ``impasto`` command that makes the same image (options that differ from the defaults, the
    server's device included)."""
    defaults = StyleConfig()
    words = ["impasto", content, *styles, "-o", "impasto.png"]
    for f in fields(StyleConfig):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name):
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
    if budget is not None:
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


def _bytes(count: int) -> str:
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


class Handler(OneRequestHandler):
    """One request. The App is the server's (``self.server.app``)."""

    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing --------------------------------------------------------------------------------------

    def _session(self) -> Session:
        cookies = http.cookies.SimpleCookie(self.headers.get("Cookie", ""))
        token = cookies[COOKIE].value if COOKIE in cookies else None
        session, new = self.server.app.session(token)
        self._new_cookie = session.id if new else None
        return session

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if getattr(self, "_new_cookie", None):
            self.send_header("Set-Cookie", f"{COOKIE}={self._new_cookie}; Path=/; HttpOnly; SameSite=Strict")
        if getattr(self, "_access_cookie", False):
            token = self.server.app.access_token
            self.send_header("Set-Cookie", f"{ACCESS_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def _body(self, limit: int) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
        if int(length) > limit:
            # Read the body before answering (up to a bound): a client still sending when the answer
            # comes would see a broken connection instead of the message.
            left = int(length)
            while 0 < left <= DRAIN_LIMIT and (chunk := self.rfile.read(min(left, 2**16))):
                left -= len(chunk)
            self.close_connection = True
            raise HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request is {_bytes(int(length))}; this server takes at most {_bytes(limit)}",
            )
        return self._read(int(length))

    def _read(self, count: int) -> bytes:
        """Exactly ``count`` bytes of the body (the socket is read unbuffered, a piece at a time)."""
        pieces, left = [], count
        while left > 0:
            piece = self.rfile.read(min(left, 2**20))
            if not piece:  # the client hung up before sending it all
                raise ConnectionError("the request ended before its Content-Length")
            pieces.append(piece)
            left -= len(piece)
        return b"".join(pieces)

    def _route(self, method: str) -> None:
        self._new_cookie = None
        self._access_cookie = False
        try:
            self._check_access()
            self._check_origin(method)
            self._dispatch(method, self.path.split("?", 1)[0])
        except HttpError as error:
            self._json({"error": str(error)}, error.status)
        except (ConnectionError, TimeoutError):
            raise  # the client went away or went silent: handle() hangs up without a word
        except Exception as error:  # a bug: say so, keep serving
            self.log_error("internal error: %r", error)
            self._json(
                {"error": f"internal error ({type(error).__name__})"}, HTTPStatus.INTERNAL_SERVER_ERROR
            )

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _check_access(self) -> None:
        """With an access token (``impasto serve --token``), refuse every request that does not carry it:
        in the URL (``?token=``, then kept in a cookie), the cookie, or the X-Impasto-Access header."""
        wanted = self.server.app.access_token
        if wanted is None:
            return
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("token", [""])[0]
        cookies = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            cookies.load(self.headers.get("Cookie", ""))
        cookie = cookies[ACCESS_COOKIE].value if ACCESS_COOKIE in cookies else ""
        given = [query, cookie, self.headers.get(ACCESS_HEADER, "")]
        if not any(secrets.compare_digest(value, wanted) for value in given if value.isascii()):
            raise HttpError(
                HTTPStatus.UNAUTHORIZED,
                "this server needs its access token: open the address it printed when it started",
            )
        self._access_cookie = bool(query) and cookie != wanted

    def _check_origin(self, method: str) -> None:
        """Refuse what another web site could make the user's browser send (see the module docstring):
        a Host this server is not (DNS rebinding), and any state-changing request that is cross-site or
        lacks the page's token."""
        allowed = self.server.hosts
        if allowed is not None and self.headers.get("Host", "") not in allowed:
            raise HttpError(HTTPStatus.FORBIDDEN, f"this server answers only to {self.server.url}")
        if method != "POST":
            return
        host = self.headers.get("Host", "")
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if (origin is not None and origin != f"http://{host}") or site not in (None, "same-origin", "none"):
            raise HttpError(HTTPStatus.FORBIDDEN, "requests from other web sites are refused")
        if not secrets.compare_digest(self.headers.get(TOKEN_HEADER, ""), self.server.app.token):
            raise HttpError(HTTPStatus.FORBIDDEN, "this request did not come from impasto's page; reload it")

    # -- routes ----------------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str) -> None:
        app = self.server.app
        if method == "GET" and path in ("/", "/index.html"):
            self._session()
            return self._send(HTTPStatus.OK, (STATIC / "index.html").read_bytes(), STATIC_TYPES[".html"])
        if method == "GET" and path.startswith("/static/"):
            name = path.removeprefix("/static/")
            file = STATIC / name
            if "/" in name or file.suffix not in STATIC_TYPES or not file.is_file():
                raise HttpError(HTTPStatus.NOT_FOUND, "no such file")
            return self._send(HTTPStatus.OK, file.read_bytes(), STATIC_TYPES[file.suffix])
        if method == "GET" and path.startswith("/examples/"):
            name = path.removeprefix("/examples/")
            if name not in examples.ROLES or not (app.examples / name).is_file():
                raise HttpError(HTTPStatus.NOT_FOUND, "no such example")
            return self._send(HTTPStatus.OK, (app.examples / name).read_bytes(), "image/png")
        if method == "GET" and path == "/api/setup":
            self._session()
            return self._json(app.setup())
        session = self._session()
        if method == "POST" and path == "/api/uploads":
            body = self._body(app.limits.max_upload_bytes)
            name = urllib.parse.unquote(self.headers.get("X-Filename", "image"))
            reference, upload = app.upload(session, name, body)
            return self._json(
                {"id": reference, "name": upload.name, "width": upload.width, "height": upload.height}
            )
        if method == "POST" and path == "/api/jobs":
            try:
                request = json.loads(self._body(2**16) or b"{}")
            except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep, a huge integer
                raise HttpError(HTTPStatus.BAD_REQUEST, "the request is not JSON impasto can read") from None
            if not isinstance(request, dict):
                raise HttpError(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
            return self._json({"id": app.start(session, request).id}, HTTPStatus.ACCEPTED)
        match = re.fullmatch(r"/api/jobs/([\w-]+)(/preview|/result|/stop)?", path)
        if match:
            job = session.jobs.get(match.group(1))
            if job is None:  # unknown, expired, or another session's: all look the same
                raise HttpError(HTTPStatus.NOT_FOUND, "no such job")
            action = match.group(2)
            if method == "GET" and action is None:
                return self._json(app.status(job))
            if method == "GET" and action == "/preview":
                with job.lock:
                    preview = job.preview
                if preview is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, "no preview yet")
                return self._send(HTTPStatus.OK, preview, "image/png")
            if method == "GET" and action == "/result":
                if job.result is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, "no result yet")
                disposition = f'attachment; filename="impasto-{job.id[:8]}.png"'
                return self._send(
                    HTTPStatus.OK, job.result, "image/png", {"Content-Disposition": disposition}
                )
            if method == "POST" and action == "/stop":
                if self.headers.get("Content-Length"):
                    self._body(2**10)  # read (and ignore) what came with it: the connection stays usable
                app.queue.stop(job)
                return self._json({"state": job.state})
        raise HttpError(HTTPStatus.NOT_FOUND, "no such page")


class Server(PooledServer):
    """The app's HTTP server (connections.py: a waiting room and a fixed pool of workers)."""

    def __init__(self, address: tuple[str, int], app: App, verbose: bool = False) -> None:
        limits = app.limits
        super().__init__(
            address,
            Handler,
            workers=limits.workers,
            max_connections=limits.max_connections,
            idle_timeout=limits.idle_timeout,
            request_timeout=limits.request_timeout,
        )
        self.app = app
        self.verbose = verbose
        host, port = self.server_address[:2]
        # Bound to this computer: only its own names are this server (another name pointing here is a
        # DNS-rebinding page). Bound to a network address: every name the network uses is fine.
        local = host in ("127.0.0.1", "::1", "localhost")
        self.hosts: frozenset[str] | None = frozenset(f"{h}:{port}" for h in LOOPBACK) if local else None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if isinstance(host, str) else host.decode()
        return f"http://{'127.0.0.1' if shown in ('0.0.0.0', '') else shown}:{port}/"


def make_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    device: str = "auto",
    stylize: Stylize | None = None,
    verbose: bool = False,
    access_token: str | None = None,
) -> Server:
    """A server bound to ``host:port`` (port 0: any free one); call ``serve_forever()`` on it and
    ``shutdown()`` + ``app.close()`` to stop. ``stylize`` defaults to :func:`impasto.stylize_detailed`."""
    if stylize is None:
        from impasto.pipeline import stylize_detailed

        stylize = stylize_detailed
    return Server((host, port), App(stylize, limits, device, access_token), verbose)
