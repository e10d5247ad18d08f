"""``impasto preview CONTENT STYLE… -o OUT``: the feed-forward sketch (impasto.preview), in a second."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from impasto.cli.common import (
    Parser,
    add_images,
    add_option,
    checked_output,
    failed,
    input_files,
    printable,
    word_reader,
)
from impasto.config import BY_NAME
from impasto.errors import ImpastoError


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="impasto preview",
        description="Sketch CONTENT in the style of STYLE in about a second: Magenta's feed-forward "
        "network (Ghiasi et al. 2017) instead of the optimization, to choose a style or its options before "
        "a long run. Needs onnxruntime.",
        epilog="Example: impasto preview photo.jpg painting.jpg -o sketch.png --size 512. "
        "'impasto CONTENT STYLE -o OUT --preview-first' writes such a sketch before it paints.",
    )
    add_images(
        p, style="the style image; several (or a folder of them) blend their styles", output="the sketch"
    )
    p.add_argument(
        "--size",
        type=word_reader(BY_NAME["size"]),
        metavar="PX",
        help="long side of the sketch (default: the content's, at most 384). The network works at 384 px: "
        "a larger sketch is upscaled from it (Lanczos), no sharper than that",
    )
    for name in ("style_blend", "preserve_colors", "color_match", "max_pixels", "max_upscale"):
        add_option(p, BY_NAME[name])
    p.add_argument("-q", "--quiet", action="store_true", help="print only the output's path, not the time")
    return p


def preview_main(argv: Sequence[str]) -> int:
    """``impasto preview CONTENT STYLE… -o OUT [--size PX] …``."""
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    chosen = {
        name: getattr(args, name)
        for name in ("size", "style_blend", "preserve_colors", "color_match", "max_pixels", "max_upscale")
        if getattr(args, name) is not None
    }
    try:
        from impasto.config import StyleConfig

        config = StyleConfig(**chosen)  # checked as stylize checks them: one rule, one message
        output = checked_output(args.output, input_files([args.content, *args.style], config))
        from impasto import preview
        from impasto.io import images

        picture = preview.make(args.content, args.style, config=config)
        images.save(picture, output, picture.info.get("icc_profile"))
    except (ImpastoError, KeyboardInterrupt, MemoryError) as error:
        return failed(error, "interrupted; nothing written")
    if not args.quiet:
        seconds = time.monotonic() - started
        print(f"impasto: sketched {picture.width}×{picture.height} in {seconds:.1f} s", file=sys.stderr)
    print(printable(output))
    return 0
