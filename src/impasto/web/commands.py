"""What the page shows of a job besides its picture: the ``impasto`` command that makes the same image,
and the name its download takes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from impasto.config import OPTIONS, StyleConfig

# The options ``impasto preview`` takes: those a feed-forward sketch honours (preview.make).
SKETCH_OPTIONS = frozenset(
    {"size", "style_blend", "preserve_colors", "color_match", "max_pixels", "max_upscale", "content_masks"}
)


def command_line(
    content: str,
    styles: list[str],
    config: StyleConfig,
    budget: float | None,
    *,
    sketch: bool = False,
    masks: list[str] = [],  # noqa: B006 (never changed)
    output: str | None = None,
) -> str:
    """The ``impasto`` command that makes the same image (options that differ from the defaults, the
    server's device included, each by its flag in the option table), writing ``output`` (the name the
    page downloads it as); with ``sketch``, the ``impasto preview`` command of its quick sketch."""
    defaults = StyleConfig()
    words = ["impasto", *(["preview"] if sketch else []), content, *styles]
    words += ["-o", output or ("impasto-sketch.png" if sketch else "impasto.png")]
    for option in OPTIONS:  # each as its row in the option table says the command line takes it
        value = getattr(config, option.name)
        if value == getattr(defaults, option.name) or (sketch and option.name not in SKETCH_OPTIONS):
            continue
        if option.name == "content_masks":  # by the names the user knows them by
            for mask in masks:
                words += [option.flags, mask]
            continue
        if option.switch:
            words.append(option.flags if value else "--no-" + option.flags.removeprefix("--"))
        elif isinstance(value, tuple):
            if option.name == "style_blend" and len(set(value)) <= 1:
                continue
            words += [option.flags, ",".join(f"{v:g}" for v in value)]
        else:
            words += [option.flags, f"{value:g}" if isinstance(value, float) else str(value)]
    if budget is not None and not sketch:
        words += ["--time-budget", f"{budget:g}"]
    return shlex.join(words)


def download_name(content: str, styles: list[str], size: tuple[int, int] | None, sketch: bool) -> str:
    """A result's file name that says what it is: ``photo-in-starry-night-768px.png``."""

    def stem(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", Path(name).stem).strip("-").lower()[:40] or "image"

    style = "-and-".join(stem(name) for name in styles[:2]) + ("-and-more" if len(styles) > 2 else "")
    pixels = f"-{max(size)}px" if size else ""
    return f"{stem(content)}-in-{style}{'-sketch' if sketch else ''}{pixels}.png"
