"""Every option of a stylization, described once: its flag, help text, choices, and whether the web
page may set it.

:class:`~impasto.config.StyleConfig` holds the defaults and validates values; this table says how
people reach each field. The command line builds its arguments from it (``add_arguments``), the web
server its form's choices and what a request may set (``web_options``, ``web_choices``), and a test
checks that every field has exactly one entry here — so the three cannot drift apart. Torch-free,
like choices.py: ``impasto --help`` is built from it in a tenth of a second.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.choices import (
    COLOR_MATCHES,
    COMPILE_MODES,
    INIT_CHOICES,
    MODELS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    PREPROCESSINGS,
    PRESERVE_COLORS,
    STYLE_LOSSES,
)
from impasto.config import DEFAULT_ITERATIONS, DEFAULT_SIZE, StyleConfig


@dataclass(frozen=True)
class Option:
    """How one StyleConfig field is offered. ``help`` gets "(default: …)" appended: ``default`` if
    given, else StyleConfig's own value; "" shows none."""

    name: str  # the StyleConfig field
    group: str  # its section of --help
    help: str
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # how the command line reads it (None: as text)
    choices: Sequence[str] | None = None
    default: str | None = None
    flag: str | None = None  # None: --name-with-dashes
    many: bool = False  # takes one or more values (nargs="+")
    switch: bool = False  # --name / --no-name
    web: type | None = None  # the JSON type a web request may send it as; None: not on the page

    @property
    def flags(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def floats(text: str) -> tuple[float, ...]:
    """ "1,3" → (1.0, 3.0), for weights given on the command line."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


SIZE, STYLE, BALANCE, OPTIMIZATION, NETWORK, LIMITS = (
    "size and time",
    "style and colour",
    "the balance of content and style",
    "optimization",
    "network and device",
    "input limits",
)

OPTIONS: tuple[Option, ...] = (
    Option(
        "size",
        SIZE,
        "long side of the output, never more than the content image's",
        "PX",
        int,
        default=f"{DEFAULT_SIZE['cpu']} on a CPU, {DEFAULT_SIZE['gpu']} on a GPU",
        web=int,
    ),
    Option(
        "iterations",
        SIZE,
        "optimizer iterations at the first scale",
        "N",
        int,
        default=f"{DEFAULT_ITERATIONS['cpu']} on a CPU, {DEFAULT_ITERATIONS['gpu']} on a GPU",
        web=int,
    ),
    Option(
        "multiscale",
        SIZE,
        "coarse to fine: optimize at --base-size first, then larger sizes up to --size "
        "(--no-multiscale optimizes at --size only)",
        default="on",
        switch=True,
        web=bool,
    ),
    Option(
        "base_size",
        SIZE,
        "long side of the first scale, the same for every output size: where the strokes form",
        "PX",
        int,
    ),
    Option(
        "iteration_decay",
        SIZE,
        "each scale after the first runs F × the iterations of the one before, at least a quarter of "
        "--iterations",
        "F",
        float,
    ),
    Option("scale_step", SIZE, "factor between the sizes of consecutive scales", "F", float, default="√2"),
    Option(
        "style_blend",
        STYLE,
        "weights of several style images, normalized",
        "W1,W2,…",
        floats,
        default="equal",
    ),
    Option(
        "style_scale",
        STYLE,
        "resize the style image to F × the output size first: above 1 gives larger strokes, below 1 smaller",
        "F",
        float,
        web=float,
    ),
    Option(
        "preserve_colors",
        STYLE,
        "keep the content's colours: transfer on luminance only, or recolour the style image to the "
        "content's colour statistics first",
        choices=PRESERVE_COLORS,
        web=str,
    ),
    Option("color_match", STYLE, "the matrix of --preserve-colors histogram", choices=COLOR_MATCHES),
    Option(
        "content_masks",
        STYLE,
        "spatial control: one mask per style image, white where that style goes (one mask for two "
        "styles: white takes the first, black the second)",
        "MASK",
        Path,
        default="",
        flag="--content-mask",
        many=True,
    ),
    Option(
        "style_masks",
        STYLE,
        "one per style image: white where its style is taken from",
        "MASK",
        Path,
        default="all of it",
        flag="--style-mask",
        many=True,
    ),
    Option(
        "style_loss",
        BALANCE,
        "how style is compared: nearest (deep layers take the painting's features most like the "
        "photo's there: no faces or figures of the painting pasted in), Gram matrices (the paper), means "
        "and covariances, or the whole feature distribution along random directions",
        choices=STYLE_LOSSES,
        web=str,
    ),
    Option("content_weight", BALANCE, "weight of the content loss", "α", float),
    Option("style_weight", BALANCE, "weight of the style loss; raise for more style", "β", float, web=float),
    Option("tv_weight", BALANCE, "weight of total-variation smoothing, 0 for none", "γ", float, web=float),
    Option(
        "content_layers",
        BALANCE,
        "layers the content is kept at, comma-separated, each optionally NAME:WEIGHT",
        "LIST",
    ),
    Option("style_layers", BALANCE, "layers the style is taken from, like --content-layers", "LIST"),
    Option(
        "init",
        OPTIMIZATION,
        "start image of the first scale: white noise, the content image, their mean (blend), the style "
        "image, the feed-forward sketch (preview: the look arrives in fewer iterations), or a file",
        "{" + ",".join(INIT_CHOICES) + ",PATH}",
        web=str,
    ),
    Option(
        "optimizer",
        OPTIMIZATION,
        "lbfgs: the faster for the device of lbfgs-device (impasto's, never waits for a GPU) and "
        "lbfgs-torch (the same steps); adam: cheaper steps",
        choices=OPTIMIZERS,
        web=str,
    ),
    Option("learning_rate", OPTIMIZATION, "step size", "LR", float, default="1 for lbfgs, 0.02 for adam"),
    Option("seed", OPTIMIZATION, "seed of the noise start image", "N", int, web=int),
    Option(
        "model",
        NETWORK,
        "backbone: vgg19 is the paper's network (installed with impasto), vgg16 the VGG-16 of HED "
        "(impasto weights install vgg16), vgg19-torchvision torchvision's retrained VGG-19 (downloaded "
        "once)",
        choices=tuple(MODELS),
        web=str,
    ),
    Option(
        "weights",
        NETWORK,
        "a local weights file for --model instead of the registered one",
        "PATH",
        Path,
        default="",
    ),
    Option(
        "preprocessing",
        NETWORK,
        "what input --weights expects: caffe (BGR 0–255 minus the mean: Caffe-converted VGG files, as "
        "neural-style's) or torchvision (RGB normalized); auto: what --model's own weights expect",
        choices=PREPROCESSINGS,
    ),
    Option("pooling", NETWORK, "pooling between blocks; the paper used avg", choices=POOLINGS, web=str),
    Option(
        "device",
        NETWORK,
        "where to run; cuda:1 is the second GPU",
        "{auto,cpu,cuda,cuda:N,mps}",
        default="auto: cuda, then mps, then cpu",
    ),
    Option(
        "precision",
        NETWORK,
        "number format of the network; auto: bf16 on GPUs and on CPUs with AVX512_BF16 or AMX, else fp32",
        choices=PRECISIONS,
        web=str,
    ),
    Option(
        "compile",
        NETWORK,
        "torch.compile the whole objective, cached on disk for the next run; auto: on CUDA only",
        choices=COMPILE_MODES,
    ),
    Option(
        "max_memory",
        LIMITS,
        "memory the optimization may use, like 2GB; a larger image is optimized in overlapping tiles",
        "SIZE",
        default="what the device has free",
    ),
    Option(
        "max_pixels",
        LIMITS,
        "refuse input images larger than this",
        "N",
        int,
        default=f"{StyleConfig().max_pixels:,}",
    ),
    Option(
        "max_upscale",
        LIMITS,
        "refuse a --size that enlarges the content image more than this many times",
        "X",
        float,
    ),
)
BY_NAME = {option.name: option for option in OPTIONS}


def default_text(option: Option) -> str:
    """How --help shows ``option``'s default."""
    if option.default is not None:
        return option.default
    value = getattr(StyleConfig(), option.name)
    if option.name.endswith("_layers"):
        return ",".join(layer if weight == 1 else f"{layer}:{weight:g}" for layer, weight in value)
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of OPTIONS on ``parser``, in its group; each lands on the namespace under its
    StyleConfig name, None when not given (so a --config file or the defaults apply)."""
    groups: dict[str, Any] = {}
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        shown = default_text(option)
        keywords: dict[str, Any] = {
            "dest": option.name,
            "help": f"{option.help} (default: {shown})" if shown else option.help,
        }
        if option.switch:
            keywords["action"] = argparse.BooleanOptionalAction
        else:
            keywords.update(type=option.parse, metavar=option.metavar)
            if option.choices is not None:
                keywords["choices"] = list(option.choices)
            if option.many:
                keywords["nargs"] = "+"
        groups[option.group].add_argument(option.flags, **keywords)


def web_options() -> dict[str, type]:
    """The options a web request may set, and the JSON type of each."""
    allowed: dict[str, type] = {}
    for option in OPTIONS:
        if option.web is not None:
            allowed[option.name] = option.web
    return allowed


def web_choices() -> dict[str, list[str]]:
    """The choices of the web form's menus. The page cannot name files on the server, so its start
    images are the named ones only."""
    menus: dict[str, list[str]] = {}
    for option in OPTIONS:
        if option.web is not None and option.choices is not None:
            menus[option.name] = list(option.choices)
    menus["init"] = list(INIT_CHOICES)
    return menus
