"""A video's shots on a Ray cluster (``--ray``): a task per shot (or chunk), its frames made in order
on one worker in a private work folder, exactly as temporal.stylize_range makes them here. The driver
keeps the real work folder and writes every frame that comes back into it. Connecting, running the
tasks and sending the style images are distributed.py's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from impasto import distributed
from impasto.apps.video.events import VideoEvent
from impasto.apps.video.temporal import FramePlan, Report, stylize_range
from impasto.apps.video.workdir import Workdir
from impasto.errors import ImpastoError, one_line
from impasto.io import images


@dataclass(frozen=True)
class ShotResult:
    """What a shot's task sends back: the frames it made, and why it stopped before the shot's end."""

    frames: dict[int, bytes]  # frame → its stylized image as PNG
    message: str = ""  # the error that stopped it (a frame that diverged, …), or ""


def run_on_ray(
    address: str, work: Workdir, ranges: list[tuple[int, int]], plan: FramePlan, count: int, report: Report
) -> None:
    """Shots are independent: one task each; frames inside a shot stay in order on one worker. The
    driver writes every stylized frame into the work folder — those a failed shot made before its
    failure too, so a rerun continues after them — and fails the run, in one line, at the first shot
    that failed."""
    ray = distributed.connect(address)
    styles = distributed.put_files(ray, plan.styles)
    remote_plan = dataclasses.replace(plan, styles=[])  # the worker's own paths go in there
    calls = []
    for first, last in ranges:
        frames = [work.frame_bytes(t) for t in range(first, last)]
        finished = {t: work.stylized_bytes(t) for t in range(first, last) if work.has_stylized(t)}
        calls.append(((first, last), (frames, finished, first, last, remote_plan, styles)))

    def on_result(shot: tuple[int, int], made: ShotResult) -> None:
        for t, data in sorted(made.frames.items()):
            work.save(t, images.load(data, plan.config.max_pixels, plan.config.max_memory).image)
            if report is not None:
                report(VideoEvent("frame", t, count))
        if made.message:
            raise ImpastoError(made.message)

    def on_failure(shot: tuple[int, int], error: Exception) -> None:
        raise ImpastoError(
            f"frames {shot[0] + 1}–{shot[1]}: the cluster could not make them ({one_line(error)})"
        )

    distributed.map_remote(ray, _stylize_shot, calls, on_result, on_failure)


def _stylize_shot(
    frames: list[bytes],
    finished: dict[int, bytes],
    first: int,
    last: int,
    plan: FramePlan,
    styles: distributed.Files,
) -> ShotResult:
    """Runs on a Ray worker: frames ``first`` … ``last`` − 1 (their inputs as PNG in ``frames``; those
    in ``finished`` already stylized) in a private work folder; returns the frames it made as PNG."""
    with distributed.received(styles) as files_here:
        work = Workdir(files_here.folder / "work")
        plan = dataclasses.replace(plan, styles=[str(path) for path in files_here.paths])
        for offset, data in enumerate(frames):
            work.put_frame_bytes(first + offset, data)
        for t, data in finished.items():
            work.put_stylized_bytes(t, data)
        message = ""
        try:
            stylize_range(work, first, last, plan, last, None)
        except ImpastoError as error:  # a frame that diverged or ran out of memory: the run fails
            message = files_here.named(str(error))
        made = {
            t: work.stylized_bytes(t)
            for t in range(first, last)
            if t not in finished and work.has_stylized(t)
        }
        return ShotResult(made, message)
