from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

EXAMPLES = Path(__file__).resolve().parent.parent / "src" / "impasto" / "examples"


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Every test draws the same random tensors on every run, so a tolerance that holds here holds in CI."""
    torch.manual_seed(0)


@pytest.fixture
def content_path() -> Path:
    return EXAMPLES / "chelsea.png"


@pytest.fixture
def style_path() -> Path:
    return EXAMPLES / "swirls.png"


@pytest.fixture
def serve() -> Iterator[object]:
    """Start web-app servers on a free port for a test: ``serve(limits)`` → the server, on 127.0.0.1
    unless ``host=`` names another address; each is shut down and cleaned up after the test."""
    from impasto.web import Limits, Server, make_server

    started: list[Server] = []

    def start(limits: Limits | None = None, host: str = "127.0.0.1", **options: Any) -> Server:
        server = make_server(host, 0, limits, "cpu", **options)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
