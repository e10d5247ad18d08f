"""The web app's sessions: one browser's uploads and jobs each, found by a signed cookie, dropped when
idle, and the disk their uploads take, accounted across them all.

A session's cookie is its id and a MAC of it under this server's key. The page's first visit gets
one, but the session itself is made by its first request that carries the page's token (an upload or
a job): another site's page can make a browser send GETs by the hundred (<img> tags), and none of
them may make state or push out a real user's.
"""

from __future__ import annotations

import collections
import hmac
import secrets
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from impasto.web.errors import HttpError
from impasto.web.jobs import Job
from impasto.web.limits import Limits


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
    address: str = ""  # where the request that made it came from
    made: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    uploads: dict[str, Upload] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    arriving: int = 0  # uploads being received or decoded
    streams: int = 0  # progress streams open

    @property
    def active(self) -> int:
        """The jobs of this session that wait or run."""
        return sum(job.state in ("queued", "running") for job in self.jobs.values())

    @property
    def busy(self) -> bool:
        """Whether a job of this session waits or runs."""
        return self.active > 0

    @property
    def has_work(self) -> bool:
        """Whether it holds anything of its user's (SessionStore.session: what may be dropped for room)."""
        return bool(self.uploads or self.jobs or self.arriving)

    @property
    def working(self) -> bool:
        """Whether something of it is under way (a job waiting or running, an upload arriving, a
        progress stream open): such a session is never dropped to make room."""
        return self.busy or bool(self.arriving or self.streams)


class SessionStore:
    """Every session of a server, by id, and the bytes their uploads hold on disk. Every method may
    be called from any thread; the sessions, their dictionaries and the disk account change only under
    ``lock``."""

    def __init__(self, limits: Limits, folder: Path, stop: Callable[[Job], None]) -> None:
        self.limits = limits
        self.folder = folder  # each session's uploads in a folder of their own below it
        self._stop = stop  # how a dropped session's jobs are stopped
        self._cookie_key = secrets.token_bytes(32)
        self.sessions: dict[str, Session] = {}
        self.stored = 0  # bytes of uploads on disk (and reserved for those being written), all sessions
        self.lock = threading.Lock()
        self._made: dict[str, collections.deque[float]] = {}  # address → when its recent sessions were made

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

    def session(self, cookie: str | None, address: str = "") -> tuple[Session, str | None]:
        """The session of ``cookie``, made if need be, for a request that carries the page's token
        from ``address`` → (it, the cookie to set when it is not the one given)."""
        session_id = self._session_id(cookie)
        with self.lock:
            self._sweep()
            if session_id in self.sessions:
                session = self.sessions[session_id]
                session.seen = time.monotonic()
                return session, None
            self._count_new(address)
            if len(self.sessions) >= self.limits.max_sessions:
                self._make_room()
            session_id = session_id or secrets.token_urlsafe(18)
            # The folder is made with the first upload: a session that uploads nothing leaves no trace.
            folder = self.folder / secrets.token_hex(8)
            session = self.sessions[session_id] = Session(session_id, folder, address)
            return session, None if cookie == self.cookie(session_id) else self.cookie(session_id)

    def _make_room(self) -> None:
        """Drop a session for a newcomer (under the lock): the longest idle of those holding nothing;
        else, of the address holding the most sessions, the newest with nothing under way (its uploads
        and finished jobs go); else a 503. So a script making sessions from one address, however
        patiently, pushes out its own: never a browser's elsewhere, nor one that came before it."""
        empty = [s for s in self.sessions.values() if not s.has_work]
        if empty:
            return self._drop(min(empty, key=lambda s: s.seen))
        held = collections.Counter(s.address for s in self.sessions.values())
        idle = [s for s in self.sessions.values() if not s.working]
        if not idle:
            raise HttpError(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "this server has as many visitors as it can hold; try again later",
            )
        self._drop(min(idle, key=lambda s: (-held[s.address], -s.made)))

    def _count_new(self, address: str) -> None:
        """One more session made by ``address``, or a 429 when it has made its share of the last
        minute (under the lock)."""
        now = time.monotonic()
        made = self._made.setdefault(address, collections.deque())
        while made and now - made[0] > 60:
            made.popleft()
        if len(made) >= self.limits.new_sessions_per_minute:
            raise HttpError(
                HTTPStatus.TOO_MANY_REQUESTS,
                "too many new visitors from one address in a minute; try again shortly",
                {"Retry-After": str(int(61 - (now - made[0])))},
            )
        made.append(now)
        for other in [a for a, times in self._made.items() if not times or now - times[-1] > 60]:
            del self._made[other]  # the table holds the last minute's addresses only

    def _sweep(self) -> None:
        """Drop sessions idle past ``session_idle`` (under the lock)."""
        now = time.monotonic()
        for stale in [s for s in self.sessions.values() if now - s.seen > self.limits.session_idle]:
            if not stale.busy and not stale.arriving:
                self._drop(stale)

    def _drop(self, session: Session) -> None:
        for job in session.jobs.values():
            self._stop(job)
        del self.sessions[session.id]
        self.stored -= sum(upload.bytes for upload in session.uploads.values())
        shutil.rmtree(session.folder, ignore_errors=True)

    def disk_used(self) -> int:
        """Bytes of every session's uploads on disk, and those reserved for uploads being written."""
        with self.lock:
            return self.stored

    # -- the room uploads take ---------------------------------------------------------------------------

    def reserve(self, session: Session, count: int) -> None:
        """``count`` bytes of an upload arriving in ``session``, reserved against the shared room before
        they are written: uploads that arrive together cannot pass the limit between them."""
        with self.lock:
            if self.stored + count > self.limits.max_disk_bytes:
                raise HttpError(
                    HTTPStatus.INSUFFICIENT_STORAGE, "the server's room for uploads is full; try again later"
                )
            self.stored += count
            session.arriving += 1
            session.folder.mkdir(exist_ok=True)

    def keep(self, session: Session, upload_id: str, upload: Upload) -> None:
        """``upload``, decoded, kept in ``session``; its oldest beyond ``uploads_per_session`` forgotten."""
        with self.lock:
            if session.id not in self.sessions:  # dropped meanwhile (the server is closing)
                raise HttpError(HTTPStatus.SERVICE_UNAVAILABLE, "this session is gone; reload the page")
            session.uploads[upload_id] = upload
            while len(session.uploads) > self.limits.uploads_per_session:
                oldest = session.uploads.pop(next(iter(session.uploads)))
                oldest.path.unlink(missing_ok=True)
                self.stored -= oldest.bytes

    def arrived(self, session: Session, count: int, kept: bool) -> None:
        """An upload of ``count`` bytes has ended; one that was not kept gives its room back."""
        with self.lock:
            session.arriving -= 1
            if not kept:
                self.stored -= count
