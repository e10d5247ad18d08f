"""Connections: the rules uvicorn's HTTP/1.1 protocol (h11) leaves to the application, as a subclass.

uvicorn closes a connection that idles between requests (``timeout_keep_alive``), but a request may
trickle in forever, one byte every few seconds, and one client may open as many connections as it
likes. An asyncio server spends no thread on a waiting connection, so neither locks anyone out at
once; but both would let one client hold the server's connections and memory. Here:

- **a request arrives whole within a deadline**: a new connection's first byte within
  ``idle_timeout``; then the headers within ``request_timeout`` of their first byte, and the body within
  ``request_timeout`` plus the time its length takes at ``MIN_BODY_RATE``. Past it, the connection is
  closed without a word (what it sent is not a request the server can answer).
- **progress, not silence, decides who gives way**: a connection is *stalled* once it has waited
  ``QUIET`` seconds for a request, or for its request's headers to be whole (a browser sends them in
  one packet: headers that take longer are trickled, however often a byte comes), or its body comes
  slower than ``MIN_BODY_RATE``. A connection younger than that in its wait (its request may be on
  its way, unread yet on a busy server), being answered (a download, a stream of progress) or
  receiving its body at pace is never cut to make room.
- **one client, a bounded share**: a client (an IP address) has at most ``per_client`` connections;
  its next one replaces its own that has been stalled the longest, so a script on the same machine
  that holds connections — idle or trickling — never locks a browser out.
- **one network, a bounded share**: the addresses of one range (an IPv4 /24, an IPv6 /64: one
  machine's many addresses, or one network's) hold at most ``per_range`` together; the newcomer
  replaces the longest-stalled connection of the range's address that holds the most.
- **the server, a bounded total**: beyond ``max_connections`` open in all, the newcomer replaces the
  longest-stalled connection of the address that holds the most, wherever it is.
- **a reserve for requests that arrive whole**: where no connection may give way, up to ``RESERVE``
  newcomers (``RESERVE_PER_CLIENT`` of one address) are let in beyond the bounds, each cut if its
  request's headers are not whole within ``QUIET`` seconds, or at once when its first bytes are a
  trickle (a short packet that leaves them unfinished); past the reserve, a newcomer hears 503. So a
  flood of trickling connections, however fast it reconnects, holds the reserve for no time at all.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Seconds without progress before a connection may be cut to make room; and those a newcomer let in
# through the reserve has to send a whole request's headers.
QUIET = 1.0
RESERVE = 16  # newcomers let in beyond the bounds at once (module docstring)
RESERVE_PER_CLIENT = 4  # of which one address may hold
# Bytes under which a packet that leaves a request's headers unfinished is a trickle: a client that
# splits its headers at all sends a full packet first (an Ethernet packet carries 1460).
TRICKLE = 512
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
    per_range: int
    max_connections: int
    max_body: int  # the most of a body the server reads: a longer Content-Length earns no more time
    open: dict[str, list[GuardedProtocol]] = field(default_factory=lambda: defaultdict(list))
    on_probation: int = 0  # newcomers let in through the reserve whose request is not whole yet

    @property
    def total(self) -> int:
        return sum(len(connections) for connections in self.open.values())

    def in_range(self, client: str) -> list[str]:
        """The clients with open connections in ``client``'s address range."""
        network = address_range(client)
        return [other for other in self.open if address_range(other) == network]

    def room_for(self, client: str) -> list[GuardedProtocol] | None:
        """None when a new connection of ``client`` fits within the bounds; else the connections one
        of which must give way for it (its own, its range's or all)."""
        if len(self.open.get(client, ())) >= self.per_client:
            return list(self.open[client])
        neighbours = self.in_range(client)
        if sum(len(self.open[c]) for c in neighbours) >= self.per_range:
            return [c for other in neighbours for c in self.open[other]]
        if self.total >= self.max_connections:
            return [c for connections in self.open.values() for c in connections]
        return None

    def make_room(self, candidates: list[GuardedProtocol]) -> bool:
        """Cut the longest-stalled of ``candidates``, among those of the client holding the most →
        whether one was."""
        now = time.monotonic()
        stalled = [(c, since) for c in candidates if (since := c.stalled_since(now)) is not None]
        if not stalled:
            return False
        held = {c.client_address: len(self.open.get(c.client_address, ())) for c, _ in stalled}
        victim, _ = max(stalled, key=lambda pair: (held[pair[0].client_address], now - pair[1]))
        victim._close()
        return True


@functools.lru_cache(maxsize=4096)  # asked for every open client at each new connection
def address_range(client: str) -> str:
    """The range ``client``'s address is counted in: its IPv4 /24 or IPv6 /64 ("" for none)."""
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


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
        self._lingering = False  # answered and half-closed: what still comes is read and dropped
        self._on_probation = False  # let in through the reserve: its request must be whole within QUIET
        self._received = 0  # bytes of the current request so far

    # -- asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        rules = self.rules
        candidates = rules.room_for(self.client_address)
        if candidates is not None and not rules.make_room(candidates):
            mine = sum(c._on_probation for c in rules.open.get(self.client_address, ()))
            if rules.on_probation >= RESERVE or mine >= RESERVE_PER_CLIENT:
                return self._refuse()
            rules.on_probation += 1
            self._on_probation = True
        rules.open[self.client_address].append(self)
        # Let in through the reserve, its whole request's headers are due within QUIET; else its
        # first byte within the idle timeout.
        self._arm(QUIET if self._on_probation else rules.idle_timeout)
        self._awaiting_first_byte = not self._on_probation

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)

    def _forget(self) -> None:
        """Count this connection no more (at once when it is closed: asyncio reports the loss later,
        and connections arriving meanwhile must not find it still counted, nor pick it to replace)."""
        self._disarm()
        self._end_probation()
        client = self.client_address
        mine = self.rules.open.get(client)
        if mine is not None and self in mine:
            mine.remove(self)
            if not mine:
                del self.rules.open[client]

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return
        now = time.monotonic()
        starting = self._deadline is None or self._awaiting_first_byte
        self._awaiting_first_byte = False
        self._received = len(data) if starting else self._received + len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is not h11.IDLE:  # its headers are whole
            self._end_probation()
        elif self._on_probation and len(data) < TRICKLE:  # a trickle has no place in the reserve
            return self._close()
        if state not in (h11.IDLE, h11.SEND_BODY):  # the request is in: the app answers it
            self._disarm()
            return
        if starting:  # the first bytes of a request: its deadline starts
            self._since = now
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
    def client_address(self) -> str:
        return self.client[0] if self.client else ""

    @property
    def answering(self) -> bool:
        """Whether a whole request is in and its answer is not yet complete (such a connection is never
        cut to make room: it may be a download or a stream of progress)."""
        return (
            self.cycle is not None
            and not self.cycle.response_complete
            and self.conn.their_state not in (h11.IDLE, h11.SEND_BODY)
        )

    def stalled_since(self, now: float) -> float | None:
        """Since when this connection has made no progress (the module docstring's rules), or None while
        it does (being answered, or its body arriving at ``MIN_BODY_RATE`` at least) or has not yet
        for ``QUIET`` seconds."""
        if self._lingering or self.transport.is_closing() or self.answering:
            return None
        elapsed = now - self._since
        if elapsed < QUIET:  # a request may be on its way, unread yet on a busy server
            return None
        state = self.conn.their_state
        if state is h11.IDLE:  # waiting for a request, or for the rest of its headers
            return self._since
        if state is h11.SEND_BODY and self._received < MIN_BODY_RATE * elapsed:
            return self._since
        return None

    def _end_probation(self) -> None:
        if self._on_probation:
            self._on_probation = False
            self.rules.on_probation -= 1

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
