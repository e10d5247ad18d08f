"""Reading and writing videos with PyAV (its wheels bundle FFmpeg: no system ffmpeg needed).

Frames are (H, W, 3) uint8 RGB arrays. Output is H.264 in yuv420p at the input's exact frame rate
(a fraction such as 30000/1001), or, for a variable-frame-rate input (a phone's), with each frame at the
time the input showed it; audio is copied through when the container can hold its codec, and re-encoded
to AAC otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import ConfigError, ImageError, one_line
from impasto.io import files, images


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise ConfigError(
            "videos need PyAV: pip install 'impasto[video]' (av and opencv-python-headless)"
        ) from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    rate: Fraction  # frames per second, exact
    frames: int  # as counted by decoding
    audio: str | None  # the audio codec's name, None without audio
    times: tuple[float, ...] = ()  # when each frame is shown, seconds from the first

    @property
    def variable_rate(self) -> bool:
        """Whether the frames come at uneven intervals (more than 1% off 1/rate somewhere)."""
        step = 1 / float(self.rate)
        return any(abs(b - a - step) > 0.01 * step for a, b in itertools.pairwise(self.times))


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[Any]:
    """``path`` opened for reading, with a video stream; every failure an ImageError with one line."""
    av = _av()
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():  # a folder, a FIFO, a device: nothing FFmpeg should wait on
        raise ImageError(f"{path}: not a regular file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: no video stream (an audio file?)")
            yield container
    except av.error.FFmpegError as error:
        raise ImageError(f"{path}: not a video FFmpeg can read ({one_line(error)})") from None


def probe(path: Path) -> VideoInfo:
    """What ``path`` holds (decodes it once to count the frames exactly and note their times)."""
    with _opened(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        times = [frame.time for frame in container.decode(stream)]
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        known = all(t is not None for t in times)
        return VideoInfo(
            stream.codec_context.width,
            stream.codec_context.height,
            Fraction(rate),
            len(times),
            audio,
            tuple(t - times[0] for t in times) if known and times else (),
        )


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of ``path`` as (H, W, 3) uint8 RGB, in order."""
    with _opened(path) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")


# Audio codecs an MP4 holds as they are; anything else is re-encoded to AAC.
MP4_AUDIO = {"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"}


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    rate: Fraction,
    audio_from: Path | None = None,
    crf: int = 18,
    times: Sequence[float] | None = None,
) -> None:
    """Write ``frames`` as H.264/yuv420p at ``rate`` to ``path`` atomically, with the audio of
    ``audio_from`` (copied, or re-encoded to AAC where the container cannot hold its codec).

    ``times``: when each frame is shown (seconds), for a variable frame rate; without them, or if they
    do not increase, frame i is shown at i / rate."""
    av = _av()
    # Frame times in 1/90000 s (MPEG's clock): exact for every common rate, fine enough for any other.
    clock, stamps = Fraction(1) / rate, None
    if times is not None:
        ticks = [round(t * 90000) for t in times]
        if all(b > a for a, b in itertools.pairwise(ticks)):
            clock, stamps = Fraction(1, 90000), ticks
    temp = files.temp_path(path)
    try:
        with av.open(str(temp), mode="w", format=_format(path)) as out:
            video = None
            source = av.open(str(audio_from)) if audio_from is not None else None
            try:
                audio_in = source.streams.audio[0] if source is not None and source.streams.audio else None
                audio_out = None
                copy = False
                if audio_in is not None:
                    copy = audio_in.codec_context.name in MP4_AUDIO or _format(path) != "mp4"
                    if copy:
                        audio_out = out.add_stream_from_template(audio_in)
                    else:
                        audio_out = out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
                for index, array in enumerate(frames):
                    if video is None:
                        video = _video_stream(out, rate, clock, crf, array.shape)
                    frame = av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(array[: video.height, : video.width]), format="rgb24"
                    )
                    frame.pts = index if stamps is None else stamps[index]
                    frame.time_base = clock
                    for packet in video.encode(frame):
                        out.mux(packet)
                if video is None:
                    raise ImageError(f"{path}: no frames to write")
                for packet in video.encode():
                    out.mux(packet)
                if audio_in is not None and audio_out is not None and source is not None:
                    _mux_audio(out, source, audio_in, audio_out, copy)
            finally:
                if source is not None:
                    source.close()
        os.replace(temp, path)
    except av.error.FFmpegError as error:
        raise ImageError(f"{path}: cannot write the video ({error})") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _video_stream(out: Any, rate: Fraction, clock: Fraction, crf: int, shape: tuple[int, ...]) -> Any:
    """The H.264/yuv420p stream of ``out`` for frames of ``shape`` (H, W, 3), cut to even sides."""
    video = out.add_stream("libx264", rate=rate)
    video.height, video.width = shape[0] & ~1, shape[1] & ~1
    video.pix_fmt = "yuv420p"
    video.options = {"crf": str(crf)}
    video.codec_context.time_base = video.time_base = clock
    return video


def _mux_audio(out: Any, source: Any, audio_in: Any, audio_out: Any, copy: bool) -> None:
    """``source``'s audio stream ``audio_in`` into ``out``'s ``audio_out``: its packets as they are
    (``copy``) or decoded and encoded again."""
    if copy:
        for packet in source.demux(audio_in):
            if packet.dts is None:
                continue
            packet.stream = audio_out
            out.mux(packet)
        return
    for decoded in source.decode(audio_in):
        decoded.pts = None
        for packet in audio_out.encode(decoded):
            out.mux(packet)
    for packet in audio_out.encode():
        out.mux(packet)


def check_output(path: Path) -> None:
    """Fail early (before a long run) if a video cannot be written at ``path``: a container impasto
    does not write, a missing or read-only folder."""
    _format(path)
    images.check_writable(path)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    formats = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
    if suffix not in formats:
        raise ConfigError(f"{path}: write .mp4, .mov or .mkv, not {suffix or 'no extension'!r}")
    return formats[suffix]
