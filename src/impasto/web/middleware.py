"""What every request passes before it reaches a route, as plain ASGI middleware (outermost first):

- :class:`Contained`: no exception reaches uvicorn (a bug is one line in the log and a 500 in JSON; a
  client that went away, nothing at all).
- :class:`SecurityHeaders`: every answer says it may not be framed, sniffed, cached or read by other
  sites' scripts (Content-Security-Policy with ``frame-ancestors 'none'``, X-Frame-Options, …).
- :class:`HostCheck`: a request for another host name is a DNS-rebinding page: refused.
- :class:`AccessToken`: with ``impasto serve --token``, every request carries the token.
- :class:`SameOrigin`: every POST comes from impasto's own page (Origin, Sec-Fetch-Site, the page's token).

No other web site can drive the server through the user's browser: a rebinding page names its own
host; a cross-site form or fetch carries its own Origin or Sec-Fetch-Site and cannot read the page's
token (/api/setup sends no CORS headers), nor send a custom header without a preflight this server never
approves.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import sys
import urllib.parse
from collections.abc import Collection
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOKEN_HEADER = "x-impasto-token"  # every POST carries the page's token in it
ACCESS_COOKIE = "impasto_access"  # where a server's access token (--token) is kept once given …
ACCESS_HEADER = "x-impasto-access"  # … or sent by scripts
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


async def send_error(send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]] = []) -> None:  # noqa: B006
    """Answer ``{"error": message}`` with ``status``."""
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    """The request's header ``name`` (lower case), as Latin-1 text (what HTTP allows), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def cookie(scope: Scope, name: str) -> str | None:
    cookies: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        cookies.load(header(scope, b"cookie") or "")
    return cookies[name].value if name in cookies else None


def same(given: str | None, wanted: str) -> bool:
    """Whether ``given`` is ``wanted``, in constant time (text that is not ASCII is never a token)."""
    return given is not None and given.isascii() and secrets.compare_digest(given, wanted)


class Contained:
    """Keeps every exception of the app from uvicorn, which would print a traceback per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except (ClientDisconnect, ConnectionError):
            pass  # the client went away: nobody to answer
        except Exception as error:  # a bug: one line in the log, a 500 that names it, and serve on
            print(f"impasto: internal error: {error!r}", file=sys.stderr)
            if not started and scope["type"] == "http":
                with contextlib.suppress(Exception):
                    await send_error(
                        watched, 500, f"internal error ({type(error).__name__})", SECURITY_HEADERS
                    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


class HostCheck:
    """Refuses a request whose Host is not a name of this server. Starlette's TrustedHostMiddleware
    takes a list of names; here an IP address is always a name of the server it reached (a rebinding
    page must use a domain name of its own), so the rule is: an IP literal (on a loopback bind, a
    loopback one), ``localhost``, or one of ``names`` (``impasto serve --allow-host``)."""

    def __init__(self, app: ASGIApp, *, loopback: bool, names: Collection[str], url: str) -> None:
        self.app = app
        self.loopback = loopback
        self.names = {name.lower() for name in names} | {"localhost"}
        self.url = url

    def allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        try:
            parts = urllib.parse.urlsplit(f"//{host_header}")
            host, _ = parts.hostname, parts.port  # no port, no brackets, lower case; a bad port raises
        except ValueError:
            return False
        if host is None:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names
        return address.is_loopback or not self.loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(header(scope, b"host")):
            return await send_error(send, HTTPStatus.FORBIDDEN, f"this server answers only to {self.url}")
        await self.app(scope, receive, send)


class AccessToken:
    """With an access token (``impasto serve --token``), refuses every request that does not carry it:
    in the URL (``?token=``, then kept in a cookie), the cookie, or the X-Impasto-Access header."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] != "http":
            return await self.app(scope, receive, send)
        query = urllib.parse.parse_qs(scope["query_string"].decode("latin-1")).get("token", [None])[0]
        kept = cookie(scope, ACCESS_COOKIE)
        if not any(same(given, self.token) for given in (query, kept, header(scope, ACCESS_HEADER.encode()))):
            return await send_error(
                send,
                HTTPStatus.UNAUTHORIZED,
                "this server needs its access token: open the address it printed when it started",
            )
        if not same(query, self.token) or same(kept, self.token):
            return await self.app(scope, receive, send)
        # Given in the URL: kept in a cookie, so that the page's own requests carry it.
        set_cookie = f"{ACCESS_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def keeping(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"set-cookie", set_cookie)]
            await send(message)

        await self.app(scope, receive, keeping)


class SameOrigin:
    """Refuses a POST that another site could have made the browser send: one whose Origin is not this
    server's, whose Sec-Fetch-Site says cross-site, or that lacks the page's token."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        origin, site = header(scope, b"origin"), header(scope, b"sec-fetch-site")
        if (origin is not None and origin != f"http://{header(scope, b'host')}") or site not in (
            None,
            "same-origin",
            "none",
        ):
            return await send_error(send, HTTPStatus.FORBIDDEN, "requests from other web sites are refused")
        if not same(header(scope, TOKEN_HEADER.encode()), self.token):
            return await send_error(
                send, HTTPStatus.FORBIDDEN, "this request did not come from impasto's page; reload it"
            )
        await self.app(scope, receive, send)
