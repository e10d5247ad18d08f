"""Small video clips made for the tests: a photo panned by a known shift, with a tone on an audio
track; one with a cut; one whose frames come at uneven times."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

SHIFT = 3  # px the camera pans right per frame: content moves left, new content enters on the right
WIDTH, HEIGHT, FRAMES = 96, 64, 6
RATE = Fraction(12)


def panned_frames(content_path: Path, frames: int = FRAMES) -> list[np.ndarray]:
    photo = Image.open(content_path).convert("RGB").resize((WIDTH + SHIFT * frames, HEIGHT))
    pixels = np.asarray(photo)
    return [np.ascontiguousarray(pixels[:, t * SHIFT : t * SHIFT + WIDTH]) for t in range(frames)]


def make_clip(path: Path, frames: list[np.ndarray], audio: bool = True) -> Path:
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10"}
        sound = out.add_stream("aac", rate=16000) if audio else None
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            seconds = len(frames) / float(RATE)
            t = np.arange(int(16000 * seconds)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="flt", layout="mono"
                )
                chunk.sample_rate = 16000
                chunk.pts = start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path


def clip_with_a_cut(tmp_path: Path, content_path: Path, style_path: Path) -> Path:
    """Three frames panning over the photo, then three over the style image: one cut, at frame 3."""
    other = panned_frames(style_path, 3)
    return make_clip(tmp_path / "cut.mp4", panned_frames(content_path, 3) + other)


def make_vfr_clip(path: Path, frames: list[np.ndarray], times: list[float]) -> Path:
    """A clip whose frames come at uneven times (as a phone records them), in a 1/90000 s time base."""
    clock = Fraction(1, 90000)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = stream.time_base = clock
        for array, time in zip(frames, times, strict=True):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = round(time / clock), clock
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
