"""The example pair that ships with impasto, so ``impasto demo`` and the web app work anywhere.

``CONTENT`` is scikit-image's ``chelsea`` photo (CC0); ``STYLE`` is painted by impasto's own
``examples/render_style.py`` (see examples/CREDITS.md in the repository).
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent
CONTENT = FOLDER / "chelsea.png"
STYLE = FOLDER / "swirls.png"
ROLES = {CONTENT.name: "content", STYLE.name: "style"}  # what the web app offers each one as
