"""Videos: flow, consistency masks, video in and out with audio, resuming, and less flicker than frame by
frame. The clip is made here: a photo panned by a known shift, with a tone on an audio track."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from clips import (  # noqa: E402
    FRAMES,
    HEIGHT,
    RATE,
    SHIFT,
    WIDTH,
    clip_with_a_cut,
    make_clip,
    make_vfr_clip,
    panned_frames,
)
from impasto.apps import video  # noqa: E402
from impasto.apps.video import flow, remote, temporal  # noqa: E402
from impasto.apps.video.temporal import FramePlan  # noqa: E402
from impasto.cli import main  # noqa: E402
from impasto.config import DEFAULT_ITERATIONS, StyleConfig  # noqa: E402
from impasto.errors import ConfigError, ImpastoError, OutOfMemory  # noqa: E402
from impasto.io import images, video_io  # noqa: E402


@pytest.fixture
def clip(tmp_path: Path, content_path: Path) -> Path:
    return make_clip(tmp_path / "pan.mp4", panned_frames(content_path))


def test_flow_recovers_the_pan_and_the_mask_marks_the_new_strip(content_path: Path) -> None:
    a, b = panned_frames(content_path, 2)
    forward, backward = flow.flow(a, b), flow.flow(b, a)
    inner = (slice(8, -8), slice(8, -8 - SHIFT))
    assert np.median(forward[..., 0][inner]) == pytest.approx(-SHIFT, abs=0.25)
    assert np.median(backward[..., 0][inner]) == pytest.approx(SHIFT, abs=0.25)
    assert np.abs(np.median(backward[..., 1][inner])) < 0.25
    mask = flow.consistency(forward, backward)
    # The strip that entered on the right was nowhere in the previous frame: weight exactly 0.
    assert np.all(mask[:, WIDTH - SHIFT :] == 0)
    assert mask[8:-8, 8 : WIDTH - SHIFT - 4].mean() > 0.9
    # Warping the previous frame along the backward flow reproduces the current one inside.
    warped = flow.warp(a.astype(np.float32), backward)
    error = np.abs(warped - b.astype(np.float32))[8:-8, 8 : WIDTH - SHIFT - 4].mean()
    assert error < 6


def test_long_term_weights_count_each_pixel_once() -> None:
    near = np.array([[1.0, 0.0, 0.5]], dtype=np.float32)
    far = np.array([[1.0, 1.0, 1.0]], dtype=np.float32)
    closest, farther = flow.long_term_weights([near, far])
    np.testing.assert_allclose(closest, near)
    np.testing.assert_allclose(farther, [[0.0, 1.0, 0.5]])


def test_video_round_trip_keeps_rate_and_audio(clip: Path, tmp_path: Path) -> None:
    info = video_io.probe(clip)
    assert (info.width, info.height, info.frames, info.rate, info.audio) == (
        WIDTH,
        HEIGHT,
        FRAMES,
        RATE,
        "aac",
    )
    out = tmp_path / "copy.mp4"
    video_io.write_video(out, video_io.read_frames(clip), info.rate, audio_from=clip)
    copied = video_io.probe(out)
    assert (copied.frames, copied.rate, copied.audio) == (FRAMES, RATE, "aac")
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.slow
def test_stylized_video_has_the_frames_rate_and_audio_and_resumes(
    clip: Path, tmp_path: Path, style_path: Path
) -> None:
    out = tmp_path / "styled.mp4"
    config = StyleConfig(size=64, iterations=6, device="cpu")
    result = video.stylize_video(clip, [style_path], out, config, frame_iterations=3)
    info = video_io.probe(out)
    assert (info.frames, info.rate, info.audio) == (FRAMES, RATE, "aac")
    assert (info.width, info.height) == (64, 42)
    assert result.frames == FRAMES and result.resumed == 0
    # A crash after frame 3: the rerun redoes only the missing frames.
    work = out.with_name(out.name + ".work") / "stylized"
    for name in ("000004.png", "000005.png"):
        (work / name).unlink()
    kept = (work / "000001.png").stat().st_mtime_ns
    again = video.stylize_video(clip, [style_path], out, config, frame_iterations=3)
    assert again.resumed == FRAMES - 2 and (work / "000001.png").stat().st_mtime_ns == kept
    # Other options start afresh.
    fresh = video.stylize_video(
        clip, [style_path], out, config.with_options(style_weight=9), frame_iterations=3
    )
    assert fresh.resumed == 0


def test_a_clip_without_audio(tmp_path: Path, content_path: Path, style_path: Path) -> None:
    clip = make_clip(tmp_path / "silent.mp4", panned_frames(content_path, 3), audio=False)
    out = tmp_path / "silent-styled.mp4"
    video.stylize_video(clip, [style_path], out, StyleConfig(size=48, iterations=3, device="cpu"))
    info = video_io.probe(out)
    assert info.frames == 3 and info.audio is None


@pytest.mark.slow
def test_temporal_mode_flickers_less_than_frame_by_frame(
    clip: Path, tmp_path: Path, style_path: Path
) -> None:
    config = StyleConfig(size=64, iterations=30, device="cpu", style_weight=20, init="noise")
    independent, temporal = tmp_path / "independent.mp4", tmp_path / "temporal.mp4"
    video.stylize_video(clip, [style_path], independent, config, independent=True, frame_iterations=30)
    video.stylize_video(clip, [style_path], temporal, config, frame_iterations=15)
    alone = video.warping_error(independent, clip)["warping_error"]
    together = video.warping_error(temporal, clip)["warping_error"]
    assert together < 0.5 * alone, (together, alone)


def test_cli_video_and_metrics(
    clip: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.mp4"
    args = ["video", str(clip), str(style_path), "-o", str(out), "--size", "48", "--iterations", "3", "-q"]
    assert main(args) == 0
    assert video_io.probe(out).frames == FRAMES
    capsys.readouterr()
    assert main(["metrics", "temporal", str(out), str(clip)]) == 0
    assert "warping error" in capsys.readouterr().out
    assert main(["video", str(tmp_path / "none.mp4"), str(style_path), "-o", str(out)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["video", str(clip), str(style_path), "-o", str(tmp_path / "out.avi")]) == 2
    assert "write .mp4" in capsys.readouterr().err


@pytest.mark.slow
def test_cuts_are_found_and_each_shot_starts_afresh(
    tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    assert video.detect_cuts(panned_frames(content_path, 6)) == [0]
    clip = clip_with_a_cut(tmp_path, content_path, style_path)
    assert video.detect_cuts(list(video_io.read_frames(clip))) == [0, 3]
    config = StyleConfig(size=48, iterations=4, device="cpu")
    result = video.stylize_video(clip, [style_path], tmp_path / "cut-styled.mp4", config, frame_iterations=2)
    assert result.shots == ((0, 3), (3, 6))
    chunked = video.stylize_video(
        clip, [style_path], tmp_path / "chunked.mp4", config, frame_iterations=2, chunk_frames=2
    )
    assert video_io.probe(chunked.output).frames == 6


@pytest.mark.slow
def test_the_multi_pass_variant_flickers_less_than_frame_by_frame(
    tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    clip = make_clip(tmp_path / "short.mp4", panned_frames(content_path, 3), audio=False)
    config = StyleConfig(size=48, iterations=15, device="cpu", style_weight=20, init="noise")
    independent, passes = tmp_path / "independent.mp4", tmp_path / "passes.mp4"
    video.stylize_video(clip, [style_path], independent, config, independent=True, frame_iterations=15)
    video.stylize_video(clip, [style_path], passes, config, passes=3, frame_iterations=8)
    alone = video.warping_error(independent, clip)["warping_error"]
    together = video.warping_error(passes, clip)["warping_error"]
    assert together < 0.5 * alone, (together, alone)
    with pytest.raises(ConfigError, match="passes"):
        video.stylize_video(clip, [style_path], passes, config, passes=2, independent=True)


def test_a_variable_frame_rate_keeps_each_frames_time(
    tmp_path: Path, content_path: Path, style_path: Path
) -> None:
    times = [0.0, 0.1, 0.15, 0.5, 0.55, 1.0]
    clip = make_vfr_clip(tmp_path / "vfr.mp4", panned_frames(content_path), times)
    info = video_io.probe(clip)
    assert info.variable_rate and info.times == pytest.approx(times)
    assert not video_io.probe(make_clip(tmp_path / "cfr.mp4", panned_frames(content_path))).variable_rate
    out = tmp_path / "vfr-styled.mp4"
    video.stylize_video(clip, [style_path], out, StyleConfig(size=48, iterations=2, device="cpu"))
    assert video_io.probe(out).times == pytest.approx(times, abs=1e-3)


def test_bad_inputs_are_refused_before_a_work_folder_is_made(
    clip: Path, tmp_path: Path, content_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.mp4"
    work = tmp_path / "o.mp4.work"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    audio = tmp_path / "tone.m4a"
    with av.open(str(audio), mode="w") as container:
        sound = container.add_stream("aac", rate=16000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        chunk.sample_rate, chunk.pts = 16000, 0
        for packet in [*sound.encode(chunk), *sound.encode()]:
            container.mux(packet)
    frameless = tmp_path / "frameless.mkv"  # a header, and not one whole frame after it
    with av.open(str(tmp_path / "whole.mkv"), mode="w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(4):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * index, np.uint8), format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    frameless.write_bytes((tmp_path / "whole.mkv").read_bytes()[:600])
    cases = {
        "broken.png: cannot read the image": [str(clip), str(broken), "-o", str(out)],
        "frameless.mkv: not one frame of the video can be decoded": [
            str(frameless),
            str(content_path),
            "-o",
            str(out),
        ],
        "tone.m4a: no video stream": [str(audio), str(content_path), "-o", str(out)],
        f"{tmp_path}/nodir/o.mp4: the folder {tmp_path}/nodir does not exist": [
            str(clip),
            str(content_path),
            "-o",
            str(tmp_path / "nodir" / "o.mp4"),
        ],
    }
    for message, args in cases.items():
        assert main(["video", *args, "-q"]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not work.exists()
    assert main(["metrics", "temporal", str(audio), str(clip)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"impasto: error: {audio}: no video stream (an audio file?)"


def test_a_run_stopped_before_any_frame_is_stylized_leaves_no_work_folder(
    clip: Path, tmp_path: Path, style_path: Path
) -> None:
    out = tmp_path / "o.mp4"

    def stop(event: video.VideoEvent) -> None:
        if event.kind == "frames" and event.index == 2:
            raise KeyboardInterrupt  # Ctrl-C while the frames are being extracted

    with pytest.raises(KeyboardInterrupt):
        video.stylize_video(
            clip, [style_path], out, StyleConfig(size=48, iterations=2, device="cpu"), callback=stop
        )
    assert not out.with_name("o.mp4.work").exists() and not out.exists()


def test_the_output_is_never_the_input_video(
    clip: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o naming the input video (or a link to it), refused before a frame is read; the video is kept."""
    before = clip.read_bytes()
    link = tmp_path / "link.mp4"
    link.symlink_to(clip)
    for output in (clip, link):
        assert main(["video", str(clip), str(style_path), "-o", str(output), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"impasto: error: -o {output} is one of the inputs") and err.count("\n") == 1
    with pytest.raises(ConfigError, match="is one of the inputs"):
        video.stylize_video(clip, [style_path], clip, StyleConfig(size=48, iterations=1, device="cpu"))
    assert clip.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.mp4", "pan.mp4"]


def test_a_dry_run_prints_the_frames_plan_and_writes_nothing(
    clip: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.mp4"
    argv = ["video", str(clip), str(style_path), "-o", str(out), "--size", "48", "--iterations", "4"]
    assert main([*argv, "--dry-run", "--time-budget", "9", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert (
        printed[0]
        == f"{clip.name}: {FRAMES} frames of {WIDTH}×{HEIGHT}, {float(RATE):g} a second, with audio"
    )
    assert "    1. 48×32 px, 4 iterations, style image at 48 px, whole" in printed
    assert "    1. 48×32 px, 2 iterations, style image at 48 px, whole" in printed  # the later frames
    assert "each frame stops after 9 s with its best image so far" in printed
    assert printed[-1] == f"work folder {out}.work: none to continue from; made afresh"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pan.mp4"]


@pytest.mark.slow
def test_a_video_log_names_each_frame_and_a_time_budget_holds_per_frame(
    clip: Path, tmp_path: Path, style_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, log = tmp_path / "out.mp4", tmp_path / "video.jsonl"
    argv = ["video", str(clip), str(style_path), "-o", str(out), "--size", "32", "--iterations", "50"]
    assert main([*argv, "--device", "cpu", "--time-budget", "1e-6", "--log-json", str(log)]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err
    lines = err.splitlines()
    assert lines[0].endswith("loading PyTorch…") and lines[1].endswith("extracting the frames…")
    for t in range(1, FRAMES + 1):  # each stopped after its first iteration
        assert sum(f"frame {t}/{FRAMES}: 32×21 px, iteration 1/" in line for line in lines) == 1, lines
        assert lines.count(next(line for line in lines if line.endswith(f"frame {t}/{FRAMES}: done"))) == 1
    assert lines[-1].endswith("writing the video…")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(1, FRAMES + 1))
    assert video_io.probe(out).frames == FRAMES


def fake_run(endings: list[str]) -> Any:
    """A stand-in for pipeline.stylize_detailed that ends its runs as ``endings`` say, in turn."""

    def run(content: Image.Image, styles: list[str], **kwargs: Any) -> object:
        assert all(Path(s).is_file() for s in styles)
        ended = endings.pop(0)
        if ended == "raise":
            raise OutOfMemory("out of memory on cpu at 48×32 px")
        message = "" if ended == "made" else f"it {ended}"
        return SimpleNamespace(ended=ended, result=SimpleNamespace(message=message), image=content)

    return run


def test_a_frame_that_diverges_or_runs_out_of_memory_fails_the_run_in_one_line(
    monkeypatch: pytest.MonkeyPatch, style_path: Path
) -> None:
    plan = FramePlan([str(style_path)], StyleConfig(size=48, device="cpu"), 2, 1, 0.0, False)
    frame = np.zeros((32, 48, 3), np.uint8)
    endings = ["made", "out of time", "diverged", "out of memory", "raise"]
    monkeypatch.setattr(temporal, "stylize_detailed", fake_run(endings))
    for kept in range(2):  # a time budget's best image so far is the frame
        assert temporal.stylize_frame(kept, frame, plan, 2, None).size == (48, 32)
    with pytest.raises(ImpastoError, match=r"^frame 3: it diverged$"):
        temporal.stylize_frame(2, frame, plan, 2, None)
    with pytest.raises(ImpastoError, match=r"^frame 4: it out of memory$"):
        temporal.stylize_frame(3, frame, plan, 2, None)
    with pytest.raises(OutOfMemory, match=r"^frame 5: out of memory on cpu at 48×32 px$"):
        temporal.stylize_frame(4, frame, plan, 2, None)


def test_a_shots_ray_task_sends_back_the_frames_made_before_a_failure_and_its_message(
    monkeypatch: pytest.MonkeyPatch, style_path: Path
) -> None:
    """The task function itself, run here: no cluster needed."""
    plan = FramePlan([], StyleConfig(size=48, device="cpu"), 2, 1, 0.0, False)
    frames = [images.png_bytes(Image.new("RGB", (48, 32), (20 * t, 0, 0))) for t in range(4)]
    monkeypatch.setattr(temporal, "stylize_detailed", fake_run(["made", "diverged"]))
    styles = [(style_path.name, style_path.read_bytes())]
    sent = remote._stylize_shot(frames[1:], {3: frames[0]}, 3, 7, plan, styles)
    assert sorted(sent.frames) == [4] and sent.message == "frame 6: it diverged"


def test_auto_takes_the_device_the_plan_would_and_the_frames_size_and_iterations_from_its_plan(
    clip: Path, tmp_path: Path, style_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def an_apple_gpu(name: str) -> torch.device:
        asked.append(name)
        return torch.device("mps")

    monkeypatch.setattr(video, "resolve_device", an_apple_gpu)
    said = video.plan_video(clip, [style_path], tmp_path / "out.mp4", StyleConfig())
    first = DEFAULT_ITERATIONS["gpu"]
    assert asked == ["auto"]
    assert f"    1. {WIDTH}×{HEIGHT} px, {first} iterations, style image at {WIDTH} px, whole" in said
    assert f"    1. {WIDTH}×{HEIGHT} px, {first // 2} iterations" in said
    assert said.count("1 scale(s) on mps, starting from") == 2  # the first frame and the later ones
    # A --size above the video's own is the video's: no frame is enlarged.
    said = video.plan_video(clip, [style_path], tmp_path / "out.mp4", StyleConfig(size=2 * WIDTH))
    assert f"    1. {WIDTH}×{HEIGHT} px, {first} iterations" in said


def test_the_video_options_are_one_object_its_fields_also_keywords(
    tmp_path: Path, clip: Path, style_path: Path
) -> None:
    config = StyleConfig(size=48, iterations=2, device="cpu")
    given = video.VideoOptions(passes=2, frame_iterations=3)
    said = video.plan_video(clip, [style_path], tmp_path / "out.mp4", config, given)
    assert "then 1 more passes" in said and "every later frame" in said
    # A keyword overrides the object's field: two passes and no temporal term cannot run together.
    with pytest.raises(ConfigError, match="passes must be"):
        video.plan_video(clip, [style_path], tmp_path / "out.mp4", config, given, independent=True)
    with pytest.raises(TypeError):
        video.plan_video(clip, [style_path], tmp_path / "out.mp4", config, given, passess=2)
