"""How a run shows its progress: a status line and a bar on a terminal, plain lines in a log, JSON
lines on request; bars for a figure's cells and a batch's images."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from impasto.errors import ImpastoError

if TYPE_CHECKING:  # at run time torch loads only once a command runs: --help answers at once
    from impasto.core.optimize import Progress

from impasto.cli.common import CLEAR_LINE


class Feedback:
    """What a run shows while it works. On a terminal: what it is doing before the first iteration
    (loading weights, computing targets) on one line that the progress bar then replaces; when stderr
    is a log file: one plain line every ``log_every`` iterations (no status lines, so a run that fails
    early still leaves one line: its error). With ``log_json``: a JSON line per iteration in that file
    (iteration, loss and its terms, seconds). ``quiet`` silences stderr, not the JSON log.

    The JSON log is written atomically: it appears at its path, whole, when the run ends (however it
    ends). A log that cannot be written while the run goes on (a full disk) costs nothing else: one
    warning line, and the run goes on without it."""

    def __init__(self, quiet: bool, log_every: int | None, log_json: Path | None) -> None:
        from impasto.io import files

        self.quiet = quiet
        self.terminal = sys.stderr.isatty()
        self.bar = ProgressBar(disabled=quiet or not self.terminal)
        self.log_every = log_every or 25
        self.json_path = log_json
        try:
            self.json = files.Replacement(log_json) if log_json else None
        except OSError as error:
            raise ImpastoError(f"cannot write the JSON log {log_json}: {error.strerror or error}") from None
        self.status_shown = False

    def status(self, message: str) -> None:
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
        last = progress.iteration == progress.total
        if not (self.quiet or self.terminal) and (progress.iteration % self.log_every == 0 or last):
            h, w = progress.image.shape[-2:]
            scale = f"scale {progress.scale}/{progress.scales} " if progress.scales > 1 else ""
            terms = ", ".join(f"{name} {value:.4g}" for name, value in progress.terms.items())
            print(
                f"impasto: {scale}{w}×{h} iteration {progress.iteration}/{progress.total} "
                f"loss {progress.loss:.4g} ({terms}) {progress.elapsed:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        if self.json is not None:
            import json

            record = {
                "scale": progress.scale,
                "tile": progress.tile,
                "iteration": progress.iteration,
                "loss": progress.loss,
                **progress.terms,
                "seconds": round(progress.elapsed, 3),
            }
            try:
                self.json.file.write((json.dumps(record) + "\n").encode())
                if self.json.in_place:  # a pipe or a terminal: each line as it comes
                    self.json.file.flush()
            except OSError as error:
                self._json_failed(error)

    def _json_failed(self, error: OSError) -> None:
        """The JSON log is dropped (nothing of it is left), with one warning line."""
        assert self.json is not None
        self.json.discard()
        self.json = None
        self._clear_status()
        self.bar.write(
            f"impasto: warning: cannot write the JSON log {self.json_path} ({error.strerror or error}); "
            "the run goes on without it"
        )

    def close(self) -> None:
        self._clear_status()
        self.bar.close()
        if self.json is not None:
            try:
                self.json.commit()
            except OSError as error:
                self._json_failed(error)


class ProgressBar:
    """A tqdm bar on stderr, created at the first progress report (when the total is known).

    It counts work in iterations at the output size, so its time estimate holds across the scales of
    a multi-scale run (the small ones go faster); the description says which scale and size it is at.
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bar: Any = None

    def update(self, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.work_total, bar_format=self.FORMAT, file=sys.stderr, dynamic_ncols=True
            )
        h, w = progress.image.shape[-2:]
        scale = f" scale {progress.scale}/{progress.scales}" if progress.scales > 1 else ""
        scale += f" tile {progress.tile}/{progress.tiles}" if progress.tiles > 1 else ""
        self.bar.set_description_str(f"impasto{scale} {w}×{h}", refresh=False)
        terms = {name: f"{value:.3g}" for name, value in progress.terms.items()}
        self.bar.set_postfix({"it": f"{progress.iteration}/{progress.total}", **terms}, refresh=False)
        self.bar.update(progress.work_done - self.bar.n)

    def write(self, line: str) -> None:
        """``line`` on stderr, above the bar if there is one."""
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
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
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.cells, bar_format=ProgressBar.FORMAT, file=sys.stderr, dynamic_ncols=True
            )
        if not self.labels or self.labels[-1] != label:
            self.labels.append(label)
        self.bar.set_description_str(f"impasto {label}", refresh=False)
        position = len(self.labels) - 1 + progress.work_done / progress.work_total
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class BatchBars:
    """Two tqdm bars: images of the batch, and the current image's optimization under it."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.batch: Any = None
        self.image: Any = None

    def update(self, event: Any) -> None:
        if self.disabled:
            return
        from tqdm import tqdm

        if self.batch is None:
            self.batch = tqdm(total=event.total, desc="batch", unit="image", file=sys.stderr, position=0)
        if event.kind == "start":
            self.batch.set_postfix_str(str(event.item.relative), refresh=True)
        elif event.kind == "progress" and event.progress is not None:
            progress = event.progress
            if self.image is None:
                self.image = tqdm(
                    total=progress.work_total,
                    bar_format=ProgressBar.FORMAT,
                    file=sys.stderr,
                    position=1,
                    leave=False,
                )
            self.image.set_description_str(f"  {event.item.relative}", refresh=False)
            self.image.update(progress.work_done - self.image.n)
        elif event.kind in ("done", "skipped", "failed"):
            if self.image is not None:
                self.image.close()
                self.image = None
            if event.kind == "failed":
                self.batch.write(f"impasto: failed: {event.item.relative}: {event.message}", file=sys.stderr)
            self.batch.update(1)

    def close(self) -> None:
        for bar in (self.image, self.batch):
            if bar is not None:
                bar.close()
