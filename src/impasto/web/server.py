"""The web app on uvicorn: :func:`make_server` binds the address, :class:`Server` runs the app on it.

The socket is bound here, before uvicorn or the app's state exist, so that a busy port, an address
this computer does not have or a name that does not resolve is one line from ``impasto serve`` and
leaves nothing behind; IPv6 addresses (``--host ::1``) are served like IPv4 ones. uvicorn then serves
it on asyncio with our protocol (connections.py) and without its own logging or signal handling:

- :meth:`Server.run` (``impasto serve``): in the main thread until SIGINT, SIGTERM or SIGHUP. The first
  stops taking requests, stops the jobs (each keeps its best image until the process ends), ends the
  progress streams and removes every upload; a second one during that stops at once (the uploads still
  removed). Either way the exit is clean: no traceback, no abort.
- :meth:`Server.start` / :meth:`Server.stop`: in a thread of its own (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from types import FrameType

import uvicorn

from impasto.web.app import App
from impasto.web.connections import Rules, protocol_for
from impasto.web.jobs import Stylize
from impasto.web.limits import Limits
from impasto.web.middleware import Contained
from impasto.web.routes import JSON_LIMIT, build

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class BindError(OSError):
    """The address cannot be listened on; the message says why, in words."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); BindError says why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise BindError(f"cannot listen on {host}: no such address on this computer") from None
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind(address)
        listener.listen(128)
    except OSError as error:
        listener.close()
        reason = {98: "the port is in use (another program, or impasto already running?)"}.get(
            error.errno or 0, error.strerror or str(error)
        )
        raise BindError(f"cannot listen on {_shown(host)}:{port}: {reason}") from None
    listener.setblocking(False)
    return listener


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this computer only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Server:
    """The app served on a bound socket (:func:`make_server` makes one)."""

    def __init__(
        self, listener: socket.socket, app: App, *, names: Collection[str] = (), verbose: bool = False
    ) -> None:
        self.listener = listener
        self.app = app
        self.server_address: tuple[str, int] = listener.getsockname()[:2]
        host = self.server_address[0]
        self.loopback = is_loopback(host)
        limits = app.limits
        rules = Rules(
            limits.idle_timeout,
            limits.request_timeout,
            limits.per_client,
            limits.per_range,
            limits.max_connections,
            max_body=max(limits.max_upload_bytes, JSON_LIMIT),
        )
        asgi = Contained(build(app, url=self.url, loopback=self.loopback, names=names))
        config = uvicorn.Config(
            asgi,
            http=protocol_for(rules),
            lifespan="off",  # the App is made before and closed after (stop()), whatever happens between
            timeout_keep_alive=int(max(1, limits.idle_timeout)),
            timeout_graceful_shutdown=3,
            log_config=None,
            access_log=verbose,
            server_header=False,
        )
        self._uvicorn = _Uvicorn(config)
        logging.getLogger("uvicorn.error").setLevel(logging.INFO if verbose else logging.CRITICAL)
        if verbose:
            _log_to_stderr()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
        return f"http://{'[::1]' if host == '::' else shown}:{port}/"

    def run(self, announce: Callable[[], None] = lambda: None) -> int:
        """Serve in this (the main) thread until a stop signal; clean up → the exit status (0).
        ``announce`` is called once the stop signals are handled (a signal during it cleans up too)."""
        first = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if first.is_set():  # the second: stop at once, the uploads still removed
                shutil.rmtree(self.app.folder, ignore_errors=True)
                print("stopped", file=sys.stderr, flush=True)
                os._exit(130)  # a job's thread may be inside the network: no interpreter shutdown
            first.set()
            print("stopping (again to stop at once)", file=sys.stderr, flush=True)
            self.app.closing.set()  # the progress streams end, so uvicorn need not wait for them
            self._uvicorn.should_exit = True

        with _handlers(on_signal):
            try:
                announce()
                self._uvicorn.run(sockets=[self.listener])
            finally:
                self.app.close()
                self.listener.close()
        if self.app.queue.alive:  # a step that outlasted close(): end without waiting for it
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return 0

    def start(self) -> None:
        """Serve in a thread of its own (returns once it takes requests)."""
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [self.listener]}, name="impasto-web", daemon=True
        )
        self._thread.start()
        while not self._uvicorn.started and self._thread.is_alive():
            self._uvicorn.started_event.wait(0.05)

    def stop(self) -> None:
        """Stop serving (after start()), then stop the jobs and remove the uploads."""
        self.app.closing.set()
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.app.close()
        self.listener.close()


class _Uvicorn(uvicorn.Server):
    """uvicorn's server with our signal handling (Server.run) instead of its own, which would raise the
    signal again once it has stopped and so end the process before our clean-up."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.started_event = threading.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.started_event.set()

    async def main_loop(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await super().main_loop()


@contextlib.contextmanager
def _handlers(handler: signal.Handlers | object) -> Iterator[None]:
    before = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}  # type: ignore[arg-type]
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("impasto serve: %(message)s"))
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def make_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    limits: Limits | None = None,
    device: str = "auto",
    stylize: Stylize | None = None,
    verbose: bool = False,
    access_token: str | None = None,
    names: Collection[str] = (),
    outputs: Path | None = None,
) -> Server:
    """A server bound to ``host:port`` (port 0: any free one; BindError when it cannot be): call
    ``run()`` on it in the main thread, or ``start()`` and ``stop()``. ``stylize`` defaults to
    :func:`impasto.stylize_detailed`; ``names`` are host names it answers to besides its addresses;
    ``outputs`` a folder every finished or stopped result is written to as well."""
    listener = bind(host.strip("[]"), port)
    if stylize is None:
        from impasto.pipeline import stylize_detailed

        stylize = stylize_detailed
    try:
        shared = is_loopback(host.strip("[]")) or access_token is not None  # App: whose history it is
        app = App(stylize, limits, device, access_token, outputs, history_shared=shared)
    except BaseException:
        listener.close()
        raise
    return Server(listener, app, names=names, verbose=verbose)
