"""The example pair that ships with impasto, so ``impasto demo`` and the web app work anywhere.

``CONTENT`` is scikit-image's ``chelsea`` photo (CC0); ``STYLE`` is painted by impasto's own
``examples/render_style.py`` (see examples/CREDITS.md in the repository).

Wherever impasto takes an image file (content, style, masks, a start image; on the command line and
in the API alike), ``example:NAME`` names one of these: ``example:chelsea.png`` or ``example:chelsea``.
``impasto examples`` lists them. (A file that is really called ``example:…`` is ``./example:…``.)
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TypeVar

from impasto.errors import ConfigError

FOLDER = Path(__file__).resolve().parent
CONTENT = FOLDER / "chelsea.png"
STYLE = FOLDER / "swirls.png"
ROLES = {CONTENT.name: "content", STYLE.name: "style"}  # what the web app offers each one as
PREFIX = "example:"

_Source = TypeVar("_Source")


def path(name: str) -> Path:
    """The bundled image called ``name`` ("chelsea.png", or "chelsea" without its suffix). An unknown
    name is a ConfigError of one line that lists the known ones."""
    for known in ROLES:
        if name in (known, Path(known).stem):
            return FOLDER / known
    raise ConfigError(
        f"unknown example {name!r}; the examples are {', '.join(ROLES)} (impasto examples lists them)"
    )


def resolve(source: _Source) -> _Source | Path:
    """``source`` itself, or the path of the bundled image it names as ``example:NAME`` (a string or
    a path); :func:`path` says what an unknown name raises."""
    if isinstance(source, str | PurePath) and (text := str(source)).startswith(PREFIX):
        return path(text[len(PREFIX) :])
    return source
