"""What every command writes on stderr when it is not a terminal (a log file, a pipe): plain lines, no
bar and no cursor escape; a line at the start, one per scale change and every --log-every iterations;
one clock for the whole run; the loss against the one its scale began with; --log-json, a JSON line per
iteration. On a terminal: bars, and status lines that overwrite each other (cli/progress.py)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import FAST, run_cli
from PIL import Image

from impasto.apps.batch import Event, Item
from impasto.apps.video import VideoEvent
from impasto.cli import main, progress
from impasto.core.optimize import Progress

ESCAPES = ("\r", "\x1b[")
CLOCK = re.compile(r"^impasto: \[ *(\d+\.\d) s\] ")
# A run of two scales (34 then 48 px) of two iterations at the first, one at the second.
TWO_SCALES = ["--size", "48", "--base-size", "34", "--iterations", "2", "--device", "cpu"]


def seconds(lines: list[str]) -> list[float]:
    """The clock of each log line (every line of a log has one)."""
    found = [CLOCK.match(line) for line in lines]
    assert all(found), [line for line, match in zip(lines, found, strict=True) if not match]
    return [float(match.group(1)) for match in found if match]


def plain(text: str) -> list[str]:
    """``text`` (stderr of a command), checked free of bars and cursor escapes, as lines."""
    assert not any(escape in text for escape in ESCAPES), repr(text)
    return text.splitlines()


def report(iteration: int, total: int, loss: float, scale: int = 1, scales: int = 2) -> Progress:
    side = 34 if scale == 1 else 48
    return Progress(
        iteration=iteration,
        total=total,
        loss=loss,
        terms={"content": loss / 4, "style": 3 * loss / 4},
        elapsed=0.0,
        image=torch.zeros(1, 3, side * 2 // 3, side),
        scale=scale,
        scales=scales,
        work_done=iteration,
        work_total=10,
    )


# --- the displays, fed by hand ------------------------------------------------------------------------


def test_a_log_line_counts_the_loss_from_the_start_of_its_scale(capsys: pytest.CaptureFixture[str]) -> None:
    feedback = progress.Feedback(quiet=False, log_every=2, log_json=None)
    feedback.status("loading the vgg19 weights")
    for n, loss in enumerate([10.0, 8.0, 6.0], start=1):
        feedback.update(report(n, 3, loss))
    feedback.status("scale 2/2, 48×32 px: computing the targets")
    for n, loss in enumerate([7.0, 5.0], start=1):  # higher than where scale 1 ended: a new size
        feedback.update(report(n, 2, loss, scale=2))
    feedback.close()
    lines = plain(capsys.readouterr().err)
    assert [CLOCK.sub("", line) for line in lines] == [
        "loading the vgg19 weights…",
        "scale 1/2, 34×22 px, iteration 1/3: loss 10 at the start of this scale (content 2.5, style 7.5)",
        "scale 1/2, 34×22 px, iteration 2/3: loss 10 → 8 at this scale (content 2, style 6)",
        "scale 1/2, 34×22 px, iteration 3/3: loss 10 → 6 at this scale (content 1.5, style 4.5)",
        "scale 2/2, 48×32 px: computing the targets…",
        "scale 2/2, 48×32 px, iteration 1/2: loss 7 at the start of this scale (content 1.75, style 5.25)",
        "scale 2/2, 48×32 px, iteration 2/2: loss 7 → 5 at this scale (content 1.25, style 3.75)",
    ]
    assert seconds(lines) == sorted(seconds(lines))


def test_quiet_says_nothing_and_a_terminal_gets_bars_instead_of_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feedback = progress.Feedback(quiet=True, log_every=1, log_json=None)
    feedback.status("loading")
    feedback.update(report(1, 2, 1.0))
    feedback.close()
    assert capsys.readouterr().err == ""

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    feedback = progress.Feedback(quiet=False, log_every=1, log_json=None)
    feedback.update(report(1, 2, 1.0))
    feedback.update(report(2, 2, 0.5))
    feedback.close()
    shown = capsys.readouterr().err
    assert "\r" in shown and "loss=1→0.5" in shown and "iteration" not in shown


def test_a_terminal_sees_what_happens_before_the_first_iteration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status lines overwrite each other on one terminal line, which is cleared before anything else."""
    from impasto import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    feedback = cli.Feedback(quiet=False, log_every=None, log_json=None)
    feedback.status("loading the vgg19 weights")
    feedback.status("computing the targets")
    feedback.close()
    assert capsys.readouterr().err == (
        f"{cli.CLEAR_LINE}impasto: loading the vgg19 weights…{cli.CLEAR_LINE}impasto: computing the targets…"
        f"{cli.CLEAR_LINE}"
    )


def test_every_display_writes_plain_lines_in_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batch, video and figure displays too: no bar escapes, each line naming what it is about, and
    one JSON log for the whole batch or video, each record naming its image or frame."""
    item = Item(tmp_path / "a.png", tmp_path / "out" / "a.png", Path("a.png"))
    batch = progress.BatchFeedback(quiet=False, log_every=None, log_json=tmp_path / "batch.jsonl")
    for event in [
        Event("start", 0, 2, item),
        Event("status", 0, 2, item, "reading the images"),
        Event("progress", 0, 2, item, progress=report(1, 2, 3.0)),
        Event("progress", 0, 2, item, progress=report(2, 2, 2.0)),
        Event("done", 0, 2, item),
        Event("skipped", 1, 2, Item(tmp_path / "b.png", tmp_path / "out" / "b.png", Path("b.png"))),
    ]:
        batch.update(event)
    batch.close()
    lines = plain(capsys.readouterr().err)
    assert all(" 1/2 a.png: " in line for line in lines[:-1]) and "2/2 b.png: skipped" in lines[-1]
    assert "loss 3 → 2 at this scale" in lines[3]
    records = [json.loads(line) for line in (tmp_path / "batch.jsonl").read_text().splitlines()]
    assert [(r["item"], r["iteration"]) for r in records] == [("a.png", 1), ("a.png", 2)]

    video = progress.VideoFeedback(quiet=False, log_every=None, log_json=tmp_path / "video.jsonl")
    for t in range(2):
        video.update(VideoEvent("frames", t, 0))
    video.update(VideoEvent("frame", 0, 3, skipped=True))
    for t in (1, 2):
        video.update(VideoEvent("status", t, 3, message="loading the vgg19 weights"))
        video.update(VideoEvent("progress", t, 3, report(1, 1, 2.0, scales=1)))
        video.update(VideoEvent("frame", t, 3))
    video.update(VideoEvent("write", 2, 3))
    video.close()
    lines = [CLOCK.sub("", line) for line in plain(capsys.readouterr().err)]
    assert lines == [
        "extracting the frames…",
        "1 of 3 frames kept from an earlier run",
        "frame 2/3: loading the vgg19 weights…",  # the first frame made says it, no later one
        "frame 2/3: 34×22 px, iteration 1/1: loss 2 at the start (content 0.5, style 1.5)",
        "frame 2/3: done",
        "frame 3/3: 34×22 px, iteration 1/1: loss 2 at the start (content 0.5, style 1.5)",
        "frame 3/3: done",
        "writing the video…",
    ]
    assert [json.loads(line)["frame"] for line in (tmp_path / "video.jsonl").read_text().splitlines()] == [
        2,
        3,
    ]

    cells = progress.CellFeedback(2, quiet=False)
    cells.say("2 cells")
    cells.update("content relu1_1", report(1, 1, 1.0, scales=1))
    cells.update("style relu1_1", report(1, 1, 1.0, scales=1))
    cells.close()
    lines = [CLOCK.sub("", line).split(": ")[0] for line in plain(capsys.readouterr().err)]
    assert lines == ["2 cells", "cell 1/2 content relu1_1", "cell 2/2 style relu1_1"]


# --- real runs ----------------------------------------------------------------------------------------


def check_run_log(lines: list[str]) -> None:
    """A two-scale run's log: a line at each scale change, the loss of the new scale counted from its
    own start, the clock never going back."""
    changes = [line for line in lines if "px: computing the targets" in line]
    assert [re.search(r"scale \d/\d, \d+×\d+ px", line).group() for line in changes] == [  # type: ignore[union-attr]
        "scale 1/2, 34×23 px",
        "scale 2/2, 48×32 px",
    ]
    assert any(
        "scale 2/2, 48×32 px, iteration 1/1: loss " in line and "at the start of this scale" in line
        for line in lines
    )
    assert seconds(lines) == sorted(seconds(lines))
    scale_starts = [seconds([line])[0] for line in changes]
    assert scale_starts[1] >= scale_starts[0]  # one clock: scale 2 does not start again at 0


@pytest.mark.slow
def test_a_run_logged_to_a_pipe_has_plain_lines_from_the_start(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    done = run_cli(content_path, style_path, "-o", out, *TWO_SCALES, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = plain(done.stderr)
    assert lines[0].endswith("loading PyTorch…")
    assert [CLOCK.sub("", line) for line in lines[1:3]] == [
        "reading the images…",
        "loading the vgg19 weights…",
    ]
    check_run_log(lines)


@pytest.mark.slow
def test_a_batch_log_names_each_image_and_keeps_one_clock(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.open(content_path).save(folder / name)
    log = tmp_path / "batch.jsonl"
    argv = ["batch", str(folder), str(style_path), "-o", str(tmp_path / "out"), *TWO_SCALES]
    assert main([*argv, "--log-json", str(log)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("2 done, 0 skipped")
    lines = plain(captured.err)
    assert lines[0].endswith("loading PyTorch…")
    for who, name in (("1/2 a.png: ", "a.png"), ("2/2 b.png: ", "b.png")):
        mine = [line for line in lines if who in line]
        assert mine[0].endswith(f"{who}started")
        assert mine[-1].endswith(f"{who}done: {tmp_path / 'out' / name}")
        check_run_log(mine)
    assert seconds(lines) == sorted(seconds(lines))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["item"], r["scale"], r["iteration"]) for r in records] == [
        (name, scale, n) for name in ("a.png", "b.png") for scale, n in ((1, 1), (1, 2), (2, 1))
    ]
    assert [r["seconds"] for r in records] == sorted(r["seconds"] for r in records)


@pytest.mark.slow
def test_explain_in_a_log_names_each_cell(
    content_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "figure.png"
    argv = [
        "explain",
        str(content_path),
        "-o",
        str(out),
        "--size",
        "32",
        "--iterations",
        "1",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    lines = plain(capsys.readouterr().err)
    assert "10 cells of 1 iterations at 32 px; loading the network…" in lines[0]
    cells = [CLOCK.sub("", line).split(": ")[0] for line in lines[1:3]]
    assert cells == ["cell 1/10 content relu1_1", "cell 2/10 content relu2_1"]
    assert seconds(lines) == sorted(seconds(lines))


@pytest.mark.slow
def test_subprocess_logs_its_progress(content_path: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.webp"
    done = run_cli(
        content_path,
        style_path,
        "-o",
        out,
        "--size",
        "40",
        "--iterations",
        "3",
        "--init",
        "noise",
        "--optimizer",
        "adam",
        "--style-layers",
        "relu1_1,relu2_1:0.5",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    # stderr is a pipe, not a terminal: plain lines with the loss terms instead of a bar
    assert "iteration 3/3: loss" in done.stderr and "style " in done.stderr and "\r" not in done.stderr
    with Image.open(out) as image:
        assert image.format == "WEBP"


@pytest.mark.slow
def test_a_log_file_gets_plain_lines_and_json_gets_every_iteration(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out, log = tmp_path / "out.png", tmp_path / "run.jsonl"
    done = run_cli(
        content_path, style_path, "-o", out, "--size", "40", "--iterations", "4", "--device", "cpu",
        "--log-every", "2", "--log-json", log,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " iteration " in line]
    assert [line.split(" iteration ")[1].split(":")[0] for line in lines] == ["1/4", "2/4", "4/4"]
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr  # no bar, no cursor escape in a log
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    assert {"loss", "content", "style", "seconds", "scale"} <= set(records[0])
    assert records[0]["loss"] == pytest.approx(records[0]["content"] + records[0]["style"], rel=1e-4)


def test_the_json_log_appears_whole_when_the_run_ends(
    content_path: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written atomically: while the run goes on, the file at --log-json keeps what it held."""
    from impasto.cli import progress

    log = tmp_path / "run.jsonl"
    log.write_text("the last run's log\n")
    seen: list[str] = []
    update = progress.Feedback.update

    def watched(self: progress.Feedback, report: object) -> None:
        update(self, report)  # type: ignore[arg-type]
        seen.append(log.read_text())

    monkeypatch.setattr(progress.Feedback, "update", watched)
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST, "--log-json", str(log)]) == 0
    assert seen == ["the last run's log\n"] * 3
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "run.jsonl"]
