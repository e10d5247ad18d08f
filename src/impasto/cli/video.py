"""``impasto video IN STYLE… -o OUT`` and ``impasto metrics temporal OUT IN``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.cli import common
from impasto.cli.progress import VideoFeedback

if TYPE_CHECKING:  # at run time the video app (and torch) load only once a command runs
    from impasto.apps.video import VideoOptions
from impasto.errors import ConfigError, ImpastoError


def build_parser() -> argparse.ArgumentParser:
    """``impasto video``'s parser: the video, the styles and the temporal options, then what every
    command that paints takes (common.add_stylize_options)."""
    p = common.Parser(
        prog="impasto video",
        description="Paint every frame of a video in the style of STYLE without flicker (Ruder et al. "
        "2016): each frame starts from the previous one warped along the optical flow and is held to it "
        "where the flow is reliable. Frame rate and audio are kept. A work folder beside the output "
        "(OUT.work/) keeps frames, flows and stylized frames: a rerun continues where it stopped. "
        "Each frame is painted at one scale: --multiscale and the options of its scales do not apply.",
    )
    p.add_argument("input_video", type=Path, help="the video (anything FFmpeg reads)")
    p.add_argument("style", type=Path, nargs="+", help="the style image(s)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the stylized video: .mp4, .mov or .mkv")
    p.add_argument(
        "--temporal-weight",
        type=float,
        default=200.0,
        metavar="γ",
        help="weight of the temporal consistency term (default: 200; 0 turns it off)",
    )
    p.add_argument("--long-term", action="store_true", help="also hold each frame to frames 2 and 4 back")
    p.add_argument(
        "--independent", action="store_true", help="each frame on its own (flickers; for comparison)"
    )
    p.add_argument(
        "--frame-iterations",
        type=int,
        metavar="N",
        help="iterations of each frame after the first (default: half of --iterations)",
    )
    p.add_argument(
        "--passes",
        type=int,
        default=1,
        metavar="N",
        help="the multi-pass variant: N passes through each shot in alternating directions (default: 1)",
    )
    p.add_argument(
        "--chunk-frames",
        type=int,
        metavar="N",
        help="split shots into chunks of N frames that start afresh (for --ray; a seam every N frames)",
    )
    common.add_ray(p, "stylize shots (cut apart automatically) as independent tasks")
    common.add_stylize_options(p, "video")
    return p


def video_main(argv: Sequence[str]) -> int:
    """``impasto video IN STYLE… -o OUT``: on a terminal a bar over the frames, in a log lines that name
    their frame; ``--dry-run`` prints the plan instead."""
    args = build_parser().parse_args(argv)
    try:
        common.check_run_options(args)
        if args.frame_iterations is not None and args.frame_iterations < 1:
            raise ConfigError(f"frame-iterations must be ≥ 1, got {args.frame_iterations}")
        config = common.config_from_args(args)
        # The video's own checks (a container impasto writes, a writable folder) are stylize_video's.
        inputs = common.input_files([args.input_video, *args.style], config, args.config)
        written = {"-o": args.output, "--log-json": args.log_json, "--save-config": args.save_config}
        common.check_written(written, inputs, checked=("-o",))
        common.save_config(args, config)
        how = _video_options(args)
        if args.dry_run:
            from impasto.apps.video import plan_video

            print(plan_video(args.input_video, args.style, args.output, config, how))
            return 0
        feedback = VideoFeedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
        try:
            feedback.say("loading PyTorch…")
            from impasto.apps.video import stylize_video

            result = stylize_video(
                args.input_video, args.style, args.output, config, how, callback=feedback.update
            )
        finally:
            feedback.close()
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return common.failed(error, "interrupted; the stylized frames are kept, a rerun continues")
    resumed = f", {result.resumed} from an earlier run" if result.resumed else ""
    each = f"{result.seconds_per_frame:.1f} s per frame"
    print(f"{common.printable(result.output)} ({result.frames} frames{resumed}, {each})")
    return 0


def _video_options(args: argparse.Namespace) -> VideoOptions:
    """The command line's video options (--temporal-weight, --passes, …) as the library takes them."""
    from impasto.apps.video import VideoOptions

    return VideoOptions(
        temporal_weight=args.temporal_weight,
        long_term=args.long_term,
        independent=args.independent,
        frame_iterations=args.frame_iterations,
        chunk_frames=args.chunk_frames,
        ray_address=args.ray,
        passes=args.passes,
        time_budget=args.time_budget,
    )


def metrics_main(argv: Sequence[str]) -> int:
    """``impasto metrics temporal OUT IN``: the warping error of a stylized video."""
    p = common.Parser(
        prog="impasto metrics",
        description="Measure a stylized video. 'temporal': the warping error between consecutive output "
        "frames over pixels the input's optical flow can follow (Lai et al. 2018); lower flickers less.",
    )
    p.add_argument("metric", choices=["temporal"])
    p.add_argument("output_video", type=Path)
    p.add_argument("input_video", type=Path)
    args = p.parse_args(argv)
    try:
        from impasto.apps.video import warping_error

        result = warping_error(args.output_video, args.input_video)
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return common.failed(error)
    print(f"warping error {result['warping_error']:.6f} over {int(result['pairs'])} frame pairs")
    return 0
