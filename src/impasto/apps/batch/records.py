"""What a batch keeps of its outputs: each one's key (a hash of what went in) recorded beside it in
``OUTPUT_DIR/.impasto/<relative path>.json``, whether an output is up to date, and the lock a run holds
on the item it is making (``.impasto/<relative path>.lock``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from impasto.apps.batch.items import Item
from impasto.config import StyleConfig, look_options

MANIFEST = ".impasto"  # the folder of keys inside OUTPUT_DIR


def item_key(source_digest: str, style_digests: Sequence[str], config: StyleConfig) -> str:
    """The key of an output: what went in, in one hash."""
    record = {"input": source_digest, "styles": list(style_digests), "options": look_options(config)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def manifest_path(output_dir: Path, item: Item) -> Path:
    return output_dir / MANIFEST / f"{item.output.relative_to(output_dir)}.json"


def _record(output_dir: Path, item: Item) -> dict[str, Any]:
    try:
        record = json.loads(manifest_path(output_dir, item).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recorded_key(output_dir: Path, item: Item) -> str | None:
    key = _record(output_dir, item).get("key")
    return key if isinstance(key, str) else None


def up_to_date(output_dir: Path, item: Item, key: str, time_budget: float | None = None) -> bool:
    """Whether ``item``'s output is there, made with ``key`` — and, if a time budget cut it short, with
    no less time than ``time_budget`` would give it (None: all the time it needs)."""
    if not item.output.is_file():
        return False
    record = _record(output_dir, item)
    if record.get("key") != key:
        return False
    cut_at = record.get("time_budget")  # seconds, where the budget was spent
    return cut_at is None or (time_budget is not None and time_budget <= cut_at)


@contextlib.contextmanager
def claim(output_dir: Path, item: Item) -> Iterator[bool]:
    """Whether this run holds ``item``'s lock (False: another run is making it). The lock file is
    removed after the item is recorded; a run that opened it just before is safe, as it reads the
    recorded key after taking the lock."""
    if sys.platform == "win32":  # no flock there: each run works as if alone
        yield True
        return
    import fcntl

    path = manifest_path(output_dir, item).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)


def iter_outputs(output_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(output image, its record) for everything a batch recorded in ``output_dir``."""
    root = output_dir / MANIFEST
    for record_path in sorted(root.rglob("*.json")):
        relative = record_path.relative_to(root)
        output = output_dir / str(relative)[: -len(".json")]
        try:
            yield output, json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
