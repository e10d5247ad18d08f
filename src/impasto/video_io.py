"""Reading and writing videos with PyAV (its wheels bundle FFmpeg: no system ffmpeg needed).

Frames are (H, W, 3) uint8 RGB arrays. Output is H.264 in yuv420p at the input's exact frame rate
(a fraction such as 30000/1001); audio is copied through when the container can hold its codec, and
re-encoded to AAC otherwise.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from impasto.errors import ConfigError, ImageError


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


def probe(path: Path) -> VideoInfo:
    """What ``path`` holds (decodes it once to count the frames exactly)."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ImageError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            frames = sum(1 for _ in container.decode(stream))
            audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
            return VideoInfo(
                stream.codec_context.width, stream.codec_context.height, Fraction(rate), frames, audio
            )
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except av.error.FFmpegError as error:
        raise ImageError(f"{path}: not a video FFmpeg can read ({error})") from None


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of ``path`` as (H, W, 3) uint8 RGB, in order."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as error:
        raise ImageError(f"{path}: cannot read the video ({error})") from None


# Audio codecs an MP4 holds as they are; anything else is re-encoded to AAC.
MP4_AUDIO = {"aac", "mp3", "alac", "opus", "flac", "ac3", "eac3"}


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    rate: Fraction,
    audio_from: Path | None = None,
    crf: int = 18,
) -> None:
    """Write ``frames`` as H.264/yuv420p at ``rate`` to ``path`` atomically, with the audio of
    ``audio_from`` (copied, or re-encoded to AAC where the container cannot hold its codec)."""
    av = _av()
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
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
                        video = out.add_stream("libx264", rate=rate)
                        video.height, video.width = array.shape[0] & ~1, array.shape[1] & ~1
                        video.pix_fmt = "yuv420p"
                        video.options = {"crf": str(crf)}
                    frame = av.VideoFrame.from_ndarray(
                        np.ascontiguousarray(array[: video.height, : video.width]), format="rgb24"
                    )
                    frame.pts = index
                    frame.time_base = Fraction(1) / rate
                    for packet in video.encode(frame):
                        out.mux(packet)
                if video is None:
                    raise ImageError(f"{path}: no frames to write")
                for packet in video.encode():
                    out.mux(packet)
                if audio_in is not None and audio_out is not None and source is not None:
                    if copy:
                        for packet in source.demux(audio_in):
                            if packet.dts is None:
                                continue
                            packet.stream = audio_out
                            out.mux(packet)
                    else:
                        for decoded in source.decode(audio_in):
                            decoded.pts = None
                            for packet in audio_out.encode(decoded):
                                out.mux(packet)
                        for packet in audio_out.encode():
                            out.mux(packet)
            finally:
                if source is not None:
                    source.close()
        os.replace(temp, path)
    except av.error.FFmpegError as error:
        raise ImageError(f"{path}: cannot write the video ({error})") from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    formats = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
    if suffix not in formats:
        raise ConfigError(f"{path}: write .mp4, .mov or .mkv, not {suffix or 'no extension'!r}")
    return formats[suffix]
