"""One option's value: read as a front end gives it (:func:`read_value`: the command line's words, a config
file's or a web request's typed values), parsed from text (memory sizes, layer lists, weights) and checked
against its :class:`~impasto.config.option.Option`. Every problem is a ConfigError of one line that names
the option."""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from impasto.choices import (
    layer_names,
)
from impasto.config.option import Option
from impasto.errors import ConfigError

LayerSpec = tuple[tuple[str, float], ...]  # ((layer name, weight), …)


MaskLike = str | Path | Image.Image  # a mask image: white = inside the region


LayersLike = str | Sequence[str | tuple[str, float]] | Mapping[str, float]


_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30, "GB": 2**30}


def read_value(option: Option, value: object, *, words: bool = False) -> object:
    """One value of ``option`` as a front end gives it → what its StyleConfig field takes (which then
    checks it as it checks every value): the one reader of the command line, the config files and the
    web page.

    ``words``: the command line's text ("512", "1,3"), read by the option's ``parse`` (as its type
    when it has none). Otherwise a value as TOML or JSON holds it, of the field's type: true or
    false, a whole number, a number (a whole one too), a string, an array of them; never the text
    "false" for false nor "1" for 1, but text where the option reads text everywhere (``as_text``:
    "2GB"); layers also as a table of name = weight or an array of names and [name, weight] pairs."""
    if words:
        return value if option.parse is None else option.parse(str(value))
    if option.name.endswith("_layers"):
        return _layers(option.name, value)
    hint = option.hint | str if option.as_text else option.hint
    converted = _converted(value, hint)
    if converted is _WRONG:
        raise ConfigError(f"{option.name} must be {_described(hint)}, got {quoted(value)}")
    return converted


_WRONG = object()  # what _converted returns for a value of another type


def _converted(value: object, hint: Any) -> object:
    """``value`` as a value of the annotation ``hint`` (arrays as tuples, whole numbers as floats where a
    number goes), or _WRONG."""
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
        return as_float(value) if isinstance(value, int | float) else _WRONG
    if hint in (str, Path) or origin is Literal:
        return value if isinstance(value, str) else _WRONG
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if not isinstance(value, list | tuple):
            return _WRONG
        items = [_converted(item, args[0]) for item in value]
        return _WRONG if any(item is _WRONG for item in items) else tuple(items)
    return _WRONG  # a picture in memory: nothing a file or a request can hold


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


def _layers(name: str, value: object) -> object:
    """Layers as on the command line ("relu1_1,relu2_1:0.5"), an array of names and [name, weight]
    pairs, or a table of name = weight."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and all(is_number(w) for w in value.values()):
        return {layer: as_float(w) for layer, w in value.items()}
    if isinstance(value, list | tuple):
        try:
            return tuple((layer, as_float(w)) for layer, w in (layer_pair(item) for item in value))
        except TypeError:
            pass
    raise ConfigError(
        f'{name} must be a string like "relu1_1,relu2_1:0.5", an array of names and [name, weight] '
        f"pairs, or a table of name = weight; got {quoted(value)}"
    )


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
                spec.items() if isinstance(spec, Mapping) else (layer_pair(s) for s in spec)
            )
            items = [(str(name), float(weight)) for name, weight in pairs]
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(
                f"{what}: expected names like relu1_1, each with a weight or none, got {quoted(spec)}"
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


def blend_weights(weights: object) -> tuple[float, ...]:
    """The weights of several style images as floats: each finite and ≥ 0, at least one positive, and
    their sum finite too (normalized by an infinite sum, every style would weigh 0: no style at all)."""
    shown = quoted(weights)
    if not isinstance(weights, Sequence) or isinstance(weights, str) or not weights:
        raise ConfigError(f"style_blend must be one or more numbers, got {shown}")
    if not all(is_number(w) for w in weights):
        raise ConfigError(f"style_blend must be numbers, got {shown}")
    blend = tuple(as_float(w) for w in weights)
    if any(not math.isfinite(w) or w < 0 for w in blend):
        raise ConfigError(f"style_blend: every weight must be a finite number ≥ 0, got {shown}")
    if sum(blend) <= 0:
        raise ConfigError(f"style_blend: at least one weight must be above 0, got {shown}")
    if not math.isfinite(sum(blend)):
        raise ConfigError(f"style_blend: the weights {shown} sum to more than a float holds; scale them down")
    return blend


def layer_pair(item: object) -> tuple[str, object]:
    """A layer given on its own ("relu1_1": weight 1) or as (name, weight)."""
    if isinstance(item, str):
        return item, 1.0
    if isinstance(item, Sequence) and len(item) == 2 and isinstance(item[0], str) and is_number(item[1]):
        return item[0], item[1]
    raise TypeError(item)


def check_layer_names(layers: LayerSpec, model: str, what: str) -> None:
    known = layer_names(model)
    for name, _ in layers:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else f"; {model} has {known[0]} … {known[-1]}"
            raise ConfigError(f"{what}: unknown layer {name!r}{hint}")


def floats(text: str) -> tuple[float, ...]:
    """ "1,3" → (1.0, 3.0), for weights given on the command line."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def masks(value: Any) -> tuple[Any, ...]:
    items = (value,) if isinstance(value, str | Path | Image.Image) else tuple(value)
    return tuple(Path(item) if isinstance(item, str) else item for item in items)


def check(value: object, option: Option) -> None:
    """``value`` of ``option``'s field checked against its type, choices and range."""
    name = option.name
    if value is None and option.optional:
        return
    if option.type is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {quoted(value)}")
        if option.choices is not None and value not in option.choices:
            raise ConfigError(f"unknown {name} {value!r}; choose from {', '.join(option.choices)}")
    elif option.type is bool and not isinstance(value, bool):  # "false" would be true
        raise ConfigError(f"{name} must be true or false, got {quoted(value)}")
    elif option.low is None or option.high is None:
        return
    elif option.type is int:
        check_int(name, value, int(option.low), int(option.high))
    elif option.type is float:
        check_float(name, value, option.low, option.high, option.above)


def check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {quoted(value)}")


def check_float(name: str, value: object, low: float, high: float, above: bool) -> None:
    number = as_float(value) if is_number(value) else math.nan
    if not ((low < number if above else low <= number) and number <= high and math.isfinite(number)):
        if high == math.inf:
            raise ConfigError(
                f"{name} must be a finite number {'>' if above else '≥'} {low:g}, got {quoted(value)}"
            )
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, got {quoted(value)}")


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_float(value: Any) -> float:
    """A number as a float; an integer too large for one is infinite (and refused as such)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def quoted(value: object) -> str:
    """``value`` for a message: strings quoted as TOML quotes them, anything long cut short."""
    try:
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = json.dumps(value) if isinstance(value, str) else repr(value)
    except ValueError:  # an integer too long to print
        text = "a number too long to print"
    return text if len(text) <= 40 else text[:39] + "…"
