"""A page's request for a job, read: its images (uploads or examples, by reference), the styles' weights
and masks, and its options, each checked; every bad value a 400 that names it. And the form the page
asks with, drawn from the option table (:func:`form_settings`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from impasto.choices import INIT_CHOICES
from impasto.config import BY_NAME, StyleConfig, read_value
from impasto.config import OPTIONS as FIELDS
from impasto.errors import ConfigError
from impasto.web.errors import HttpError
from impasto.web.limits import Limits

# Options the page may set (those StyleConfig's fields mark ``web``); everything else keeps the
# library's default.
OPTIONS: tuple[str, ...] = tuple(o.name for o in FIELDS if o.web and o.type is not None)


def form_choices() -> dict[str, list[str]]:
    """The choices of the web form's menus, from StyleConfig's fields. The page cannot name files on
    the server, so its start images are the named ones only."""
    menus = {o.name: list(o.choices) for o in FIELDS if o.web and o.choices is not None}
    menus["init"] = list(INIT_CHOICES)
    return menus


# Beyond this a number loses whole numbers in the page's JavaScript: such a bound is left out.
_PAGE_NUMBERS = 2**53


def form_settings(choices: Mapping[str, list[str]], highs: Mapping[str, int]) -> list[dict[str, Any]]:
    """The page's settings form, drawn from the option table (:data:`impasto.config.OPTIONS`): for each
    option the page may set, in the table's order, its name, label, help (a tooltip), its control (a
    menu of ``choices``, a switch, a whole number or a number, within its range, ``highs`` lowering
    this server's maximums) and whether it goes on the form's face or under Advanced."""
    drawn = []
    for option in FIELDS:
        if not option.web:
            continue
        control = (
            "menu"
            if option.name in choices
            else "switch"
            if option.type is bool
            else "whole"
            if option.type is int
            else "number"
        )
        setting: dict[str, Any] = {
            "name": option.name,
            "label": option.web,
            "help": option.help,
            "control": control,
            "main": option.web_main,
        }
        if control == "menu":
            setting["choices"] = list(choices[option.name])
        high = highs.get(option.name, option.high)
        for end, bound in (("low", option.low), ("high", high)):
            if bound is not None and math.isfinite(bound) and abs(bound) <= _PAGE_NUMBERS:
                setting[end] = bound
        drawn.append(setting)
    return drawn


@dataclass(frozen=True)
class Images:
    """The images a request names, found: each file, and the word a command line names it by
    (:func:`command_word`)."""

    content: Path
    content_name: str  # the name the user knows it by
    content_word: str
    styles: list[Path]
    style_names: list[str]  # the names the user knows them by
    style_words: list[str]
    blend: list[float]  # the styles' weights, as given
    masks: list[Path]  # white where each style goes (none, one per style, or the first of two)
    mask_words: list[str]


def images(request: dict[str, Any], find: Callable[[object], tuple[Path, str]], max_styles: int) -> Images:
    """The content and styles ``request`` names, each found by ``find`` ("upload:ID" or "example:NAME"
    → (the file, its name)), at most ``max_styles`` styles."""
    content, content_name = find(request.get("content"))
    styles_in = request.get("styles")
    if not isinstance(styles_in, list) or not styles_in:
        raise HttpError(HTTPStatus.BAD_REQUEST, "choose at least one style image")
    if len(styles_in) > max_styles:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"at most {max_styles} style images")
    styles, style_names, style_words, blend, masks, mask_words = [], [], [], [], [], []
    for item in styles_in:
        if not isinstance(item, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "each style is {image, weight, mask}")
        path, name = find(item.get("image"))
        styles.append(path)
        style_names.append(name)
        style_words.append(command_word(item.get("image"), path, name))
        blend.append(number(item.get("weight", 1.0), "style weight"))
        if item.get("mask") is not None:  # white where this style goes
            mask, mask_name = find(item["mask"])
            masks.append(mask)
            mask_words.append(command_word(item["mask"], mask, mask_name))
    if masks and not (len(masks) == len(styles) or (len(styles) == 2 and styles_in[0].get("mask"))):
        raise HttpError(
            HTTPStatus.BAD_REQUEST,
            "give every style a mask, or none (with two styles, the first one's mask is enough)",
        )
    content_word = command_word(request.get("content"), content, content_name)
    return Images(
        content, content_name, content_word, styles, style_names, style_words, blend, masks, mask_words
    )


def options(
    requested: object, blend: list[float], masks: tuple[Path, ...], device: str, limits: Limits
) -> tuple[StyleConfig, float | None]:
    """The request's ``options`` object → (the run's StyleConfig on ``device``, with the styles' ``blend``
    and their ``masks``; its time budget or None). Only the options the page may set, each read as a
    config file's value is (config.read_value); then the checks every option passes, and this
    server's ``limits``."""
    if not isinstance(requested, dict):
        raise HttpError(HTTPStatus.BAD_REQUEST, "options must be an object")
    values: dict[str, Any] = {}
    for name, value in requested.items():
        if name == "time_budget" or value is None or value == "":
            continue
        if name not in OPTIONS:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"unknown option {name!r}")
        try:
            values[name] = read_value(BY_NAME[name], value)  # of its type, as a config file holds it
        except ConfigError as error:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(error)) from None
    if values.get("init", "content") not in INIT_CHOICES:  # not a path: no files on the server
        raise HttpError(HTTPStatus.BAD_REQUEST, f"init must be one of {', '.join(INIT_CHOICES)}")
    budget = requested.get("time_budget")
    budget = None if budget in (None, "", 0) else number(budget, "time budget")
    if budget is not None and budget <= 0:
        raise HttpError(HTTPStatus.BAD_REQUEST, "the time budget must be a positive number of seconds")
    try:
        config = StyleConfig(device=device, style_blend=tuple(blend), content_masks=masks, **values)
    except ConfigError as error:
        raise HttpError(HTTPStatus.BAD_REQUEST, str(error)) from None
    if config.size is not None and config.size > limits.max_size:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"this server makes images of at most {limits.max_size} px")
    if config.iterations is not None and config.iterations > limits.max_iterations:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"at most {limits.max_iterations} iterations here")
    return config, budget


def command_word(reference: object, path: Path, name: str) -> str:
    """How a command line names an image: an example as ``example:NAME`` (the command line takes it
    wherever it takes a file, so the command runs as shown, and no path of the server's is shown), an
    upload by the name of the file the user chose."""
    return reference if isinstance(reference, str) and reference.startswith("example:") else name


def number(value: object, what: str) -> float:
    """A finite number from JSON (or a numeric string, as a form sends); anything else is a 400."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a number, got {shown(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a number, got {shown(value)}") from None
    if not math.isfinite(number):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{what} must be a finite number, got {shown(value)}")
    return number


def shown(value: object) -> str:
    """``value`` for an error message, cut short: a request can hold a 5000-digit number."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"
