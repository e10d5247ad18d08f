"""impasto's local web app: ``impasto serve`` (or :func:`make_server`) starts it on 127.0.0.1.

A Starlette application (routes.py, middleware.py) over the app's state (app.py: sessions, uploads,
jobs; jobs.py: the queue; sketches.py: the quick sketches), served by uvicorn (server.py) with our own
rules for connections (connections.py). Imported only by ``impasto serve``; the library and the
command line never load it.
"""

from __future__ import annotations

from impasto.web.app import App
from impasto.web.limits import Limits
from impasto.web.server import BindError, Server, make_server

__all__ = ["App", "BindError", "Limits", "Server", "make_server"]
