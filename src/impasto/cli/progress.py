"""How a command shows its progress on stderr, one display per command:

    Feedback        impasto (one image)
    BatchFeedback   impasto batch (each line names its image)
    VideoFeedback   impasto video (each line names its frame)
    CellFeedback    impasto explain and sweep (each line names its cell)

On a terminal: a status line for what happens before the first iteration (loading, computing the
targets), then tqdm bars. Anywhere else (a log file, a pipe) no bar and no cursor escape ever: plain
lines, each with the seconds since the command began (one clock for the whole run, not one per scale),
so that the first seconds — loading PyTorch and the weights, the targets, a compilation — are never
silent. Every display can also write a JSON line per iteration to a file (--log-json).

A log line comes at the first and last iteration of every scale and every --log-every iterations in
between. The loss is measured afresh at each scale (a larger image, new targets), so a bare number
would jump up when a scale begins and read as a regression; a line says where the scale started
instead: "loss 1.2 → 0.41 at this scale".
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impasto.errors import ImpastoError

if TYPE_CHECKING:  # at run time torch loads only once a command runs: --help answers at once
    from impasto.apps.batch import Event
    from impasto.apps.video import VideoEvent
    from impasto.core.optimize import Progress

from impasto.cli.common import CLEAR_LINE, printable

DEFAULT_LOG_EVERY = 25


def on_terminal() -> bool:
    """Whether stderr is a terminal: the only place a bar or a cursor escape may go."""
    return sys.stderr.isatty()


def new_bar(**options: Any) -> Any:
    """A tqdm bar on stderr with ``options`` (tqdm is imported when the first bar is shown)."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, **options)


def write_above(bar: Any, line: str) -> None:
    """``line`` on stderr: above ``bar`` (a tqdm bar) if there is one, else as a plain line."""
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def close_bar(bar: Any) -> None:
    """``bar`` (a tqdm bar) closed, if there is one."""
    if bar is not None:
        bar.close()


class Clock:
    """Seconds since the command began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.started


def iteration_text(progress: Progress, scale_start: float) -> str:
    """One iteration for a log: where it is, and the loss against the one its scale (or tile) began
    with, e.g. "scale 2/3, 362×241 px, iteration 25/100: loss 1.2 → 0.41 at this scale (content 0.1, …)"."""
    h, w = progress.image.shape[-2:]
    where = f"scale {progress.scale}/{progress.scales}, " if progress.scales > 1 else ""
    where += f"tile {progress.tile}/{progress.tiles}, " if progress.tiles > 1 else ""
    part = "tile" if progress.tiles > 1 else "scale" if progress.scales > 1 else ""
    if progress.iteration == 1:
        loss = f"loss {progress.loss:.4g} at the start" + (f" of this {part}" if part else "")
    else:
        loss = f"loss {scale_start:.4g} → {progress.loss:.4g}" + (f" at this {part}" if part else "")
    terms = ", ".join(f"{name} {value:.4g}" for name, value in progress.terms.items())
    return f"{where}{w}×{h} px, iteration {progress.iteration}/{progress.total}: {loss} ({terms})"


class Lines:
    """Plain lines on stderr for a log: ``impasto: [  12.3 s] what happens``, optionally naming what
    it happens to (an image of a batch, a frame)."""

    def __init__(self, clock: Clock, log_every: int | None) -> None:
        self.clock = clock
        self.log_every = log_every or DEFAULT_LOG_EVERY
        self._part: tuple[str, int, int] | None = None  # (who, scale, tile) of the last iteration
        self._part_start = 0.0  # the loss it began with

    def say(self, text: str, who: str = "") -> None:
        where = f"{who}: " if who else ""
        print(printable(f"impasto: [{self.clock():6.1f} s] {where}{text}"), file=sys.stderr, flush=True)

    def progress(self, progress: Progress, who: str = "") -> None:
        """A line for the first and last iteration of each scale (or tile) and every ``log_every``."""
        part = (who, progress.scale, progress.tile)
        if part != self._part or progress.iteration == 1:
            self._part, self._part_start = part, progress.loss
        n = progress.iteration
        if n == 1 or n == progress.total or n % self.log_every == 0:
            self.say(iteration_text(progress, self._part_start), who)


class JsonLog:
    """--log-json FILE: a JSON line per iteration, written atomically (the file appears, whole, when the
    run ends, however it ends; a pipe or /dev/stdout gets each line at once). A log that cannot be
    written while the run goes on (a full disk) costs nothing else: ``warn`` says so once, and the run
    goes on without it."""

    def __init__(self, path: Path, clock: Clock, warn: Callable[[str], None]) -> None:
        from impasto.io import files

        self.path, self.clock, self.warn = path, clock, warn
        try:
            self.file: Any = files.Replacement(path)
        except OSError as error:
            raise ImpastoError(f"cannot write the JSON log {path}: {error.strerror or error}") from None

    def iteration(self, progress: Progress, **naming: str | int) -> None:
        """``progress`` as one record, after ``naming`` (the image or frame it belongs to); "seconds"
        counts from the start of the command, as the log lines do."""
        if self.file is None:
            return
        record = {
            **naming,
            "scale": progress.scale,
            "tile": progress.tile,
            "iteration": progress.iteration,
            "loss": progress.loss,
            **progress.terms,
            "seconds": round(self.clock(), 3),
        }
        try:
            self.file.file.write((json.dumps(record) + "\n").encode())
            if self.file.in_place:  # a pipe or a terminal: each line as it comes
                self.file.file.flush()
        except OSError as error:
            self._failed(error)

    def _failed(self, error: OSError) -> None:
        """The JSON log is dropped (nothing of it is left), with one warning line."""
        self.file.discard()
        self.file = None
        self.warn(
            f"impasto: warning: cannot write the JSON log {self.path} ({error.strerror or error}); "
            "the run goes on without it"
        )

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.commit()
            except OSError as error:
                self._failed(error)


def _log_lines(clock: Clock, log_every: int | None, quiet: bool, terminal: bool) -> Lines | None:
    """The plain lines of a log; none when ``quiet`` or on a terminal (bars show the progress there)."""
    return Lines(clock, log_every) if not (quiet or terminal) else None


def _json_log(path: Path | None, clock: Clock, warn: Callable[[str], None]) -> JsonLog | None:
    return JsonLog(path, clock, warn) if path is not None else None


class Feedback:
    """What one image's run shows while it works. On a terminal: what it is doing before the first
    iteration (loading PyTorch and the weights, computing the targets) on one line that the progress bar
    then replaces. Elsewhere: each of those as a plain line, one per scale change, and an iteration
    line every ``log_every`` (see :class:`Lines`). With ``log_json``: a JSON line per iteration in that
    file (iteration, loss and its terms, seconds). ``quiet`` silences stderr, not the JSON log."""

    def __init__(self, quiet: bool, log_every: int | None, log_json: Path | None) -> None:
        self.quiet = quiet
        self.clock = Clock()
        self.terminal = on_terminal()
        self.bar = ProgressBar(disabled=quiet or not self.terminal)
        self.lines = _log_lines(self.clock, log_every, quiet, self.terminal)
        self.json = _json_log(log_json, self.clock, self._warn)
        self.status_shown = False

    def status(self, message: str) -> None:
        if self.lines is not None:
            self.lines.say(f"{message}…")
        if self.quiet or not self.terminal or self.bar.bar is not None:
            return
        sys.stderr.write(f"{CLEAR_LINE}impasto: {message}…")
        sys.stderr.flush()
        self.status_shown = True

    def _clear_status(self) -> None:
        if self.status_shown:
            sys.stderr.write(CLEAR_LINE)
            sys.stderr.flush()
            self.status_shown = False

    def update(self, progress: Progress) -> None:
        self._clear_status()
        self.bar.update(progress)
        if self.lines is not None:
            self.lines.progress(progress)
        if self.json is not None:
            self.json.iteration(progress)

    def _warn(self, line: str) -> None:
        self._clear_status()
        self.bar.write(line)

    def close(self) -> None:
        self._clear_status()
        self.bar.close()
        if self.json is not None:
            self.json.close()


class ProgressBar:
    """A tqdm bar on stderr, created at the first progress report (when the total is known).

    It counts work in iterations at the output size, so its time estimate holds across the scales of
    a multi-scale run (the small ones go faster); the description says which scale and size it is at,
    the postfix the loss since the scale began.
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bar: Any = None
        self._part: tuple[int, int] | None = None
        self._part_start = 0.0

    def update(self, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            self.bar = new_bar(total=progress.work_total, bar_format=self.FORMAT, dynamic_ncols=True)
        if (progress.scale, progress.tile) != self._part or progress.iteration == 1:
            self._part, self._part_start = (progress.scale, progress.tile), progress.loss
        h, w = progress.image.shape[-2:]
        scale = f" scale {progress.scale}/{progress.scales}" if progress.scales > 1 else ""
        scale += f" tile {progress.tile}/{progress.tiles}" if progress.tiles > 1 else ""
        self.bar.set_description_str(f"impasto{scale} {w}×{h}", refresh=False)
        loss = f"{self._part_start:.3g}→{progress.loss:.3g}"
        terms = {name: f"{value:.3g}" for name, value in progress.terms.items()}
        self.bar.set_postfix(
            {"it": f"{progress.iteration}/{progress.total}", "loss": loss, **terms}, refresh=False
        )
        self.bar.update(progress.work_done - self.bar.n)

    def write(self, line: str) -> None:
        """``line`` on stderr, above the bar if there is one."""
        write_above(self.bar, line)

    def close(self) -> None:
        close_bar(self.bar)


class CellFeedback:
    """A figure's progress: on a terminal one bar over its cells (each cell's own progress counted as a
    fraction); elsewhere lines naming the cell ("cell 3/10 content relu3_1: …")."""

    def __init__(self, cells: int, quiet: bool) -> None:
        self.cells = cells
        self.clock = Clock()
        self.bar = CellBar(cells, disabled=quiet or not on_terminal())
        self.lines = _log_lines(self.clock, None, quiet, on_terminal())
        self.labels: list[str] = []

    def say(self, text: str) -> None:
        """A line in a log (nothing on a terminal, where the bar says it)."""
        if self.lines is not None:
            self.lines.say(text)

    def update(self, label: str, progress: Progress) -> None:
        if not self.labels or self.labels[-1] != label:
            self.labels.append(label)
        self.bar.update(label, progress)
        if self.lines is not None:
            self.lines.progress(progress, f"cell {len(self.labels)}/{self.cells} {label}")

    def close(self) -> None:
        self.bar.close()


class CellBar:
    """A tqdm bar over the cells of a figure, each cell's own progress counted as a fraction."""

    def __init__(self, cells: int, disabled: bool) -> None:
        self.cells, self.disabled = cells, disabled
        self.bar: Any = None
        self.labels: list[str] = []

    def update(self, label: str, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            self.bar = new_bar(total=self.cells, bar_format=ProgressBar.FORMAT, dynamic_ncols=True)
        if not self.labels or self.labels[-1] != label:
            self.labels.append(label)
        self.bar.set_description_str(f"impasto {label}", refresh=False)
        position = len(self.labels) - 1 + progress.work_done / progress.work_total
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        close_bar(self.bar)


class BatchFeedback:
    """A batch's progress: on a terminal two bars (:class:`BatchBars`); elsewhere lines, each naming its
    image ("2/5 trip/b.jpg: …"): when it starts, what it is doing before its first iteration, its
    iterations as :class:`Lines` has them, and how it ended. With ``log_json``: one JSON-lines file for
    the whole batch, each record naming its image ("item", its path in the input folder)."""

    def __init__(self, quiet: bool, log_every: int | None, log_json: Path | None) -> None:
        self.clock = Clock()
        terminal = on_terminal()
        self.bars = BatchBars(disabled=quiet or not terminal)
        self.lines = _log_lines(self.clock, log_every, quiet, terminal)
        self.json = _json_log(log_json, self.clock, self._warn)

    def say(self, text: str) -> None:
        if self.lines is not None:
            self.lines.say(text)

    def update(self, event: Event) -> None:
        self.bars.update(event)
        if self.json is not None and event.kind == "progress" and event.progress is not None:
            self.json.iteration(event.progress, item=str(event.item.relative))
        if self.lines is None:
            return
        who = f"{event.index + 1}/{event.total} {event.item.relative}"
        if event.kind == "start":
            self.lines.say("started", who)
        elif event.kind == "status":
            self.lines.say(f"{event.message}…", who)
        elif event.kind == "progress" and event.progress is not None:
            self.lines.progress(event.progress, who)
        elif event.kind == "done":
            self.lines.say(
                f"done: {event.item.output}" + (f" ({event.message})" if event.message else ""), who
            )
        elif event.kind == "skipped":
            self.lines.say(f"skipped: {event.message or 'up to date'}", who)
        elif event.kind == "failed":
            self.lines.say(f"failed: {event.message}", who)

    def _warn(self, line: str) -> None:
        write_above(self.bars.batch, line)

    def close(self) -> None:
        """The bars closed and the JSON log put in place; once, however often it is called."""
        self.bars.close()
        if self.json is not None:
            self.json.close()
            self.json = None


class BatchBars:
    """Two tqdm bars: images of the batch, and the current image's optimization under it."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.batch: Any = None
        self.image: Any = None

    def update(self, event: Event) -> None:
        if self.disabled:
            return
        if self.batch is None:
            self.batch = new_bar(total=event.total, desc="batch", unit="image", position=0)
        if event.kind == "start":
            self.batch.set_postfix_str(str(event.item.relative), refresh=True)
        elif event.kind == "progress" and event.progress is not None:
            progress = event.progress
            if self.image is None:
                self.image = new_bar(
                    total=progress.work_total, bar_format=ProgressBar.FORMAT, position=1, leave=False
                )
            self.image.set_description_str(f"  {event.item.relative}", refresh=False)
            self.image.update(progress.work_done - self.image.n)
        elif event.kind in ("done", "skipped", "failed"):
            close_bar(self.image)
            self.image = None
            if event.kind == "failed":
                write_above(self.batch, printable(f"impasto: failed: {event.item.relative}: {event.message}"))
            self.batch.update(1)

    def close(self) -> None:
        close_bar(self.image)
        close_bar(self.batch)
        self.image = self.batch = None


class VideoFeedback:
    """A video's progress: on a terminal a bar over the frames; elsewhere lines: extracting the frames,
    the first frame's loading, each frame's iterations (as :class:`Lines`, naming the frame) and its
    end, writing the video. With ``log_json``: one JSON-lines file for the whole video, each record
    naming its frame ("frame", from 1)."""

    def __init__(self, quiet: bool, log_every: int | None, log_json: Path | None) -> None:
        self.clock = Clock()
        terminal = on_terminal()
        self.quiet = quiet
        self.terminal = terminal
        self.bar: Any = None
        self.lines = _log_lines(self.clock, log_every, quiet, terminal)
        self.json = _json_log(log_json, self.clock, self._warn)
        self.extracting = False
        self.kept = 0  # frames an earlier run stylized, not yet said
        self.iterating = False  # a frame has begun its iterations: status lines would only repeat

    def say(self, text: str) -> None:
        if self.lines is not None:
            self.lines.say(text)

    def update(self, event: VideoEvent) -> None:
        if self.json is not None and event.kind == "progress" and event.progress is not None:
            self.json.iteration(event.progress, frame=event.index + 1)
        if not self.quiet and self.terminal:
            self._bar(event)
        if self.lines is None:
            return
        if event.kind == "frame" and event.skipped:
            self.kept += 1
            return
        if self.kept:
            self.lines.say(f"{self.kept} of {event.total} frames kept from an earlier run")
            self.kept = 0
        who = f"frame {event.index + 1}/{event.total}"
        if event.kind == "frames":
            if not self.extracting:
                self.extracting = True
                self.lines.say("extracting the frames…")
        elif event.kind == "status":
            if not self.iterating:  # every frame loads and computes again; the first one says it
                self.lines.say(f"{event.message}…", who)
        elif event.kind == "progress" and event.progress is not None:
            self.iterating = True
            self.lines.progress(event.progress, who)
        elif event.kind == "frame":
            self.lines.say("done", who)
        elif event.kind == "write":
            self.lines.say("writing the video…")

    def _bar(self, event: VideoEvent) -> None:
        if event.kind not in ("frame", "progress"):
            return
        if self.bar is None:
            self.bar = new_bar(total=event.total, desc="frames", unit="frame", dynamic_ncols=True)
        if event.kind == "frame":
            self.bar.update(1)
        elif event.progress is not None:
            self.bar.set_postfix_str(
                f"frame {event.index + 1} it {event.progress.iteration}/{event.progress.total}"
            )

    def _warn(self, line: str) -> None:
        write_above(self.bar, line)

    def close(self) -> None:
        close_bar(self.bar)
        if self.json is not None:
            self.json.close()
