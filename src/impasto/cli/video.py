"""``impasto video IN STYLE… -o OUT`` and ``impasto metrics temporal OUT IN``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from impasto.cli.common import Parser, check_run_options, check_written, failed, input_files
from impasto.cli.progress import VideoFeedback
from impasto.cli.stylize import build_parser, config_from_args, save_config
from impasto.errors import ConfigError, ImpastoError


def video_main(argv: Sequence[str]) -> int:
    """``impasto video IN STYLE… -o OUT``: on a terminal a bar over the frames, in a log lines that name
    their frame; ``--dry-run`` prints the plan instead."""
    args = build_parser(video=True).parse_args(argv)
    try:
        check_run_options(args)
        if args.frame_iterations is not None and args.frame_iterations < 1:
            raise ConfigError(f"frame-iterations must be ≥ 1, got {args.frame_iterations}")
        config = config_from_args(args)
        # The video's own checks (a container impasto writes, a writable folder) are stylize_video's.
        inputs = input_files([args.input_video, *args.style], config, args.config)
        written = {"-o": args.output, "--log-json": args.log_json, "--save-config": args.save_config}
        check_written(written, inputs, checked=("-o",))
        save_config(args, config)
        how: dict[str, Any] = {
            "temporal_weight": args.temporal_weight,
            "long_term": args.long_term,
            "independent": args.independent,
            "frame_iterations": args.frame_iterations,
            "chunk_frames": args.chunk_frames,
            "ray_address": args.ray,
            "passes": args.passes,
            "time_budget": args.time_budget,
        }
        if args.dry_run:
            from impasto.apps.video import plan_video

            print(plan_video(args.input_video, args.style, args.output, config, **how))
            return 0
        feedback = VideoFeedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
        try:
            feedback.say("loading PyTorch…")
            from impasto.apps.video import stylize_video

            result = stylize_video(
                args.input_video, args.style, args.output, config, callback=feedback.update, **how
            )
        finally:
            feedback.close()
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted; the stylized frames are kept, a rerun continues")
    resumed = f", {result.resumed} from an earlier run" if result.resumed else ""
    print(f"{result.output} ({result.frames} frames{resumed}, {result.seconds_per_frame:.1f} s per frame)")
    return 0


def metrics_main(argv: Sequence[str]) -> int:
    """``impasto metrics temporal OUT IN``: the warping error of a stylized video."""
    p = Parser(
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
        return failed(error)
    print(f"warping error {result['warping_error']:.6f} over {int(result['pairs'])} frame pairs")
    return 0
