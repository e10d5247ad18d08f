"""The work folder beside a video's output (``OUT.mp4.work/``), and the only code that knows its layout:

    job.json              what the folder was made for (input, styles and options); anything else: afresh
    frames/NNNNNN.png     the input's frames at the working size; frames/count.json once all are out
    flows/NNNNNN_B.npz    the optical flow between frame N and frame N − B, both ways
    stylized/NNNNNN.png   each finished frame
    shots.json            the shots the cuts divide the video into

Every file is written atomically, so a killed run leaves nothing half-written: a rerun with the same job
continues at the first frame missing from ``stylized/``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from impasto.apps.video import flow
from impasto.errors import ImpastoError
from impasto.io import files, images, video_io


class Workdir:
    """The work folder at ``root`` (its three folders are made if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("frames", "flows", "stylized"):
            (root / name).mkdir(parents=True, exist_ok=True)

    @classmethod
    def for_job(cls, root: Path, job: dict[str, Any]) -> Workdir:
        """The folder at ``root`` ready for ``job``: kept if it was made for the same one (minus the
        temporary files of a killed run), emptied otherwise."""
        meta = root / "job.json"
        try:
            same = json.loads(meta.read_text()) == json.loads(json.dumps(job))
        except (OSError, ValueError):
            same = False
        if not same and root.exists():
            shutil.rmtree(root)
        work = cls(root)
        files.sweep_temporaries(root)
        if not same:
            meta.write_text(json.dumps(job, indent=1))
        return work

    @contextlib.contextmanager
    def removed_unless_resumable(self) -> Iterator[None]:
        """On any failure (Ctrl-C included), remove the folder if it holds no stylized frame: extracted
        frames alone are quick to make again, and a folder left behind would only puzzle."""
        try:
            yield
        except BaseException:
            if not any((self.root / "stylized").glob("*.png")):
                shutil.rmtree(self.root, ignore_errors=True)
            raise

    # -- the input's frames ------------------------------------------------------------------------------

    def extract(self, video: Path, long_side: int, on_frame: Callable[[int], None] | None = None) -> int:
        """The frames of ``video`` at ``long_side`` px, once: returns how many there are."""
        marker = self.root / "frames" / "count.json"
        if marker.is_file():
            count: int = json.loads(marker.read_text())["frames"]
            return count
        count = 0
        for index, array in enumerate(video_io.read_frames(video)):
            self.put_frame(index, images.fit(Image.fromarray(array), long_side))
            count = index + 1
            if on_frame is not None:
                on_frame(index)
        if count == 0:
            raise ImpastoError(f"{video}: the video has no frames")
        marker.write_text(json.dumps({"frames": count}))
        return count

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` as (H, W, 3) uint8."""
        with Image.open(self._frame(t)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)

    def put_frame(self, t: int, image: Image.Image) -> None:
        images.save(image, self._frame(t))

    # -- stylized frames ---------------------------------------------------------------------------------

    def has_stylized(self, t: int) -> bool:
        return self._stylized(t).is_file()

    def stylized(self, t: int) -> np.ndarray:
        """Stylized frame ``t`` as (H, W, 3) float32 in [0, 1]."""
        with Image.open(self._stylized(t)) as image:
            return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0

    def stylized_image(self, t: int) -> Image.Image:
        with Image.open(self._stylized(t)) as image:
            return image.convert("RGB")

    def save(self, t: int, image: Image.Image) -> None:
        images.save(image, self._stylized(t))

    # -- as bytes, for a frame's trip to another machine ---------------------------------------------------

    def frame_bytes(self, t: int) -> bytes:
        return self._frame(t).read_bytes()

    def stylized_bytes(self, t: int) -> bytes:
        return self._stylized(t).read_bytes()

    def put_frame_bytes(self, t: int, data: bytes) -> None:
        self._frame(t).write_bytes(data)

    def put_stylized_bytes(self, t: int, data: bytes) -> None:
        self._stylized(t).write_bytes(data)

    # -- flows and shots, computed once ------------------------------------------------------------------

    def flows(self, t: int, back: int) -> tuple[np.ndarray, np.ndarray]:
        """(forward t−back → t, backward t → t−back), computed once and kept."""
        path = self.root / "flows" / f"{t:06d}_{back}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["forward"], cached["backward"]
        a, b = self.frame(t - back), self.frame(t)
        forward, backward = flow.flow(a, b), flow.flow(b, a)
        temp = files.temp_path(path)  # swept if a run dies here
        with temp.open("wb") as file:  # a file object: np.savez would add ".npz" to a name
            np.savez(file, forward=forward, backward=backward)
        temp.replace(path)
        return forward, backward

    def shots(self, find: Callable[[], list[tuple[int, int]]]) -> list[tuple[int, int]]:
        """The shots kept in the folder, or ``find()``'s, then kept."""
        path = self.root / "shots.json"
        if path.is_file():
            return [(int(a), int(b)) for a, b in json.loads(path.read_text())]
        shots = find()
        path.write_text(json.dumps(shots))
        return shots

    def _frame(self, t: int) -> Path:
        return self.root / "frames" / f"{t:06d}.png"

    def _stylized(self, t: int) -> Path:
        return self.root / "stylized" / f"{t:06d}.png"

    def remove(self) -> None:
        """The whole folder, once the output is written and nothing is left to resume."""
        shutil.rmtree(self.root, ignore_errors=True)
