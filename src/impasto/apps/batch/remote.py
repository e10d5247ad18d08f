"""A batch on a Ray cluster: an image a task (through distributed.py); the driver still keys, writes and
records every output itself."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from impasto import distributed
from impasto.apps.batch.items import OUT_OF_MEMORY, Item, make_folder, not_made
from impasto.config import StyleConfig, to_png_text
from impasto.errors import ImpastoError
from impasto.io import images


@dataclass(frozen=True)
class RemoteResult:
    """An item made on a Ray worker (:func:`stylize_remote`), as it comes back to the driver."""

    png: bytes | None  # the result as PNG (colour profile embedded), None when it failed
    size: tuple[int, int]
    message: str  # why it failed, or ""
    worker: str  # node and process that made it, for reports


def run_on_ray(
    address: str,
    pending: list[tuple[int, Item, str]],
    styles: list[Path],
    config: StyleConfig,
    tell: Callable[..., None],
    record: Callable[[int, Item, str, float], None],
    fail: Callable[[int, Item, str], None],
) -> None:
    """The pending items on a Ray cluster, a task each (distributed.py); the driver writes every output
    as the results arrive, and an item the cluster could not run fails while the batch goes on."""
    ray = distributed.connect(address)
    began = time.perf_counter()
    for index, item, _ in pending:
        tell("start", index, item)
    sent_styles = distributed.put_files(ray, styles)
    calls = [
        ((index, item, key), (item.source.read_bytes(), item.source.name, sent_styles, config))
        for index, item, key in pending
    ]

    def on_result(token: tuple[int, Item, str], result: RemoteResult) -> None:
        index, item, key = token
        if result.png is None:
            fail(index, item, result.message)
            return
        try:
            loaded = images.load(result.png, config.max_pixels, config.max_memory)
            make_folder(item.output.parent)
            options = to_png_text(config, item.source, styles)
            images.save(loaded.image, item.output, loaded.icc_profile, options)
        except ImpastoError as error:
            fail(index, item, str(error))
            return
        record(index, item, key, time.perf_counter() - began)

    def on_failure(token: tuple[int, Item, str], error: Exception) -> None:
        index, item, _ = token
        fail(index, item, f"the cluster could not run it ({type(error).__name__})")

    distributed.map_remote(ray, stylize_remote, calls, on_result, on_failure)


def stylize_remote(
    content: bytes, content_name: str, styles: distributed.Files, config: StyleConfig
) -> RemoteResult:
    """Runs on a Ray worker: an item's files arrive as bytes, its image leaves as PNG bytes. A failure
    comes back as the message :func:`_make` would give, naming the files as the driver knows them."""
    import socket

    from impasto.io.images import png_bytes
    from impasto.pipeline import stylize_detailed

    worker = f"{socket.gethostname()}:{os.getpid()}"
    sent = [(content_name, content), *styles]
    with distributed.received(sent) as files_here:
        try:
            made = stylize_detailed(files_here.paths[0], files_here.paths[1:], config=config)
        except ImpastoError as error:
            return RemoteResult(None, (0, 0), files_here.named(str(error)), worker)
        except MemoryError:
            return RemoteResult(None, (0, 0), OUT_OF_MEMORY, worker)
        if made.ended != "made":  # no time budget on a cluster: never "out of time" here
            return RemoteResult(None, (0, 0), not_made(made), worker)
        return RemoteResult(png_bytes(made.image, made.icc_profile), made.image.size, "", worker)
