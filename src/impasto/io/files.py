"""File rules every part of impasto shares, each written once: which suffixes are images, the content
hash of a file, and atomic writing: the temporary file it goes through (its name, its creation, and the
sweep of those a killed run left behind)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from pathlib import Path

# Files impasto reads as images (what a batch picks up from a folder, what the web app accepts).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

# A temporary file beside its target: hidden, the target's name, 8 hex digits, ".part".
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")

_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows only: no newline translation


def sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (see TEMP_NAME)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")


def create_temp(path: Path) -> tuple[int, Path]:
    """A new temporary file beside ``path``, opened for writing, with the usual mode (0666 less the
    umask): (its descriptor, its path).

    tempfile.mkstemp makes it 0600, and a chmod after it needs the umask, which can only be read by
    changing it for a moment, for every thread of the process.
    """
    for _ in range(100):
        temp = temp_path(path)
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path.name}")


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed over it only when complete:
    a failure leaves an existing file untouched and nothing behind."""
    path = Path(path)
    temp: Path | None = None
    try:
        fd, temp = create_temp(path)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        if temp is not None:
            with contextlib.suppress(OSError):
                temp.unlink()
        raise
    return path


def sweep_temporaries(folder: Path) -> int:
    """Remove the temporary files a killed run left in ``folder`` (any depth); returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(".*.part"):
        if TEMP_NAME.match(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed
