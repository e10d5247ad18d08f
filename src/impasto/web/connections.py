"""Connections: the rules uvicorn's HTTP/1.1 protocol (h11) leaves to the application, as a subclass.

uvicorn closes a connection that idles between requests (``timeout_keep_alive``), but a request may
trickle in forever, one byte every few seconds, and one client may open as many connections as it
likes. An asyncio server spends no thread on a waiting connection, so neither locks anyone out at
once; but both would let one client hold the server's connections and memory. Here:

- **a request arrives whole within a deadline**: a new connection's first byte within
  ``idle_timeout``; then the headers within ``request_timeout`` of their first byte, and the body within
  ``request_timeout`` plus the time its length takes at ``MIN_BODY_RATE``. Past it, the connection is
  closed without a word (what it sent is not a request the server can answer).
- **one client, a bounded share**: a client (an IP address) has at most ``per_client`` connections.
  Its next one replaces its own connection that has been quiet the longest — not being answered, and
  silent for ``QUIET`` seconds at least (idle, or trickling its request) — so a browser is never locked
  out by a script on the same machine holding connections. When none has been quiet that long (a burst
  of new connections), the newcomer hears 503: a burst must not cut requests still on their way in.
- **the server, a bounded total**: beyond ``max_connections`` open in all, a new one hears 503 at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Seconds a connection must have been silent before a newer one of its client may replace it.
QUIET = 1.0
# Seconds a connection answered with a refusal stays open to read (and drop) what its client still
# sends, so that the client reads the answer before the connection closes (GuardedProtocol._linger).
LINGER = 2.0
# The slowest a request body may come: 25 MB (the default upload limit) in under two minutes.
MIN_BODY_RATE = 256 * 2**10  # bytes per second
_BUSY_BODY = b'{"error": "the server is busy; try again soon"}'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(_BUSY_BODY)
    + _BUSY_BODY
)


@dataclass
class Rules:
    """One server's bounds (web.limits.Limits says what each means) and its open connections."""

    idle_timeout: float
    request_timeout: float
    per_client: int
    max_connections: int
    max_body: int  # the most of a body the server reads: a longer Content-Length earns no more time
    open: dict[str, list[GuardedProtocol]] = field(default_factory=lambda: defaultdict(list))

    @property
    def total(self) -> int:
        return sum(len(connections) for connections in self.open.values())


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines and bounds (module docstring). A server uses a subclass
    with its own :class:`Rules` (:func:`protocol_for`)."""

    rules: Rules

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_first_byte = False  # the deadline armed is the one for a new connection's first byte
        self._body_deadline_set = False
        self._since = time.monotonic()  # when it opened, or its current request began
        self._heard = time.monotonic()  # when it opened, or last sent something
        self._lingering = False  # answered and half-closed: what still comes is read and dropped

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        rules = self.rules
        client = self.client[0] if self.client else ""
        if rules.total >= rules.max_connections:
            return self._refuse()
        mine = rules.open[client]
        if len(mine) >= rules.per_client:
            now = time.monotonic()
            quiet = [c for c in mine if not c.answering and now - c._heard >= QUIET]
            if not quiet:
                return self._refuse()
            min(quiet, key=lambda c: c._heard)._close()
        rules.open[client].append(self)
        self._arm(rules.idle_timeout)
        self._awaiting_first_byte = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def _forget(self) -> None:
        """Count this connection no more (at once when it is closed: asyncio reports the loss later,
        and connections arriving meanwhile must not find it still counted, nor pick it to replace)."""
        self._disarm()
        client = self.client[0] if self.client else ""
        mine = self.rules.open.get(client)
        if mine is not None and self in mine:
            mine.remove(self)
            if not mine:
                del self.rules.open[client]

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        self._heard = time.monotonic()
        starting = self._deadline is None or self._awaiting_first_byte
        self._awaiting_first_byte = False
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state not in (h11.IDLE, h11.SEND_BODY):  # the request is in: the app answers it
            self._disarm()
            return
        if starting:  # the first bytes of a request: its deadline starts
            self._since = time.monotonic()
            self._body_deadline_set = False
            self._arm(self.rules.request_timeout)
        if state is h11.SEND_BODY and not self._body_deadline_set:
            self._body_deadline_set = True
            length = min(_content_length(self.headers), self.rules.max_body)
            left = self._since + self.rules.request_timeout + length / MIN_BODY_RATE - time.monotonic()
            self._arm(max(0.0, left))

    def on_response_complete(self) -> None:
        super().on_response_complete()  # uvicorn's keep-alive timer now watches the idle connection
        self._disarm()
        self._since = time.monotonic()
        if self.conn.their_state is h11.SEND_BODY:  # answered before its body came (a refusal): the
            self._close()  # rest would only be read to be dropped, and may never come

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes that are no HTTP request, its hang-up made a lingering one."""
        transport = self.transport
        self.transport = _Lingering(transport, self._linger)  # type: ignore[assignment]
        try:
            super().send_400_response(msg)
        finally:
            self.transport = transport

    def eof_received(self) -> None:
        if self._lingering:  # the client has read the answer and hung up: so may we
            self.transport.close()
            return
        super().eof_received()

    def _linger(self) -> None:
        """Hang up after an answer the client may still be sending to: stop writing (its end tells the
        client the answer is whole), read and drop what still comes for up to LINGER seconds, then
        close. Closing with its bytes unread makes the system reset the connection, and the client may
        lose the answer before it has read it."""
        self._forget()
        self._disarm()
        self._lingering = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER, self.transport.close)

    # -- the rules -------------------------------------------------------------------------------------

    @property
    def answering(self) -> bool:
        """Whether a whole request is in and its answer is not yet complete (such a connection is never
        cut to make room: it may be a download or a stream of progress)."""
        return (
            self.cycle is not None
            and not self.cycle.response_complete
            and self.conn.their_state not in (h11.IDLE, h11.SEND_BODY)
        )

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._close)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _close(self) -> None:
        """Hang up without a word: a deadline passed, or a newer connection of its client needs room."""
        self._forget()
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self) -> None:
        self.transport.write(BUSY)
        self.transport.close()


class _Lingering:
    """A transport whose ``close`` lingers (:meth:`GuardedProtocol._linger`); all else is the real one's."""

    def __init__(self, transport: asyncio.Transport, linger: Any) -> None:
        self._transport, self.close = transport, linger

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _content_length(headers: list[tuple[bytes, bytes]] | None) -> int:
    for name, value in headers or []:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0


def protocol_for(rules: Rules) -> type[GuardedProtocol]:
    """The protocol class of one server (uvicorn makes one instance per connection)."""
    return type("ServerProtocol", (GuardedProtocol,), {"rules": rules})
