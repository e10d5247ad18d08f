"""impasto's local web app: ``impasto serve`` (or :func:`serve`) starts it on 127.0.0.1.

Imported only by ``impasto serve``; the library and the command line never load it.
"""

from __future__ import annotations

from impasto.web.app import App, Limits
from impasto.web.server import Server, make_server

__all__ = ["App", "Limits", "Server", "make_server"]
