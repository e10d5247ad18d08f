from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def content_path() -> Path:
    return EXAMPLES / "chelsea.png"


@pytest.fixture
def style_path() -> Path:
    return EXAMPLES / "swirls.png"
