"""Connections for the web app's server: a waiting room, a fixed pool of workers, bounds on both.

The standard library's threading server gives every connection a thread for as long as it stays open,
so a page (or a script) that opens a few hundred connections and sends nothing holds a few hundred
threads. Here a connection holds a worker only while a request is being read and answered:

- accepted connections, and kept-alive ones between requests, wait in a *waiting room*: one thread
  watching them all with a selector. A connection with something to read goes to the pool; one silent
  for ``idle_timeout`` seconds is closed.
- ``workers`` threads serve requests, one request per turn; a kept-alive connection then goes back to
  the waiting room.
- at most ``max_connections`` are open at once (waiting or served); beyond that a new connection hears
  a 503 and is closed at once.
"""

from __future__ import annotations

import contextlib
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

_BUSY_BODY = b'{"error": "the server is busy; try again soon"}'
# What a connection beyond max_connections hears before it is closed.
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(_BUSY_BODY)
    + _BUSY_BODY
)


class OneRequestHandler(BaseHTTPRequestHandler):
    """Serves one request of a connection per turn; the server keeps the connection if it may live on.

    Unbuffered reading: nothing the client sent after this request can be left behind in a buffer that
    dies with the handler.
    """

    server: PooledServer
    protocol_version = "HTTP/1.1"
    rbufsize = 0

    def setup(self) -> None:
        super().setup()
        # A client that stops sending in the middle of a request gives its worker back after this long.
        self.connection.settimeout(self.server.request_timeout)

    def handle(self) -> None:
        try:
            self.handle_one_request()
        except OSError:  # the client went away or went silent (a timed-out socket reads no more)
            self.close_connection = True


class PooledServer(HTTPServer):
    """An HTTP server whose connections wait in a waiting room and are served by a pool (see above)."""

    request_queue_size = 128  # the listen backlog: socketserver's 5 resets connections from a crowd

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[OneRequestHandler],
        *,
        workers: int,
        max_connections: int,
        idle_timeout: float,
        request_timeout: float,
    ) -> None:
        super().__init__(address, handler)
        self.handler = handler
        self.request_timeout = request_timeout
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="impasto-http")
        self.open_connections = threading.BoundedSemaphore(max_connections)
        self.waiting = _WaitingRoom(self._ready, self._close, idle_timeout)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.open_connections.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        self.waiting.add(request, client_address)

    def _serve(self, request: socket.socket, client_address: Any) -> None:
        """One request of ``request`` (on a worker); then back to the waiting room, or closed."""
        keep = False
        try:
            keep = not self.handler(request, client_address, self).close_connection
        except Exception:
            self.handle_error(request, client_address)
        if keep:
            self.waiting.add(request, client_address)
        else:
            self._close(request)

    def _close(self, request: socket.socket) -> None:
        self.shutdown_request(request)
        self.open_connections.release()

    def _ready(self, request: socket.socket, client_address: Any) -> None:
        """``request`` has something to read: to a worker."""
        try:
            self.pool.submit(self._serve, request, client_address)
        except RuntimeError:  # the pool is shut down: the server is closing
            self._close(request)

    def server_close(self) -> None:
        super().server_close()
        self.waiting.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


class _WaitingRoom:
    """Connections with nothing to read yet, watched by one thread: ``ready(connection, address)`` is
    called when one has something to read, ``close(connection)`` when it idled too long."""

    def __init__(
        self,
        ready: Callable[[socket.socket, Any], None],
        close: Callable[[socket.socket], None],
        idle_timeout: float,
    ) -> None:
        self._ready = ready
        self._close = close
        self._idle_timeout = idle_timeout
        self._selector = selectors.DefaultSelector()
        self._arrivals: queue.SimpleQueue[tuple[socket.socket, Any]] = queue.SimpleQueue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="impasto-waiting-room", daemon=True)
        self._thread.start()

    def add(self, connection: socket.socket, address: Any) -> None:
        """Let ``connection`` wait (from any thread)."""
        self._arrivals.put((connection, address))
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def _watch(self) -> None:
        while not self._closed:
            for key, _ in self._selector.select(timeout=min(0.5, self._idle_timeout)):
                if key.fileobj is self._wake_reader:
                    with contextlib.suppress(OSError):
                        self._wake_reader.recv(4096)
                    continue
                self._selector.unregister(key.fileobj)
                connection, address, _ = key.data
                self._ready(connection, address)
            while not self._arrivals.empty():
                connection, address = self._arrivals.get()
                try:
                    self._selector.register(
                        connection, selectors.EVENT_READ, (connection, address, time.monotonic())
                    )
                except (ValueError, OSError):  # closed meanwhile
                    self._close(connection)
            now = time.monotonic()
            for key in list(self._selector.get_map().values()):
                if key.data is not None and now - key.data[2] > self._idle_timeout:
                    self._selector.unregister(key.fileobj)
                    self._close(key.data[0])

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")
        self._thread.join(timeout=5)
        for key in list(self._selector.get_map().values()):
            if key.data is not None:
                self._close(key.data[0])
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()
