"""`StyleConfig`: every option of a stylization and its default, validated. The single source of
defaults for the Python API and the command line."""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
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
    Model,
    Optimizer,
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


# Fields that take a string (a choice or a path), checked to be one before they are looked up.
_TEXT_FIELDS = (
    "style_loss",
    "preserve_colors",
    "color_match",
    "init",
    "optimizer",
    "model",
    "preprocessing",
    "pooling",
    "device",
    "precision",
    "compile",
)


@dataclass(frozen=True)
class StyleConfig:
    """Options of one stylization. Build with keywords; unknown or bad values raise ConfigError."""

    # Long side of the output in pixels; None: 384 on a CPU, 768 on a GPU (at most the content's own).
    size: int | None = None
    # Optimizer iterations at the first scale (later scales get fewer, see iteration_decay); None: 40 on
    # a CPU, 500 on a GPU.
    iterations: int | None = None
    # Coarse to fine (Gatys et al. 2017, see plan.py): optimize at base_size first, then at sizes growing
    # by scale_step up to size, each starting from the upsampled result of the one before. On by
    # default: the look forms at the base scale, so it is the same at every output size (README, "The
    # look"); single scale at 2048 px barely changes the photo when seen at 512 px.
    multiscale: bool = True
    # Long side of the first scale in pixels, the same for every output size: where the strokes form.
    base_size: int = 256
    # Factor between the long sides of consecutive scales (√2: each scale has twice the pixels).
    scale_step: float = math.sqrt(2)
    # Each scale after the first runs this share of the iterations of the one before (never fewer than
    # a quarter of `iterations`): the look is made at the base, larger scales only add detail.
    iteration_decay: float = 0.5
    # α: weight of the content loss (relative error of relu4_2 features, see losses.py).
    content_weight: float = 1.0
    # β: weight of the style loss (relative error of Gram matrices). Chosen on the look benchmark with
    # the paper's VGG-19: β/α = 20 paints the photo (strokes and colours of the painting at viewing
    # scale) and keeps the scene recognisable; 5 keeps more of the photo, 50 starts to dissolve it.
    style_weight: float = 20.0
    # γ: weight of the total-variation smoothness term; 0 turns it off.
    tv_weight: float = 0.0
    # How the style images' features are compared (losses.py): "nearest" (from relu3_1 on, each position
    # is pulled to the painting's feature most like the photo's there; Gram matrices before: the
    # painting's strokes and colours without its objects), "gram" (Gram matrices at every layer, as in
    # the paper: its faces and figures can appear in the photo), "mean-cov" (means and covariances: the
    # Gaussian 2-Wasserstein distance) or "sliced-wasserstein" (the whole distribution along random
    # directions, Heitz et al. 2021).
    style_loss: StyleLossKind = "nearest"
    # Layers whose features the output keeps from the content image, with weights.
    content_layers: LayerSpec = (("relu4_2", 1.0),)
    # Layers whose Gram matrices the output takes from the style image, with weights (normalized to
    # sum 1). Gatys et al.'s choice: the first ReLU of each block, equally weighted.
    style_layers: LayerSpec = tuple((f"relu{b}_1", 1.0) for b in range(1, 6))
    # The style image is resized to style_scale × the output's long side before its Gram targets are
    # taken: above 1 its brush strokes come out larger, below 1 smaller.
    style_scale: float = 1.0
    # Weights of several style images (normalized to sum 1); None: equal weights.
    style_blend: tuple[float, ...] | None = None
    # Keep the content's colours: "luminance" transfers style on luminance only and puts back the
    # content's chroma; "histogram" first recolours the style image to the content's colour
    # statistics (Gatys et al. 2017).
    preserve_colors: Literal["none", "luminance", "histogram"] = "none"
    # The matrix of the "histogram" recolouring: "sym" (symmetric square roots), "chol" or "pca".
    color_match: Literal["sym", "chol", "pca"] = "sym"
    # Spatial control (Gatys et al. 2017): one mask per style image, white where its style goes — or
    # one mask for two styles (white: the first, black: the second). Empty: every style everywhere.
    content_masks: tuple[MaskLike, ...] = ()
    # Optional, one per style image: the part of each style image its style is taken from.
    style_masks: tuple[MaskLike, ...] = ()
    # Start image of the first scale: "noise" (white noise, as in the paper), "content", "blend" (the
    # mean of the two), "style", "preview" (the feed-forward sketch of impasto.preview, made in under
    # a second on a CPU), or an image path. The sketch already carries the painting's colours and
    # strokes, so the optimization reaches its look in a quarter of the iterations the photo needs
    # (bench/time_to_look.py); the photo (and noise far more) starts from no style at all.
    init: str = "preview"
    # "lbfgs" (as in the paper; best per iteration) or "adam" (cheaper steps, lower memory). "lbfgs" is
    # the faster for the device of two implementations that take the same steps: "lbfgs-device"
    # (impasto's, never waits for a GPU) and "lbfgs-torch" (torch.optim.LBFGS).
    optimizer: Optimizer = "lbfgs"
    # Step size; None: 1.0 for L-BFGS, 0.02 (in [0, 1] pixel units) for Adam.
    learning_rate: float | None = None
    # Backbone from the weights registry: "vgg19" (the paper's network, the original Caffe weights,
    # installed with impasto), "vgg16" (the VGG-16 of the HED edge detector) or "vgg19-torchvision"
    # (torchvision's retrained VGG-19, downloaded once). vgg19 won the look benchmark on every pair:
    # more of the style at viewing scale and far more of the photo kept (README, "The look").
    model: Model = "vgg19"
    # A local weights file to use instead of the registered one (.h5 Keras, or a torch state dict).
    weights: Path | None = None
    # What input the weights expect: "auto" (what the model's registered weights expect), "caffe" (BGR,
    # 0–255, minus the ImageNet mean: Caffe-converted VGG files, as neural-style's) or "torchvision"
    # (RGB, 0–1, normalized by the ImageNet mean and std). Set it when --weights is another kind of file
    # than --model's own: the wrong one gives pictures that are quietly worse.
    preprocessing: Literal["auto", "caffe", "torchvision"] = "auto"
    # Pooling between blocks: "max" (as trained) or "avg" (as in the paper).
    pooling: Literal["max", "avg"] = "max"
    # "auto" picks cuda, then mps, then cpu.
    # ("cuda:1": the second GPU.)
    device: str = "auto"
    # Number format of the network's arithmetic (runtime.py): "auto" picks bf16 on GPUs that have it
    # (TF32 on older ones) and on CPUs with bf16 instructions (AVX512_BF16 or AMX), fp32 on other CPUs
    # (where bf16 is emulated: slow, but there on request); "tf32" is for GPUs.
    # Gram matrices and losses are fp32 whatever is chosen.
    precision: Literal["auto", "fp32", "tf32", "bf16", "fp16"] = "auto"
    # torch.compile the whole objective: "auto" compiles on CUDA only, where it pays for itself in
    # seconds (and less on a second run: compiled kernels are cached on disk).
    compile: Literal["auto", "on", "off"] = "auto"
    # Seed of the noise initialization: the same seed gives the same image on the same machine.
    seed: int = 0
    # Memory the optimization may use, in bytes (the API also takes "2GB", "512MB"); None: what the
    # device has free. An image that would need more is optimized in overlapping tiles.
    max_memory: int | None = None
    # Refuse input images with more pixels than this (a guard against decompression bombs).
    max_pixels: int = 150_000_000
    # Refuse a --size that enlarges the content image more than this many times: style transfer invents
    # no detail for an enlargement, and a typo (--size 16384 for 1638) would run for hours.
    max_upscale: float = 8.0

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalize through the back door, once
        for name in _TEXT_FIELDS:  # before they are looked up in the tables of choices
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"{name} must be a string, got {_shown(getattr(self, name))}")
        if not isinstance(self.multiscale, bool):  # "false" would be true
            raise ConfigError(f"multiscale must be true or false, got {_shown(self.multiscale)}")
        if self.model not in MODELS:
            raise ConfigError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        architecture = MODELS[self.model]
        for name in ("content_layers", "style_layers"):
            layers = parse_layers(getattr(self, name), name.replace("_", "-"))
            check_layer_names(layers, architecture, name.replace("_", "-"))
            set_(self, name, layers)
        if self.size is not None:
            _check_int("size", self.size, MIN_SIZE, MAX_SIZE)
        if self.iterations is not None:
            _check_int("iterations", self.iterations, 1, MAX_ITERATIONS)
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number ≥ 0, got {value!r}")
        if self.content_weight == 0 and self.style_weight == 0:
            raise ConfigError("content_weight and style_weight are both 0: nothing to optimize")
        if self.learning_rate is not None and not (
            _is_number(self.learning_rate) and 0 < self.learning_rate < math.inf
        ):
            raise ConfigError(f"learning_rate must be a finite number > 0, got {_shown(self.learning_rate)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"unknown pooling {self.pooling!r}; choose max or avg")
        if self.device not in DEVICES and not re.fullmatch(r"cuda:\d+", str(self.device)):
            raise ConfigError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)} or cuda:N")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; choose from {', '.join(PRECISIONS)}")
        if self.compile not in COMPILE_MODES:
            raise ConfigError(f"unknown compile {self.compile!r}; choose from {', '.join(COMPILE_MODES)}")
        if self.init not in INIT_CHOICES and not Path(examples.resolve(self.init)).is_file():
            raise ConfigError(
                f"init must be one of {', '.join(INIT_CHOICES)} or an image file; {self.init!r} is neither"
            )
        _check_int("base_size", self.base_size, MIN_SIZE, MAX_SIZE)
        if not isinstance(self.iteration_decay, int | float) or not 0.05 <= self.iteration_decay <= 1:
            raise ConfigError(f"iteration_decay must be from 0.05 to 1, got {self.iteration_decay!r}")
        if self.style_loss not in STYLE_LOSSES:
            raise ConfigError(
                f"unknown style_loss {self.style_loss!r}; choose from {', '.join(STYLE_LOSSES)}"
            )
        if not isinstance(self.scale_step, int | float) or not 1.05 <= self.scale_step <= 4:
            raise ConfigError(f"scale_step must be from 1.05 to 4, got {self.scale_step!r}")
        if not isinstance(self.style_scale, int | float) or not 0.05 <= self.style_scale <= 8:
            raise ConfigError(f"style_scale must be from 0.05 to 8, got {self.style_scale!r}")
        if self.style_blend is not None:
            set_(self, "style_blend", _blend_weights(self.style_blend))
        if self.preserve_colors not in PRESERVE_COLORS:
            raise ConfigError(
                f"unknown preserve_colors {self.preserve_colors!r}; choose none, luminance or histogram"
            )
        if self.color_match not in COLOR_MATCHES:
            raise ConfigError(f"unknown color_match {self.color_match!r}; choose sym, chol or pca")
        for name in ("content_masks", "style_masks"):
            value = getattr(self, name)
            items = (value,) if isinstance(value, str | Path | Image.Image) else tuple(value)
            set_(self, name, tuple(Path(item) if isinstance(item, str) else item for item in items))
        if isinstance(self.max_memory, str):
            set_(self, "max_memory", parse_memory(self.max_memory))
        if self.max_memory is not None:
            _check_int("max_memory", self.max_memory, 2**20, 2**50)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("max_pixels", self.max_pixels, 1, 2**40)
        if not isinstance(self.max_upscale, int | float) or not 1 <= self.max_upscale <= 1024:
            raise ConfigError(f"max_upscale must be from 1 to 1024, got {self.max_upscale!r}")
        if self.weights is not None:
            set_(self, "weights", Path(self.weights))
        if self.preprocessing not in PREPROCESSINGS:
            raise ConfigError(
                f"unknown preprocessing {self.preprocessing!r}; choose auto, caffe or torchvision"
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
    return _parse_toml(text, f"{path} holds impasto options that are not valid TOML")


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
