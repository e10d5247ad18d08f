"""The web app's HTTP server: a page, its static files and a small JSON API over :mod:`impasto.web.jobs`.

Built on the standard library's threading HTTP server, so ``impasto serve`` needs nothing the core does
not already install and starts in a fraction of a second. Every browser gets a session cookie; uploads,
jobs and results live in that session and are invisible to every other one (their ids are random too).

    GET  /                          the page
    GET  /static/NAME               its script and style sheet
    GET  /examples/NAME             a built-in example image
    GET  /api/setup                 defaults, choices, limits and examples for the page
    POST /api/uploads               an image as the raw request body → {"id", "width", "height"}
    POST /api/jobs                  {"content", "styles": [{"image", "weight"}], options} → {"id"};
                                    with "sketch_only": true, the quick sketch alone (no optimization)
    GET  /api/jobs/ID               the job's state, progress, loss curve, queue position
    GET  /api/jobs/ID/preview       the image as it is now (PNG): first the quick sketch, then the run's
    GET  /api/jobs/ID/sketch        the quick sketch (PNG), shown before the run's first picture
    GET  /api/jobs/ID/result        the finished image (PNG, as a download)
    POST /api/jobs/ID/stop          stop it; a running job keeps its best image so far

No other web site can drive it through the user's browser: a request whose Host is not this server's
own name is refused (a DNS-rebinding page names itself), and so is every POST that another site sent
(Origin, Sec-Fetch-Site) or that lacks the server's token, which only this page can read (/api/setup).
Served to a network (``--host 0.0.0.0``), an access token can be required of every request: given once in
the URL (``/?token=…``), it is kept in a cookie.

No client can exhaust it: a connection holds a worker only while a request is served (connections.py),
a silent or idle one is dropped after a timeout, uploads are decoded one at a time on a thread of their
own, each within a limit of decoded memory, and sessions, their files and the queue of jobs are all
bounded (app.py).
"""

from __future__ import annotations

import contextlib
import http.cookies
import json
import re
import secrets
import urllib.parse
from http import HTTPStatus
from pathlib import Path
from typing import Any

from impasto import examples
from impasto.web.app import App, HttpError, Limits, Session, size_text
from impasto.web.connections import OneRequestHandler, PooledServer
from impasto.web.jobs import Stylize

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
                f"the request is {size_text(int(length))}; this server takes at most {size_text(limit)}",
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
            app.sketcher.warm()  # whoever loads the page will soon want a sketch
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
        match = re.fullmatch(r"/api/jobs/([\w-]+)(/preview|/sketch|/result|/stop)?", path)
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
            if method == "GET" and action == "/sketch":
                with job.lock:
                    sketch = job.sketch
                if sketch is None:
                    raise HttpError(HTTPStatus.NOT_FOUND, "no sketch for this job")
                return self._send(HTTPStatus.OK, sketch, "image/png")
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
