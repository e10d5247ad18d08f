"""The web app's pages and JSON API, as a Starlette application over :class:`~impasto.web.app.App`.

    GET  /                          the page
    GET  /static/NAME               its script, style sheet and icon
    GET  /examples/NAME             a built-in example image
    GET  /api/setup                 defaults, choices, limits and examples for the page
    POST /api/uploads               an image as the raw request body → {"id", "width", "height"}
    POST /api/jobs                  {"content", "styles": [{"image", "weight"}], options} → {"id"};
                                    with "sketch_only": true, the quick sketch alone (no optimization)
    GET  /api/jobs                  the history: this session's jobs, newest first, each with the request
                                    that made it; then the outputs folder's results (where shared: app.py)
    POST /api/history/ID/delete     remove a job or kept result from the history, its file too
    GET  /api/kept/ID               a result kept in the outputs folder (PNG, as a download)
    GET  /api/jobs/ID               the job's state, progress, loss curve, queue position
    GET  /api/jobs/ID/events        the same, pushed at each change (server-sent events) until it ends
    GET  /api/jobs/ID/preview       the image as it is now (PNG): first the quick sketch, then the run's
    GET  /api/jobs/ID/sketch        the quick sketch (PNG), shown before the run's first picture
    GET  /api/jobs/ID/result        the finished image (PNG, as a download)
    POST /api/jobs/ID/stop          stop it; a running job keeps its best image so far

Uploads, jobs and results live in the browser's session (a cookie) and are invisible to every other
one; their ids are random too. What a request must pass before it gets here is middleware.py.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import AsyncIterator, Collection
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from impasto import examples
from impasto.web.app import App
from impasto.web.commands import download_name
from impasto.web.errors import HttpError
from impasto.web.jobs import Job
from impasto.web.middleware import SECURITY_HEADERS, AccessToken, HostCheck, SameOrigin, SecurityHeaders
from impasto.web.sessions import Session
from impasto.web.uploads import media_type, size_text

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "impasto_session"
DRAIN_LIMIT = 256 * 2**20  # bytes of a too-large upload read (and dropped) so the client hears why
JSON_LIMIT = 2**16  # bytes of a job request
EVENT_INTERVAL = (0.1, 0.25)  # seconds between looks at a job: before its first picture, after


def build(app: App, *, url: str, loopback: bool, names: Collection[str] = ()) -> Starlette:
    """The Starlette application of ``app``, for a server at ``url`` (loopback: bound to this computer
    only; ``names``: host names it answers to besides its addresses and localhost)."""

    h = _Handlers(app)
    routes = [
        Route("/", h.page, methods=["GET"]),
        Route("/index.html", h.page, methods=["GET"]),
        Route("/favicon.ico", h.favicon, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/examples/{name}", h.example, methods=["GET"]),
        Route("/api/setup", h.setup, methods=["GET"]),
        Route("/api/uploads", h.upload, methods=["POST"]),
        Route("/api/uploads/{upload}", h.uploaded, methods=["GET"]),
        Route("/api/jobs", h.start, methods=["POST"]),
        Route("/api/jobs", h.history, methods=["GET"]),
        Route("/api/jobs/{job}", h.status, methods=["GET"]),
        Route("/api/jobs/{job}/events", h.events, methods=["GET"]),
        Route("/api/jobs/{job}/{which:str}", h.picture, methods=["GET"]),
        Route("/api/jobs/{job}/stop", h.stop, methods=["POST"]),
        Route("/api/history/{entry}/delete", h.forget, methods=["POST"]),
        Route("/api/kept/{entry}", h.kept, methods=["GET"]),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(HostCheck, loopback=loopback, names=names, url=url),
        Middleware(AccessToken, token=app.access_token),
        Middleware(SameOrigin, token=app.token),
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            HttpError: _http_error,
            HTTPException: _starlette_error,
            Exception: _internal_error,
        },
    )


class _Handlers:
    """The routes' handlers over one :class:`App`."""

    def __init__(self, app: App) -> None:
        self.app = app

    def session_of(self, request: Request) -> Session | None:
        return self.app.sessions.find(request.cookies.get(COOKIE))

    def job_of(self, request: Request) -> Job:
        return self.app.job(self.session_of(request), request.path_params["job"])

    async def page(self, request: Request) -> Response:
        self.app.sketcher.warm()  # whoever loads the page will soon want a sketch
        response = Response((STATIC / "index.html").read_bytes(), media_type="text/html; charset=utf-8")
        response.headers["Cache-Control"] = "no-store"
        _set_cookie(response, self.app.sessions.new_cookie(request.cookies.get(COOKIE)))
        return response

    async def favicon(self, request: Request) -> Response:  # browsers ask for it whatever the page says
        return Response((STATIC / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    async def example(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in examples.ROLES or not (self.app.examples / name).is_file():
            raise HttpError(HTTPStatus.NOT_FOUND, "no such example")
        return Response((self.app.examples / name).read_bytes(), media_type="image/png")

    async def setup(self, request: Request) -> Response:
        return _json(self.app.setup())

    async def upload(self, request: Request) -> Response:
        session, new = self.app.sessions.session(request.cookies.get(COOKIE), _address(request))
        body = await _body(request, self.app.limits.max_upload_bytes)
        name = urllib.parse.unquote(request.headers.get("x-filename", "image"))
        reference, kept = await run_in_threadpool(self.app.upload, session, name, body)
        answer = {"id": reference, "name": kept.name, "width": kept.width, "height": kept.height}
        made_with = await run_in_threadpool(self.app.made_with, kept)
        response = _json(answer if made_with is None else {**answer, "made_with": made_with})
        _set_cookie(response, new)
        return response

    async def start(self, request: Request) -> Response:
        session, new = self.app.sessions.session(request.cookies.get(COOKIE), _address(request))
        body = await _body(request, JSON_LIMIT)
        try:
            asked = json.loads(body or b"{}")
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep, a huge integer
            raise HttpError(HTTPStatus.BAD_REQUEST, "the request is not JSON impasto can read") from None
        if not isinstance(asked, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
        job = await run_in_threadpool(self.app.start, session, asked)
        response = _json({"id": job.id}, HTTPStatus.ACCEPTED)
        _set_cookie(response, new)
        return response

    async def history(self, request: Request) -> Response:
        return _json(self.app.history(self.session_of(request)))

    async def status(self, request: Request) -> Response:
        return _json(self.app.status(self.job_of(request)))

    async def events(self, request: Request) -> Response:
        session = self.session_of(request)
        job = self.app.job(session, request.path_params["job"])
        assert session is not None  # self.app.job found the job in it
        with self.app.sessions.lock:
            if session.streams >= self.app.limits.streams_per_session:
                raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, "this page has too many progress streams open")
            session.streams += 1

        async def stream() -> AsyncIterator[str]:
            try:
                last = ""
                while not self.app.closing.is_set():
                    status = self.app.status(job)
                    shown = json.dumps(status)
                    if shown != last:
                        yield f"data: {shown}\n\n"
                        last = shown
                    if status["state"] not in ("queued", "running"):
                        return
                    await asyncio.sleep(EVENT_INTERVAL[bool(status["preview_version"])])
            finally:
                with self.app.sessions.lock:
                    session.streams -= 1

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def uploaded(self, request: Request) -> Response:
        """An upload of the session's, as it came (the page shows it again when a past job's settings
        are used); another session's, or one forgotten, is a 404 like a name never given."""
        path = self.app.uploaded(self.session_of(request), request.path_params["upload"])
        data, kind = path.read_bytes(), await run_in_threadpool(media_type, path)
        return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})

    async def picture(self, request: Request) -> Response:
        job = self.job_of(request)
        which = request.path_params["which"]
        if which not in ("preview", "sketch", "result"):
            raise HttpError(HTTPStatus.NOT_FOUND, "no such page")
        with job.lock:
            image = {"preview": job.preview, "sketch": job.sketch, "result": job.result}[which]
        if image is None:
            missing = {
                "preview": "no preview yet",
                "sketch": "no sketch for this job",
                "result": "no result yet",
            }
            raise HttpError(HTTPStatus.NOT_FOUND, missing[which])
        headers = {"Cache-Control": "no-store"}
        if which == "result":
            name = download_name(*job.names, job.result_size, job.sketch_only)
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(image, media_type="image/png", headers=headers)

    async def forget(self, request: Request) -> Response:
        if "content-length" in request.headers:  # read (and ignore) what came with it
            await _body(request, 2**10)
        await run_in_threadpool(self.app.forget, self.session_of(request), request.path_params["entry"])
        return _json({"deleted": request.path_params["entry"]})

    async def kept(self, request: Request) -> Response:
        path, name = self.app.kept_picture(request.path_params["entry"])
        headers = {"Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{name}"'}
        return Response(await run_in_threadpool(path.read_bytes), media_type="image/png", headers=headers)

    async def stop(self, request: Request) -> Response:
        job = self.job_of(request)
        if "content-length" in request.headers:  # read (and ignore) what came with it
            await _body(request, 2**10)
        self.app.queue.stop(job)
        return _json({"state": job.state})


def _address(request: Request) -> str:
    """The address a request came from ("" where the server does not know it)."""
    return request.client.host if request.client is not None else ""


def _set_cookie(response: Response, value: str | None) -> None:
    """The session cookie ``value`` set on ``response``, when there is one to set."""
    if value is not None:
        response.headers.append("Set-Cookie", f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict")


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (a longer one is a 413, after it is read: a client
    still sending when the answer comes would see a broken connection instead of the message). How
    long it may take is connections.py's business."""
    length = request.headers.get("content-length")
    if length is None:
        raise HttpError(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
    if not (length.isascii() and length.isdigit()):
        raise HttpError(HTTPStatus.BAD_REQUEST, "the request's Content-Length is not a number")
    try:
        if int(length) > limit:
            read = 0
            async for chunk in request.stream():
                read += len(chunk)
                if read > DRAIN_LIMIT:
                    break
            raise HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request is {size_text(int(length))}; this server takes at most {size_text(limit)}",
                {"Connection": "close"},
            )
        return await request.body()
    except ClientDisconnect:
        raise  # middleware.Contained: nobody to answer


def _json(value: Any, status: int = HTTPStatus.OK) -> Response:
    return JSONResponse(value, status, headers={"Cache-Control": "no-store"})


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HttpError)
    return JSONResponse(
        {"error": str(error)}, error.status, headers={"Cache-Control": "no-store", **error.headers}
    )


async def _internal_error(request: Request, error: Exception) -> Response:
    """A bug: a 500 in JSON that names it, with the security headers every answer has (Starlette
    answers it from outside every middleware, SecurityHeaders too); middleware.Contained logs it."""
    return JSONResponse(
        {"error": f"internal error ({type(error).__name__})"},
        HTTPStatus.INTERNAL_SERVER_ERROR,
        headers={"Cache-Control": "no-store", **{k.decode(): v.decode() for k, v in SECURITY_HEADERS}},
    )


async def _starlette_error(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such route or file, a method a route does not take), in JSON."""
    assert isinstance(error, HTTPException)
    message = {404: "no such page", 405: "that method is not allowed here"}.get(
        error.status_code, error.detail
    )
    return JSONResponse({"error": message}, error.status_code, headers=dict(error.headers or {}))
