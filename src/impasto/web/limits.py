"""What one web server allows: the sizes, counts and times its sessions, uploads, jobs and connections
are held to."""

from __future__ import annotations

from dataclasses import dataclass


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
    active_per_session: int = 3  # jobs one browser may have waiting or running: a few variations, its tabs'
    session_idle: float = 3600.0  # seconds without a request before a session and its files are dropped
    # Sessions kept at once. Only a request carrying the page's token makes one; beyond this the
    # longest-idle session with nothing in it goes, else the longest-idle one with nothing under way of
    # the address holding the most; one with a job waiting or running is never dropped to make room
    # (a newcomer then hears 503).
    max_sessions: int = 256
    # Sessions one address may make in a minute: a browser makes one and keeps its cookie; a script
    # that sends uploads without one would otherwise fill max_sessions with sessions that hold work
    # (never pushed out) and turn new browsers away for an hour.
    new_sessions_per_minute: int = 64
    max_disk_bytes: int = 2 * 2**30  # uploads kept at once, all sessions together
    # The outputs folder's results, their inputs and records together (serve --outputs): a result past
    # it is not kept there (its job says so) until some are deleted from the history.
    max_kept_bytes: int = 10 * 2**30
    request_timeout: float = 30.0  # seconds a request's headers may take (connections.py: the body more)
    idle_timeout: float = 15.0  # seconds a connection may wait for its (next) request
    per_client: int = 64  # connections one address may hold; its newest replaces its longest-stalled one
    per_range: int = 128  # connections the addresses of one /24 (IPv4) or /64 (IPv6) may hold together
    max_connections: int = 512  # connections open at once; more are turned away with a 503
    streams_per_session: int = 4  # progress streams (server-sent events) one session may hold open
