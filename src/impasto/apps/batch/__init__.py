"""A whole folder of photos in one style: outputs mirror the input tree, and a rerun does only what is
missing or changed.

Each output's key — a hash of the input file, the style files and every option that shapes the
image — is recorded beside it in ``OUTPUT_DIR/.impasto/<relative path>.json`` once the image is in
place. A rerun skips an item whose output exists with the same key, and redoes it when the input, a
style or an option changed (``force`` redoes everything). Outputs are written atomically (a temporary
file in the output folder, then a rename), so a killed run leaves at worst a stale temporary file,
which the next run sweeps away.

A time budget (``time_budget``) stops each image after so many seconds and keeps its best image so
far; its record says so, and a rerun redoes it only when it gives the image more time.

:func:`plan_batch` says what a run would do (``impasto batch --dry-run``), writing nothing.

Two runs on one output folder share the work: an item is made by the run holding its lock
(``.impasto/<relative path>.lock``, an advisory lock the system releases when the process ends, however
it ends); another run passes it by. Ctrl-C stops the batch at once with :class:`BatchInterrupted`,
which carries the summary of what was done.

With ``ray_address`` the images run on a Ray cluster, a task each (remote.py, through distributed.py);
the driver still keys, writes and records every output itself.

The rooms: items.py (an item, the folder's items, why one fails), records.py (the keys recorded beside
the outputs, the locks), remote.py (the Ray tasks), and here the run itself and its plan.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from impasto.apps.batch.items import OUT_OF_MEMORY, Item, find_items, make_folder, not_made
from impasto.apps.batch.records import (
    MANIFEST,
    claim,
    item_key,
    iter_outputs,
    manifest_path,
    recorded_key,
    up_to_date,
)
from impasto.apps.batch.remote import run_on_ray
from impasto.config import StyleConfig, look_options, to_png_text
from impasto.core.optimize import Progress
from impasto.errors import ConfigError, ImageError, ImpastoError
from impasto.io import files, images

__all__ = [
    "MANIFEST",
    "OUT_OF_MEMORY",
    "BatchInterrupted",
    "BatchOptions",
    "Event",
    "Item",
    "Planned",
    "Summary",
    "claim",
    "find_items",
    "item_key",
    "iter_outputs",
    "manifest_path",
    "plan_batch",
    "recorded_key",
    "run_batch",
    "up_to_date",
]

Outcome = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class Event:
    """Sent to the callback: an item starts ("start"), says what it is doing before its iterations
    ("status", in ``message``), makes progress ("progress", with ``progress`` set), or ends ("done",
    "skipped", "failed"; ``message`` says why, or how a time budget cut it short)."""

    kind: Literal["start", "status", "progress", "done", "skipped", "failed"]
    index: int  # 0-based position in the batch
    total: int
    item: Item
    message: str = ""
    progress: Progress | None = None


@dataclass
class Summary:
    done: list[Item] = dataclasses.field(default_factory=list)
    skipped: list[Item] = dataclasses.field(default_factory=list)
    failed: list[tuple[Item, str]] = dataclasses.field(default_factory=list)
    elsewhere: list[Item] = dataclasses.field(default_factory=list)  # being made by another run
    as_png: list[Item] = dataclasses.field(default_factory=list)  # a format impasto cannot write
    swept: int = 0  # stale temporary files removed at the start
    seconds: float = 0.0
    interrupted: bool = False

    def line(self) -> str:
        minutes, seconds = divmod(round(self.seconds), 60)
        took = f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
        others = f", {len(self.elsewhere)} left to another run" if self.elsewhere else ""
        stopped = " before Ctrl-C stopped it" if self.interrupted else ""
        return (
            f"{len(self.done)} done, {len(self.skipped)} skipped (up to date){others}, "
            f"{len(self.failed)} failed in {took}{stopped}"
        )


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the batch; ``summary`` says what was done before it (the item in progress is
    left undone, for a rerun)."""

    def __init__(self, summary: Summary) -> None:
        super().__init__("batch interrupted")
        self.summary = summary


Stylize = Callable[..., Any]  # impasto.pipeline.stylize_detailed


@dataclass(frozen=True)
class BatchOptions:
    """How a folder is made, beside the picture's options (StyleConfig): what :func:`run_batch`,
    :func:`plan_batch` and ``impasto batch`` share, each written once."""

    recursive: bool = False  # the images of the folders inside too, their layout kept
    force: bool = False  # make again what is up to date
    suffix: str | None = None  # the outputs' format (".png", ".jpg", …); None: each input's own
    ray_address: str | None = None  # the images sent to a Ray cluster (run_batch; distributed.py)
    time_budget: float | None = None  # seconds each image may take


def run_batch(
    input_dir: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    config: StyleConfig | None = None,
    options: BatchOptions | None = None,
    *,
    callback: Callable[[Event], None] | None = None,
    stylize: Stylize | None = None,
    **given: Any,
) -> Summary:
    """Stylize every image of ``input_dir`` with ``styles`` into ``output_dir`` (created if missing),
    as ``options`` (:class:`BatchOptions`; its fields also given as keywords, ``given``, over it) say.

    Items already done with the same key are skipped unless ``force``. A failing item (a bad image, a
    run that diverged or ran out of memory) is reported through ``callback`` and the batch goes on.
    Ctrl-C (KeyboardInterrupt) stops the batch at once; the item in progress is left undone. ``ray_address``
    ("local", "local:N" or a cluster's address) runs the images on a Ray cluster (distributed.py).
    ``time_budget``: seconds each image may take (its loading included); when they are spent, its best
    image so far is saved and recorded as cut short.
    """
    from impasto.pipeline import stylize_detailed

    how = dataclasses.replace(options or BatchOptions(), **given)
    if how.time_budget is not None and how.ray_address is not None:
        raise ConfigError("a time budget holds on this machine; on a Ray cluster each image runs to the end")
    config = config or StyleConfig()
    suffix, style_paths, items = _checked(input_dir, styles, output_dir, config, how.recursive, how.suffix)
    run = stylize or stylize_detailed
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    make_folder(output_dir)
    summary = Summary(swept=files.sweep_temporaries(output_dir))
    summary.as_png = [i for i in items if suffix is None and i.output.suffix != i.source.suffix]
    style_digests = [files.sha256(s) for s in style_paths]
    start = time.perf_counter()
    batch = _Batch(items, style_paths, config, output_dir, summary, callback, how.time_budget)
    try:
        pending = batch.pending(style_digests, how.force)
        if how.ray_address is not None and pending:
            run_on_ray(how.ray_address, pending, style_paths, config, batch.tell, batch.record, batch.fail)
            return summary
        batch.make_here(run, pending, how.force)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise BatchInterrupted(summary) from None
    finally:
        summary.seconds = time.perf_counter() - start
    return summary


@dataclass
class _Batch:
    """One call of :func:`run_batch`: its items, what it tells ``callback`` and records of each."""

    items: list[Item]
    style_paths: list[Path]
    config: StyleConfig
    output_dir: Path
    summary: Summary
    callback: Callable[[Event], None] | None
    time_budget: float | None

    def tell(
        self, kind: Any, index: int, item: Item, message: str = "", progress: Progress | None = None
    ) -> None:
        if self.callback is not None:
            self.callback(Event(kind, index, len(self.items), item, message, progress))

    def record(self, index: int, item: Item, key: str, seconds: float, cut_short: str = "") -> None:
        """``item`` made: its record (key, input, styles, options, seconds) written beside it."""
        entry: dict[str, Any] = {
            "key": key,
            "input": str(item.relative),
            "styles": [s.name for s in self.style_paths],
            "options": look_options(self.config),
            "seconds": round(seconds, 2),
        }
        if cut_short:
            entry["time_budget"] = self.time_budget
        record_path = manifest_path(self.output_dir, item)
        record_path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomically(record_path, json.dumps(entry, indent=1).encode())
        self.summary.done.append(item)
        self.tell("done", index, item, cut_short)

    def fail(self, index: int, item: Item, message: str) -> None:
        self.summary.failed.append((item, message))
        self.tell("failed", index, item, message)

    def pending(self, style_digests: Sequence[str], force: bool) -> list[tuple[int, Item, str]]:
        """(index, item, key) of each item to make: not up to date (or ``force``), its file readable."""
        pending: list[tuple[int, Item, str]] = []
        for index, item in enumerate(self.items):
            try:
                key = item_key(files.sha256(item.source), style_digests, self.config)
            except OSError as error:
                self.fail(index, item, f"cannot read it ({error.strerror})")
                continue
            if not force and up_to_date(self.output_dir, item, key, self.time_budget):
                self.summary.skipped.append(item)
                self.tell("skipped", index, item)
                continue
            pending.append((index, item, key))
        return pending

    def make_here(self, run: Stylize, pending: Sequence[tuple[int, Item, str]], force: bool) -> None:
        """The ``pending`` items made on this machine, one by one, each claimed first: another run
        working in the same folder makes the ones it has claimed."""
        for index, item, key in pending:
            with claim(self.output_dir, item) as mine:
                if not mine:
                    self.summary.elsewhere.append(item)
                    self.tell("skipped", index, item, "being made by another run")
                    continue
                if not force and up_to_date(self.output_dir, item, key, self.time_budget):
                    self.summary.skipped.append(item)  # another run made it while this one worked
                    self.tell("skipped", index, item)
                    continue
                paths, config, budget = self.style_paths, self.config, self.time_budget
                _make(run, item, paths, config, self.tell, index, key, self.record, self.fail, budget)


def _make(
    run: Stylize,
    item: Item,
    style_paths: list[Path],
    config: StyleConfig,
    tell: Callable[..., None],
    index: int,
    key: str,
    record: Callable[..., None],
    fail: Callable[[int, Item, str], None],
    time_budget: float | None = None,
) -> None:
    """One item: stylized, saved and recorded, or reported as failed."""
    tell("start", index, item)
    began = time.perf_counter()
    deadline = None if time_budget is None else time.monotonic() + time_budget
    last: list[Progress] = []  # the latest report: where a time budget stopped the run

    def on_progress(progress: Progress) -> None:
        tell("progress", index, item, progress=progress)
        last[:] = [progress]

    def on_status(message: str) -> None:
        tell("status", index, item, message)

    cut_short = ""
    try:
        make_folder(item.output.parent)
        # Ctrl-C (Interrupted) goes through: the batch stops.
        made = run(
            item.source, style_paths, config=config, callback=on_progress, status=on_status, deadline=deadline
        )
        if made.ended == "out of time":
            at = last[-1]
            scale = f"scale {at.scale}/{at.scales}, " if at.scales > 1 else ""
            cut_short = (
                f"time budget of {time_budget:g} s spent at {scale}iteration {at.iteration}/{at.total}"
            )
        elif made.ended != "made":
            raise ImpastoError(not_made(made))
        # What the output carries: the options as run (this machine's size and iterations written in).
        carried = to_png_text(made.settings, item.source, style_paths, cut_short or None)
        images.save(made.image, item.output, made.icc_profile, carried)
    except ImpastoError as error:  # errors.OutOfMemory among them
        fail(index, item, str(error))
        return
    except MemoryError:  # while reading the images, before the pipeline's own watch begins
        fail(index, item, OUT_OF_MEMORY)
        return
    record(index, item, key, time.perf_counter() - began, cut_short)


def _checked(
    input_dir: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    config: StyleConfig,
    recursive: bool,
    suffix: str | None,
) -> tuple[str | None, list[Path], list[Item]]:
    """The output suffix (with its dot), the style files and the items of a batch, once everything that
    can be checked without writing is: no masks, a known format, the styles there, no output one of
    the inputs."""
    from impasto.pipeline import expand_styles

    if config.content_masks or config.style_masks:
        raise ConfigError("masks belong to one image; a batch cannot use them")
    if suffix is not None:
        suffix = suffix if suffix.startswith(".") else f".{suffix}"
        if suffix.lower() not in images.FORMATS:
            raise ConfigError(
                f"unknown output format {suffix!r}; use one of {', '.join(sorted(images.FORMATS))}"
            )
    style_paths = [Path(s) for s in expand_styles(list(styles)) if isinstance(s, str | os.PathLike)]
    missing = [s for s in style_paths if not s.is_file()]
    if missing:
        raise ImageError(f"{missing[0]}: no such file")
    items = find_items(Path(input_dir), Path(output_dir), recursive, suffix)
    # No output is one of the run's inputs: a style image in the output folder named like a photo,
    # or the input folder reached through a link.
    files.check_outputs(
        [(f"the output of {item.relative},", item.output) for item in items],
        [*style_paths, *(item.source for item in items)],
    )
    return suffix, style_paths, items


@dataclass(frozen=True)
class Planned:
    """What a run would do with one item: make it (``plan``), skip it (up to date), or fail on it."""

    item: Item
    state: Literal["to do", "up to date", "cannot"]
    plan: Any = None  # impasto.plan.Plan, for an item to do
    message: str = ""  # why it cannot be made


def plan_batch(
    input_dir: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    config: StyleConfig | None = None,
    options: BatchOptions | None = None,
    **given: Any,
) -> list[Planned]:
    """What :func:`run_batch` with these arguments would do with each item, writing nothing: each item
    read and planned as its run would be (pipeline.prepare: every option checked), or found up to
    date. Raises what run_batch raises before its first item."""
    from impasto.pipeline import prepare

    how = dataclasses.replace(options or BatchOptions(), **given)

    config = config or StyleConfig()
    _, style_paths, items = _checked(input_dir, styles, output_dir, config, how.recursive, how.suffix)
    style_digests = [files.sha256(s) for s in style_paths]
    planned = []
    for item in items:
        try:
            key = item_key(files.sha256(item.source), style_digests, config)
        except OSError as error:
            planned.append(Planned(item, "cannot", message=f"cannot read it ({error.strerror})"))
            continue
        if not how.force and up_to_date(Path(output_dir), item, key, how.time_budget):
            planned.append(Planned(item, "up to date"))
            continue
        try:
            planned.append(Planned(item, "to do", prepare(item.source, style_paths, config=config).plan))
        except ImpastoError as error:
            planned.append(Planned(item, "cannot", message=str(error)))
        except MemoryError:
            planned.append(Planned(item, "cannot", message=OUT_OF_MEMORY))
    return planned
