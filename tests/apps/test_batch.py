"""impasto batch: finding the images, keys, resuming, failures, temporaries, and a crash mid-batch."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from impasto.apps import batch
from impasto.apps.batch import remote
from impasto.cli import main
from impasto.config import StyleConfig
from impasto.errors import ConfigError

FAST = StyleConfig(size=32, iterations=2, device="cpu")


def photo(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    photo(folder / "a.png", (200, 30, 30))
    photo(folder / "b.jpg", (30, 200, 30))
    photo(folder / "trip" / "c.png", (30, 30, 200))
    photo(folder / ".hidden" / "d.png", (9, 9, 9))
    (folder / "notes.txt").write_text("not a picture")
    return folder


def test_the_batch_options_are_one_object_its_fields_also_keywords(
    photos: Path, tmp_path: Path, style_path: Path
) -> None:
    flat = batch.plan_batch(photos, [style_path], tmp_path / "o", FAST, batch.BatchOptions())
    deep = batch.plan_batch(photos, [style_path], tmp_path / "o", FAST, batch.BatchOptions(recursive=True))
    assert len(deep) == len(flat) + 1  # in/trip/c.png
    # A keyword overrides the object's field.
    again = batch.plan_batch(
        photos, [style_path], tmp_path / "o", FAST, batch.BatchOptions(recursive=True), recursive=False
    )
    assert [p.item.relative for p in again] == [p.item.relative for p in flat]
    with pytest.raises(ConfigError, match="time budget holds on this machine"):
        batch.run_batch(
            photos, [style_path], tmp_path / "o", FAST, batch.BatchOptions(ray_address="local", time_budget=5)
        )


def test_find_items_mirrors_the_tree(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    flat = batch.find_items(photos, out)
    assert [i.relative.as_posix() for i in flat] == ["a.png", "b.jpg"]
    deep = batch.find_items(photos, out, recursive=True)
    assert [i.relative.as_posix() for i in deep] == ["a.png", "b.jpg", "trip/c.png"]
    assert deep[2].output == out / "trip" / "c.png"
    assert batch.find_items(photos, out, suffix=".webp")[1].output == out / "b.webp"
    # An output folder inside the input folder is never read back as input.
    photo(photos / "styled" / "a.png", (1, 2, 3))
    assert all("styled" not in i.relative.parts for i in batch.find_items(photos, photos / "styled", True))


def test_the_key_follows_input_styles_and_look_but_not_the_device() -> None:
    base = batch.item_key("input", ["style"], FAST)
    assert batch.item_key("input", ["style"], FAST.with_options(device="cuda", compile="on")) == base
    assert batch.item_key("input", ["style"], FAST.with_options(max_upscale=64, max_pixels=10**6)) == base
    assert batch.item_key("other", ["style"], FAST) != base
    assert batch.item_key("input", ["style", "style2"], FAST) != base
    assert batch.item_key("input", ["style"], FAST.with_options(style_weight=9)) != base


@pytest.mark.slow
def test_a_rerun_skips_what_is_done_and_redoes_what_changed(
    photos: Path, tmp_path: Path, style_path: Path
) -> None:
    out = tmp_path / "out"
    first = batch.run_batch(photos, [style_path], out, FAST, recursive=True)
    assert len(first.done) == 3 and not first.skipped and not first.failed
    with Image.open(out / "trip" / "c.png") as opened:
        assert opened.size == (32, 21)
    with Image.open(out / "b.jpg") as opened:
        assert opened.format == "JPEG"
    stamp = (out / "a.png").stat().st_mtime_ns

    again = batch.run_batch(photos, [style_path], out, FAST, recursive=True)
    assert len(again.skipped) == 3 and not again.done
    assert (out / "a.png").stat().st_mtime_ns == stamp

    photo(photos / "b.jpg", (250, 250, 0))  # the input changed
    changed = batch.run_batch(photos, [style_path], out, FAST, recursive=True)
    assert [i.relative.as_posix() for i in changed.done] == ["b.jpg"] and len(changed.skipped) == 2

    (out / "a.png").unlink()  # the output went missing
    assert [
        i.relative.as_posix() for i in batch.run_batch(photos, [style_path], out, FAST, recursive=True).done
    ] == ["a.png"]
    stronger = batch.run_batch(photos, [style_path], out, FAST.with_options(style_weight=20), recursive=True)
    assert len(stronger.done) == 3
    forced = batch.run_batch(
        photos, [style_path], out, FAST.with_options(style_weight=20), recursive=True, force=True
    )
    assert len(forced.done) == 3
    records = dict(batch.iter_outputs(out))
    assert records[out / "a.png"]["options"]["style_weight"] == 20


def test_a_bad_image_is_reported_and_the_rest_go_on(photos: Path, tmp_path: Path, style_path: Path) -> None:
    (photos / "broken.png").write_text("not an image")
    events: list[batch.Event] = []
    summary = batch.run_batch(photos, [style_path], tmp_path / "out", FAST, callback=events.append)
    assert len(summary.done) == 2 and len(summary.failed) == 1
    item, message = summary.failed[0]
    assert item.relative.name == "broken.png" and "not an image" in message
    assert not (tmp_path / "out" / "broken.png").exists()
    kinds = [(e.kind, e.item.relative.name) for e in events if e.kind != "progress"]
    assert ("failed", "broken.png") in kinds and ("done", "a.png") in kinds
    assert any(e.kind == "progress" and e.progress is not None for e in events)


def test_stale_temporaries_are_swept(photos: Path, tmp_path: Path, style_path: Path) -> None:
    out = tmp_path / "out"
    (out / "trip").mkdir(parents=True)
    stale = out / "trip" / ".c.png.0a1b2c3d.part"
    stale.write_bytes(b"half an image")
    keep = out / "trip" / ".notes.part"  # not ours: left alone
    keep.write_text("mine")
    summary = batch.run_batch(photos, [style_path], out, FAST, recursive=True)
    assert summary.swept == 1 and not stale.exists() and keep.exists()


def test_bad_batch_arguments(photos: Path, tmp_path: Path, style_path: Path) -> None:
    with pytest.raises(ConfigError, match="masks"):
        batch.run_batch(
            photos, [style_path], tmp_path / "o", FAST.with_options(content_masks=(str(style_path),))
        )
    with pytest.raises(ConfigError, match="unknown output format"):
        batch.run_batch(photos, [style_path], tmp_path / "o", FAST, suffix="gifv")


def test_cli_batch_summary_and_exit_codes(
    photos: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = [str(photos), str(style_path), "-o", str(out), "--size", "32", "--iterations", "2", "-q"]
    assert main(["batch", *args, "--recursive", "--format", "png"]) == 0
    assert capsys.readouterr().out.startswith("3 done, 0 skipped (up to date), 0 failed")
    assert (out / "b.png").is_file()
    (photos / "broken.jpg").write_text("oops")
    assert main(["batch", *args]) == 1
    captured = capsys.readouterr()
    assert "impasto: failed: broken.jpg:" in captured.err and "1 failed" in captured.out
    assert main(["batch", str(tmp_path / "nowhere"), str(style_path), "-o", str(out)]) == 1
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_a_killed_batch_resumes_with_only_the_rest(tmp_path: Path, style_path: Path) -> None:
    """A real crash: the process is killed (SIGKILL) mid-batch; the rerun redoes only the unfinished
    images and no partial file survives."""
    folder = tmp_path / "in"
    for index in range(5):
        photo(folder / f"{index}.png", (40 * index, 100, 200 - 40 * index), (96, 64))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "impasto.cli", "batch", str(folder), str(style_path), "-o", str(out)]
    command += ["--size", "64", "--iterations", "25", "--device", "cpu", "-q"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    manifest = out / batch.MANIFEST
    while time.monotonic() < deadline and len(list(manifest.glob("*.json"))) < 2:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)  # waits, and closes the pipes
    finished = sorted(p.name.removesuffix(".json") for p in manifest.glob("*.json"))
    assert 2 <= len(finished) < 5, finished
    stamps = {name: (out / name).stat().st_mtime_ns for name in finished}

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.startswith(f"{5 - len(finished)} done, {len(finished)} skipped")
    assert {name: (out / name).stat().st_mtime_ns for name in finished} == stamps
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".part")]
    assert not leftovers
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i}.png" for i in range(5)]
    for name in os.listdir(out):
        if name.endswith(".png"):
            with Image.open(out / name) as opened:
                assert opened.size == (64, 43)
    shutil.rmtree(out)


@pytest.mark.slow
def test_the_default_path_never_imports_a_cluster_library(
    photos: Path, tmp_path: Path, style_path: Path
) -> None:
    code = (
        "import sys; from impasto.cli import main; "
        f"code = main(['batch', {str(photos)!r}, {str(style_path)!r}, '-o', {str(tmp_path / 'o')!r}, "
        "'--size', '32', '--iterations', '1', '-q']); "
        "assert 'ray' not in sys.modules, 'ray imported'; sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_unwritable_formats_fall_back_to_png_and_collisions_stop_it_before_it_starts(
    tmp_path: Path, style_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (48, 32), (200, 40, 40)).save(folder / "anim.gif")
    Image.new("RGB", (48, 32), (40, 40, 200)).save(folder / "scan.bmp")
    items = batch.find_items(folder, tmp_path / "out")
    assert [i.output.name for i in items] == ["anim.png", "scan.png"]  # read, written as PNG
    summary = batch.run_batch(folder, [style_path], tmp_path / "out", FAST)
    assert len(summary.done) == 2 and (tmp_path / "out" / "anim.png").is_file()

    photo(folder / "scan.png", (10, 200, 10))  # scan.bmp and scan.png would both be out/scan.png
    with pytest.raises(ConfigError, match=r"scan\.bmp and scan\.png would both be written to scan\.png"):
        batch.run_batch(folder, [style_path], tmp_path / "out2", FAST)
    assert not (tmp_path / "out2").exists()  # nothing ran
    with pytest.raises(ConfigError, match="is the input folder"):
        batch.run_batch(folder, [style_path], folder, FAST, suffix="png")


def test_an_item_another_run_is_making_is_left_to_it(photos: Path, tmp_path: Path, style_path: Path) -> None:
    out = tmp_path / "out"
    first = batch.find_items(photos, out)[0]
    with batch.claim(out, first) as mine:  # another run holds a.png's lock
        assert mine
        summary = batch.run_batch(photos, [style_path], out, FAST)
    assert summary.elsewhere == [first] and not first.output.exists()
    assert "1 done, 0 skipped (up to date), 1 left to another run, 0 failed" in summary.line()
    again = batch.run_batch(photos, [style_path], out, FAST)  # the lock is free now
    assert [i.relative for i in again.done] == [first.relative] and len(again.skipped) == 1
    assert not list((out / batch.MANIFEST).glob("*.lock"))


@pytest.mark.slow
def test_two_batches_on_one_folder_share_the_work(tmp_path: Path, style_path: Path) -> None:
    folder = tmp_path / "in"
    for index in range(6):
        photo(folder / f"{index}.png", (40 * index, 100, 200 - 40 * index), (64, 48))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "impasto.cli", "batch", str(folder), str(style_path), "-o", str(out)]
    command += ["--size", "48", "--iterations", "15", "--device", "cpu", "-q"]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in "ab"
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    made = [int(stdout.split(" done")[0]) for stdout, _ in outputs]
    assert sum(made) == 6, outputs  # every image made once, by one run or the other
    assert sorted(p.name for p in out.glob("*.png")) == [f"{i}.png" for i in range(6)]


def test_ctrl_c_stops_the_batch_at_once_and_says_what_was_done(
    photos: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from impasto.pipeline import stylize_detailed

    calls: list[Path] = []

    def stylize(source: Path, *args: Any, **kwargs: Any) -> object:
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second image
        return stylize_detailed(source, *args, **kwargs)

    with pytest.raises(batch.BatchInterrupted) as stop:
        batch.run_batch(photos, [style_path], tmp_path / "out", FAST, recursive=True, stylize=stylize)
    assert len(calls) == 2  # the third was never started
    summary = stop.value.summary
    assert summary.interrupted and len(summary.done) == 1 and not summary.failed
    assert summary.line().startswith("1 done, 0 skipped (up to date), 0 failed in ")
    assert summary.line().endswith(" before Ctrl-C stopped it")


def test_cli_batch_reports_the_summary_after_ctrl_c(
    photos: Path,
    tmp_path: Path,
    style_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*args: object, **kwargs: object) -> batch.Summary:
        raise batch.BatchInterrupted(
            batch.Summary(done=batch.find_items(photos, tmp_path / "o")[:1], interrupted=True)
        )

    monkeypatch.setattr(batch, "run_batch", interrupted)
    assert main(["batch", str(photos), str(style_path), "-o", str(tmp_path / "out"), "-q"]) == 130
    captured = capsys.readouterr()
    assert captured.out.startswith("1 done, ") and "before Ctrl-C stopped it" in captured.out
    assert (
        captured.err.strip() == "impasto: error: interrupted; finished images are kept, a rerun does the rest"
    )


def test_an_output_folder_that_cannot_be_one_is_refused_in_one_line(
    photos: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o an existing file, or a folder that cannot be made: one line, nothing written."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    args = [str(photos), str(style_path), "--size", "32", "--iterations", "1", "-q"]
    assert main(["batch", *args, "-o", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert err == f"impasto: error: {a_file} is not a folder; the output of a batch is a folder\n"
    assert a_file.read_text() == "mine"
    if Path("/proc/self").is_dir():  # a folder no one can make a folder in
        assert main(["batch", *args, "-o", "/proc/impasto-out"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("impasto: error: /proc/impasto-out: cannot make the output folder (")
        assert err.count("\n") == 1


def test_no_output_of_a_batch_is_one_of_its_inputs(photos: Path, tmp_path: Path, style_path: Path) -> None:
    """A style image kept in the output folder under a photo's name would be painted over."""
    out = tmp_path / "out"
    out.mkdir()
    style = out / "a.png"
    style.write_bytes(style_path.read_bytes())
    with pytest.raises(ConfigError, match=r"the output of a\.png, .*a\.png is one of the inputs"):
        batch.run_batch(photos, [style], out, FAST)
    assert style.read_bytes() == style_path.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]


def test_a_dry_run_prints_each_images_plan_and_writes_nothing(
    photos: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["batch", str(photos), str(style_path), "-o", str(out), "--size", "32", "--recursive"]
    assert main([*argv, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    for name in ("a.png", "b.jpg", "trip/c.png"):
        assert f"{name} → {out / name}:\n  1 scale(s) on " in printed
    assert "    1. 32×21 px, " in printed
    assert printed.endswith("3 images: 3 to do, 0 up to date, 0 cannot be made\n")
    (photos / "broken.png").write_text("not an image")
    assert main([*argv, "--dry-run"]) == 1  # as the batch itself would
    assert "broken.png: cannot be made: " in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.slow
def test_a_time_budget_keeps_each_images_best_so_far_and_a_rerun_with_more_time_redoes_it(
    tmp_path: Path, style_path: Path
) -> None:
    folder = tmp_path / "in"
    photo(folder / "a.png", (200, 30, 30))
    photo(folder / "b.png", (30, 200, 30))
    out = tmp_path / "out"
    config = FAST.with_options(iterations=50)
    events: list[batch.Event] = []
    cut = batch.run_batch(folder, [style_path], out, config, time_budget=1e-6, callback=events.append)
    assert len(cut.done) == 2 and not cut.failed  # each image stopped, and the batch went on
    done = [e.message for e in events if e.kind == "done"]
    assert all(m.startswith("time budget of 1e-06 s spent at ") for m in done), done
    with Image.open(out / "a.png") as opened:
        assert opened.size == (32, 21)
    assert len([e for e in events if e.kind == "progress" and e.item.relative.name == "a.png"]) == 1
    assert any(e.kind == "status" for e in events)
    # The same budget again: nothing to do. More time, or none: redone.
    assert len(batch.run_batch(folder, [style_path], out, config, time_budget=1e-6).skipped) == 2
    config = config.with_options(iterations=2)  # quick when not cut short, keyed alike
    assert len(batch.run_batch(folder, [style_path], out, config, time_budget=1e-6).done) == 2
    assert len(batch.run_batch(folder, [style_path], out, config, time_budget=600).done) == 2
    assert len(batch.run_batch(folder, [style_path], out, config).skipped) == 2  # it was not cut short
    with pytest.raises(ConfigError, match="Ray"):
        batch.run_batch(folder, [style_path], out, config, time_budget=5, ray_address="local")


def test_an_image_that_runs_out_of_memory_fails_with_the_pipelines_message_and_a_rerun_redoes_it(
    photos: Path, tmp_path: Path, style_path: Path
) -> None:
    from impasto.errors import OutOfMemory

    said = "out of memory on cpu at scale 2/2, 32×21 px; kept scale 1's image (23×15 px), enlarged"

    def stylize(source: Path, *args: Any, **kwargs: Any) -> object:
        if source.name == "b.jpg":  # before any scale had finished
            raise OutOfMemory("out of memory on cpu at 23×15 px")
        ended = "out of memory" if source.name == "a.png" else "made"
        result = SimpleNamespace(message=said if ended != "made" else "")
        image = Image.new("RGB", (32, 21))
        return SimpleNamespace(ended=ended, result=result, image=image, icc_profile=None, settings=FAST)

    out = tmp_path / "out"
    for _ in range(2):  # nothing of a failed image is kept: the rerun redoes both
        summary = batch.run_batch(photos, [style_path], out, FAST, recursive=True, stylize=stylize)
        assert sorted((i.relative.name, m) for i, m in summary.failed) == [
            ("a.png", said),
            ("b.jpg", "out of memory on cpu at 23×15 px"),
        ]
    assert len(summary.skipped) == 1 and not summary.done
    assert sorted(p.name for p in out.rglob("*") if p.is_file() and p.suffix != ".json") == ["c.png"]


def test_a_ray_workers_task_sends_failures_back_as_messages_naming_the_sent_files(
    monkeypatch: pytest.MonkeyPatch, style_path: Path, tmp_path: Path
) -> None:
    """The task function itself, run here: no cluster needed."""
    content = photo(tmp_path / "a.png", (200, 30, 30)).read_bytes()
    broken = remote.stylize_remote(content, "a.png", [("bad style.png", b"not an image")], FAST)
    assert broken.png is None and broken.message.startswith("bad style.png: ")
    assert "impasto-ray-" not in broken.message
    made = remote.stylize_remote(content, "a.png", [(style_path.name, style_path.read_bytes())], FAST)
    assert made.png is not None and made.size == (32, 21) and not made.message

    def out_of_memory(*args: Any, **kwargs: Any) -> object:
        return SimpleNamespace(ended="out of memory", result=SimpleNamespace(message="out of memory at …"))

    monkeypatch.setattr("impasto.pipeline.stylize_detailed", out_of_memory)
    failed = remote.stylize_remote(content, "a.png", [(style_path.name, style_path.read_bytes())], FAST)
    assert (failed.png, failed.message) == (None, "out of memory at …")
