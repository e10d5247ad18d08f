"""The folder of ``impasto serve --outputs``: every finished or stopped result of the page, kept on disk
with what made it, and the page's history read back from it when the server starts again.

    DIR/NAME.png                      a result, under its download's name (its PNG text carries the
                                      options: ``impasto --config NAME.png`` makes it again)
    DIR/.impasto/inputs/SHA256.EXT    the uploads it was made from (photo, paintings, masks), by content:
                                      ten variations of one photo keep it once
    DIR/.impasto/history/NAME.json    the page's request (its uploads named ``kept:SHA256``), the names
                                      the user knows the images by, how the run ended

Every file is written atomically; a record whose picture was removed by hand is left out of the
history, and the bytes of everything here are held to a cap (a result past it is not kept, and the
job's message says so). Nothing here knows about HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from impasto.io import files
from impasto.web.uploads import size_text

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Full(Exception):
    """The folder holds its cap; the message says so."""


@dataclass(frozen=True)
class Record:
    """One kept result: what the history shows of it and what makes it again."""

    file: str  # the picture's name in the folder
    names: tuple[str, list[str]]  # the photo's and the paintings' names, as the user knows them
    request: dict[str, Any]  # what the page asked for, its uploads as "kept:SHA256"
    state: str  # "done" or "stopped"
    message: str
    elapsed: float  # seconds the run took
    command: str  # the equivalent command line
    size: tuple[int, int]  # the picture's width and height
    made: float  # when it was kept (seconds since the epoch)
    job: str = ""  # the job's id in the server that made it (its session lists the job instead)


class Kept:
    """The results in ``folder``, at most ``max_bytes`` of them (results, inputs and records together).
    Each record has an id for this server's run (``k`` and random letters); every method may be called
    from any thread."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._inputs = folder / ".impasto" / "inputs"
        self._history = folder / ".impasto" / "history"
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}  # oldest first
        self.used = 0  # bytes of the files below that the records name, and the records
        files.sweep_temporaries(folder)  # what a server killed while writing here left
        for record in sorted(self._read_records(), key=lambda r: r.made):
            self._records[_new_id()] = record

    def _read_records(self) -> list[Record]:
        """The readable records whose picture is still there (a folder not made yet holds none)."""
        found = []
        for path in self._history.glob("*.json") if self._history.is_dir() else ():
            try:
                fields = json.loads(path.read_text(encoding="utf-8"))
                record = Record(**{**fields, "names": tuple(fields["names"]), "size": tuple(fields["size"])})
            except (OSError, ValueError, TypeError, KeyError):
                continue  # not a record this impasto wrote: left alone, not shown
            if not (isinstance(record.file, str) and isinstance(record.request, dict)):
                continue  # written by hand, not by impasto
            picture = self.folder / record.file
            if Path(record.file).name != record.file or not picture.is_file():
                continue
            self.used += picture.stat().st_size + path.stat().st_size
            found.append(record)
        for path in self._inputs.glob("*") if self._inputs.is_dir() else ():
            self.used += path.stat().st_size if path.is_file() else 0
        return found

    def records(self) -> list[tuple[str, Record]]:
        """(id, record) of every kept result, newest first."""
        with self._lock:
            return list(reversed(self._records.items()))

    def picture(self, record_id: str) -> tuple[Path, Record] | None:
        """The file and record of the result ``record_id``, or None."""
        with self._lock:
            record = self._records.get(record_id)
        return None if record is None else (self.folder / record.file, record)

    def of_job(self, job_id: str) -> str | None:
        """The id of the record the job ``job_id`` of this server's run was kept as, or None."""
        with self._lock:
            return next((i for i, r in self._records.items() if r.job == job_id), None)

    def input(self, reference: str) -> tuple[Path, str] | None:
        """The kept input "kept:SHA256" names and the name the user knew it by, or None."""
        digest = reference.removeprefix("kept:")
        if not _SHA256.fullmatch(digest) or not self._inputs.is_dir():
            return None
        path = next((p for p in self._inputs.glob(f"{digest}.*") if p.is_file()), None)
        if path is None:
            return None
        with self._lock:
            records = list(self._records.values())
        for record in records:
            named = [record.request.get("content")]
            named += [s.get("image") for s in record.request.get("styles") or [] if isinstance(s, dict)]
            shown = [record.names[0], *record.names[1]]
            if reference in named and named.index(reference) < len(shown):
                return path, shown[named.index(reference)]
        return path, f"image{path.suffix}"  # a mask: the page names it itself

    def keep(
        self,
        picture: bytes,
        name: str,
        inputs: dict[str, Path],
        fields: dict[str, Any],
    ) -> str:
        """Write ``picture`` as ``name`` (made unique: ``-2``, ``-3``…), the ``inputs`` it was made from
        (each page reference → its file) and its record → the record's id. ``fields`` are the Record's
        but file and made; the request's references to ``inputs`` become "kept:SHA256".
        Raises Full past the cap, OSError when the disk refuses."""
        with self._lock:
            stored = {reference: self._store_input(path) for reference, path in inputs.items()}
            request = _renamed(fields["request"], {r: f"kept:{d}" for r, d in stored.items() if d})
            self._check_room(len(picture))
            self.folder.mkdir(parents=True, exist_ok=True)
            path, number = self.folder / name, 1
            while path.exists() or (self._history / f"{path.name}.json").exists():
                number += 1
                path = self.folder / f"{Path(name).stem}-{number}{Path(name).suffix}"
            files.write_atomically(path, picture)
            record = Record(**{**fields, "request": request, "file": path.name, "made": time.time()})
            text = json.dumps(asdict(record), ensure_ascii=False).encode()
            self._history.mkdir(parents=True, exist_ok=True)
            try:
                files.write_atomically(self._history / f"{path.name}.json", text)
            except OSError:
                path.unlink(missing_ok=True)
                raise
            self.used += len(picture) + len(text)
            record_id = _new_id()
            self._records[record_id] = record
            return record_id

    def delete(self, record_id: str) -> bool:
        """Remove the result ``record_id`` (its picture, its record, and its inputs no other record
        names) → whether there was one."""
        with self._lock:
            record = self._records.pop(record_id, None)
            if record is None:
                return False
            for path in (self.folder / record.file, self._history / f"{record.file}.json"):
                self.used -= _remove(path)
            still = {r for other in self._records.values() for r in _references(other.request)}
            for reference in set(_references(record.request)) - still:
                digest = reference.removeprefix("kept:")
                for path in self._inputs.glob(f"{digest}.*") if _SHA256.fullmatch(digest) else ():
                    self.used -= _remove(path)
            return True

    def _store_input(self, path: Path) -> str | None:
        """``path`` copied in by its content, unless there already → its sha256, or None when it is
        gone (an upload the session has forgotten: the record keeps its old reference)."""
        try:
            data = path.read_bytes()
        except OSError:
            return None
        digest = hashlib.sha256(data).hexdigest()
        kept = self._inputs / f"{digest}{path.suffix.lower()}"
        if not kept.is_file():
            self._check_room(len(data))
            self._inputs.mkdir(parents=True, exist_ok=True)
            files.write_atomically(kept, data)
            self.used += len(data)
        return digest

    def _check_room(self, count: int) -> None:
        if self.used + count > self.max_bytes:
            raise Full(
                f"it would pass its limit ({size_text(self.used)} kept of {size_text(self.max_bytes)}); "
                "delete some results from the history"
            )


def _new_id() -> str:
    return "k" + secrets.token_urlsafe(9)


def _renamed(request: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """``request`` with each image reference (the content, each style's image and mask) that
    ``renames`` names replaced."""

    def image(value: Any) -> Any:
        return renames.get(value, value) if isinstance(value, str) else value

    styles = [
        {**style, **{key: image(style[key]) for key in ("image", "mask") if key in style}}
        if isinstance(style, dict)
        else style
        for style in request.get("styles") or []
    ]
    return {**request, "content": image(request.get("content")), "styles": styles}


def _references(request: dict[str, Any]) -> list[str]:
    """The "kept:…" image references of ``request``."""
    found = [request.get("content")]
    for style in request.get("styles") or []:
        if isinstance(style, dict):
            found += [style.get("image"), style.get("mask")]
    return [r for r in found if isinstance(r, str) and r.startswith("kept:")]


def _remove(path: Path) -> int:
    """Remove ``path`` → the bytes it held (0 if it was not there)."""
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        path.unlink()
        return size
    return 0
