"""``impasto CONTENT STYLE… -o OUT`` (and ``impasto demo``): the options, the run, the saved image."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.config import StyleConfig
from impasto.errors import ImpastoError
from impasto.io import files

if TYPE_CHECKING:  # at run time torch loads only once a command runs: --help answers at once
    from PIL import Image

    from impasto.core.optimize import Progress

from impasto.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    Parser,
    add_images,
    add_stylize_options,
    check_run_options,
    checked_output,
    config_from_args,
    fail,
    failed,
    input_files,
    printable,
    save_config,
)
from impasto.cli.progress import Feedback


def build_parser() -> argparse.ArgumentParser:
    """The stylize command's parser: its images, then what every command that paints takes
    (common.add_stylize_options)."""
    p = Parser(
        prog="impasto",
        # The commands too, where a newcomer looks first (cli/__init__.py's COMMANDS and FIGURES; a
        # test holds the two lists together).
        usage="impasto CONTENT STYLE… -o OUTPUT [options below]\n"
        "       impasto COMMAND …   (impasto help COMMAND)\n"
        "       COMMAND: batch, video, metrics, serve, preview, explain, sweep, demo, examples, weights, "
        "help",
        description="Paint CONTENT in the style of STYLE (neural style transfer, Gatys et al.).",
        epilog="Example: impasto photo.jpg painting.jpg -o out.png --size 512 (a photo named like a "
        "command: impasto stylize batch painting.jpg -o out.png). More: 'impasto batch' "
        "(a folder), 'impasto video' (a video without flicker), 'impasto metrics temporal' (its "
        "flicker), 'impasto serve' (the web app), 'impasto explain IMAGE -o fig.png' (what each layer "
        "sees), 'impasto sweep CONTENT STYLE -o grid.png' (α/β ratios), 'impasto preview CONTENT STYLE "
        "-o sketch.png' (a feed-forward sketch in a second), 'impasto demo' (the example pair), "
        "'impasto weights list' (the backbones); each has its own --help (impasto help COMMAND).",
    )
    add_images(
        p,
        style="the image whose style to take; several images (or a folder of them) blend their styles",
        output="the result",
    )
    add_stylize_options(p, "stylize")
    return p


def checked_outputs(args: argparse.Namespace, config: StyleConfig, images_given: Sequence[Path]) -> Path:
    """Every path the command writes, checked before anything is: -o (a writable image path), and
    --log-json and --save-config where given; none of them an input or one another. Returns -o."""
    inputs = input_files(images_given, config, getattr(args, "config", None))
    others = {"--log-json": getattr(args, "log_json", None), "--save-config": args.save_config}
    output = checked_output(args.output, inputs, others)
    if getattr(args, "save_every", 0):
        _check_save_every(output, inputs)
    return output


def _save_every_path(output: Path, progress: Progress) -> Path:
    """Where --save-every writes ``progress``'s image: NAME_0100.EXT (NAME_s2_0100.EXT at scale 2)."""
    scale = f"_s{progress.scale}" if progress.scales > 1 else ""
    return output.with_name(f"{output.stem}{scale}_{progress.iteration:04d}{output.suffix}")


def _check_save_every(output: Path, inputs: Sequence[Path]) -> None:
    """The files beside ``output`` that --save-every could write over (any scale, any iteration), none
    of them an input."""
    pattern = re.compile(rf"{re.escape(output.stem)}(_s\d+)?_\d{{4,}}{re.escape(output.suffix)}")
    frames = [("--save-every", p) for p in output.parent.iterdir() if pattern.fullmatch(p.name)]
    files.check_outputs(frames, inputs)


def stylize_main(arguments: Sequence[str]) -> int:
    """``impasto [stylize] CONTENT STYLE… -o OUT``."""
    args = build_parser().parse_args(arguments)
    try:
        check_run_options(args)
        config = config_from_args(args)
        output = checked_outputs(args, config, [args.content, *args.style])
        save_config(args, config)
        if args.dry_run:
            from impasto.pipeline import prepare

            print(prepare(args.content, args.style, config=config).plan.describe())
            return 0
        return _run(args, config, output)
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted before the optimization began; nothing written")


def _run(args: argparse.Namespace, config: StyleConfig, output: Path) -> int:
    bar = Feedback(quiet=args.quiet, log_every=args.log_every, log_json=args.log_json)
    bar.status("loading PyTorch")  # seconds on a busy machine: the run says it has begun
    # Imported here so that --help, --version and argument errors answer without loading torch.
    from impasto.core.optimize import Interrupted
    from impasto.io import images
    from impasto.pipeline import stylize_detailed

    started = time.monotonic()
    sketched = False  # --preview-first wrote its sketch to output: a run cut short leaves it there
    kept = f"the sketch stays at {output}"
    save_every: int = args.save_every
    budget: float | None = args.time_budget

    def on_progress(progress: Progress) -> None:
        bar.update(progress)
        if save_every and progress.iteration % save_every == 0:
            images.save(images.to_pil(progress.image), _save_every_path(output, progress))

    try:
        try:
            if args.preview_first:
                sketched = _sketch_first(config, args.content, args.style, output, args.quiet)
            made = stylize_detailed(
                args.content,
                args.style,
                config=config,
                callback=on_progress,
                status=bar.status,
                deadline=None if budget is None else started + budget,
            )
        finally:
            bar.close()  # before any message: the bar or status line must not swallow it
    except Interrupted as stop:  # Ctrl-C
        if sketched:  # the sketch is whole; a painting cut short may not be
            return fail(f"interrupted after {stop.result.iterations} iterations; {kept}", EXIT_INTERRUPTED)
        assert stop.image is not None
        stopped = f"stopped after {stop.result.iterations} iterations"
        _save(args, output, stop.image, stop.icc_profile, config, stopped)
        return fail(
            f"interrupted after {stop.result.iterations} iterations; saved the best image so far to {output}",
            EXIT_INTERRUPTED,
        )
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        if not sketched:
            raise  # stylize_main's one line: nothing was written
        return failed(error, f"interrupted before the optimization began; {kept}", kept)
    ended = None if made.ended == "made" else f"{made.ended} after {made.result.iterations} iterations"
    _save(args, output, made.image, made.icc_profile, made.settings, ended)
    if made.ended in ("diverged", "out of memory"):  # the best image it has, but not what was asked
        return fail(f"{made.result.message}; saved it to {output}", EXIT_FAILED)
    if made.ended == "out of time":
        print(
            f"impasto: time budget of {budget:g} s spent after {made.result.iterations} iterations; "
            "saved the best image so far",
            file=sys.stderr,
        )
    print(printable(output))
    return 0


def _save(
    args: argparse.Namespace,
    output: Path,
    image: Image.Image,
    icc_profile: bytes | None,
    settings: StyleConfig,
    ended: str | None,
) -> None:
    """The painting written to ``output``, carrying ``settings`` (the options as run: this machine's
    size and iterations written in, where it chose them) and how the run ``ended`` if early."""
    from impasto.config import to_png_text
    from impasto.io import images

    images.save(image, output, icc_profile, to_png_text(settings, args.content, args.style, ended))


def _sketch_first(
    config: StyleConfig, content: Path, style: Sequence[Path], output: Path, quiet: bool
) -> bool:
    """--preview-first: the feed-forward sketch written (atomically) to ``output`` at the painting's
    size, once every option and image has been checked (a run that cannot start leaves nothing).
    Whether it was written: without onnxruntime or its network's files, one line says so and the run
    goes on without it."""
    from impasto import preview
    from impasto.io import images
    from impasto.pipeline import prepare

    started = time.monotonic()
    run = prepare(content, style, config=config)  # raises what the run itself would, before writing
    height, width = run.plan.scales[-1].shape
    try:
        picture = preview.make(
            run.content.image, [s.image for s in run.styles], config=config, size=max(height, width)
        )
        images.save(picture, output, run.content.icc_profile)
    except ImpastoError as error:
        print(
            f"impasto: no sketch first: {' '.join(str(error).split())}; painting without it", file=sys.stderr
        )
        return False
    if not quiet:
        seconds = time.monotonic() - started
        print(f"impasto: sketch written to {output} in {seconds:.1f} s; painting…", file=sys.stderr)
    return True


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
    return stylize_main([str(examples.CONTENT), str(examples.STYLE), *arguments])
