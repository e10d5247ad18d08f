"""Seconds per frame and flicker: the same clip stylized frame by frame and with temporal consistency.

    python bench/video.py                          # a 12-frame pan over the example photo, 128 px
    python bench/video.py --frames 24 --size 192 --strip docs/video_strip.png

Makes a clip (the photo panned right by a few pixels a frame, with a 440 Hz tone), stylizes it three
ways — independent frames, temporal (short-term), temporal with long-term terms — and prints seconds
per frame and the warping error (impasto metrics temporal) of each. ``--strip`` saves a picture: input
frames on top, independent and temporal results below. Not a test: for reports.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

import common

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from clips import RATE, make_clip  # noqa: E402 — the tests' clip maker, one definition
from impasto import examples  # noqa: E402
from impasto.apps import video  # noqa: E402
from impasto.config import StyleConfig  # noqa: E402
from impasto.io import video_io  # noqa: E402


def panned(width: int, height: int, shift: int, frames: int) -> list[np.ndarray]:
    photo = Image.open(examples.CONTENT).convert("RGB")
    scale = max(height / photo.height, (width + shift * frames) / photo.width)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    top = (photo.height - height) // 2
    pixels = np.asarray(photo)[top : top + height]
    return [np.ascontiguousarray(pixels[:, t * shift : t * shift + width]) for t in range(frames)]


def strip(rows: dict[str, list[np.ndarray]], path: Path, every: int) -> None:
    label_width = 110
    first = next(iter(rows.values()))
    picks = list(range(0, len(first), every))[:6]
    h, w = first[0].shape[:2]
    canvas = Image.new("RGB", (label_width + len(picks) * (w + 4), len(rows) * (h + 4)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, (label, frames) in enumerate(rows.items()):
        draw.text((6, r * (h + 4) + h // 2 - 6), label, fill="black")
        for c, index in enumerate(picks):
            tile = Image.fromarray(frames[index]).resize((w, h))
            canvas.paste(tile, (label_width + c * (w + 4), r * (h + 4)))
    canvas.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--shift", type=int, default=4)
    parser.add_argument(
        "--iterations", type=int, default=100, help="of the first frame (and of independent ones)"
    )
    parser.add_argument("--frame-iterations", type=int, default=50)
    parser.add_argument("--strip", type=Path)
    parser.add_argument("--chunk", type=int, default=4, help="frames per chunk of the chunked run")
    parser.add_argument(
        "--runs",
        default="independent,temporal,temporal+long,chunked,multi-pass",
        help="which runs, comma-separated",
    )
    args = parser.parse_args()
    width, height = args.size, round(args.size * 2 / 3) // 2 * 2
    print(common.header())
    config = StyleConfig(
        size=args.size, iterations=args.iterations, device="cpu", init="noise", style_weight=20
    )
    style = examples.STYLE
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = panned(width, height, args.shift, args.frames)
        clip = make_clip(folder / "clip.mp4", frames)
        runs = {
            "independent": {"independent": True, "frame_iterations": args.iterations},
            "temporal": {"frame_iterations": args.frame_iterations},
            "temporal+long": {"frame_iterations": args.frame_iterations, "long_term": True},
            "chunked": {"frame_iterations": args.frame_iterations, "chunk_frames": args.chunk},
            "multi-pass": {"frame_iterations": args.frame_iterations, "passes": 3},
        }
        runs = {name: options for name, options in runs.items() if name in args.runs.split(",")}
        outputs: dict[str, list[np.ndarray]] = {"input": list(video_io.read_frames(clip))}
        for name, options in runs.items():
            out = folder / f"{name}.mp4"
            start = time.perf_counter()
            result = video.stylize_video(clip, [style], out, config, **options)
            seconds = time.perf_counter() - start
            error = video.warping_error(out, clip)
            info = video_io.probe(out)
            outputs[name] = list(video_io.read_frames(out))
            seams: list[float] = []
            inside: list[float] = []
            if name == "chunked":  # pairs that cross a chunk's start: the cost of splitting a shot
                starts = set(range(args.chunk, result.frames, args.chunk))
                seams = [e for t, e in enumerate(error["per_pair"], start=1) if t in starts]
                inside = [e for t, e in enumerate(error["per_pair"], start=1) if t not in starts]
            print(
                common.emit(
                    "video",
                    {
                        "run": name,
                        "frames": result.frames,
                        "size": list(result.size),
                        "iterations": [args.iterations, options["frame_iterations"]],
                        "seconds": round(seconds, 1),
                        "seconds_per_frame": round(result.seconds_per_frame, 2),
                        "warping_error": round(error["warping_error"], 6),
                        "seam_warping_error": round(float(np.mean(seams)), 6) if seams else None,
                        "inside_warping_error": round(float(np.mean(inside)), 6) if inside else None,
                        "rate": str(info.rate),
                        "same_rate": info.rate == RATE,
                        "audio": info.audio,
                    },
                ),
                flush=True,
            )
        if args.strip and {"independent", "temporal"} <= set(outputs):
            strip(
                {k: outputs[k] for k in ("input", "independent", "temporal")},
                args.strip,
                max(1, args.frames // 6),
            )


if __name__ == "__main__":
    main()
