"""How people reach each option: the command line's arguments and the web form's, built from the
fields of :class:`~impasto.config.StyleConfig`.

Everything about an option — default, type, range or choices, help, --help section, flag, whether
the web page may set it — is written once, on its field (``config.described``); this module only
reads it. Torch-free: ``impasto --help`` is built from it in a tenth of a second.
"""

from __future__ import annotations

import argparse
from typing import Any

from impasto.choices import INIT_CHOICES
from impasto.config import GROUPS, Option, StyleConfig, field_options, floats

__all__ = [
    "BY_NAME",
    "OPTIONS",
    "Option",
    "add_arguments",
    "default_text",
    "floats",
    "web_choices",
    "web_options",
]

# Every field's Option, named, in the order of the fields.
OPTIONS: tuple[Option, ...] = field_options()
BY_NAME = {option.name: option for option in OPTIONS}


def default_text(option: Option) -> str:
    """How --help shows ``option``'s default."""
    if option.shown is not None:
        return option.shown
    value = getattr(StyleConfig(), option.name)
    if option.name.endswith("_layers"):
        return ",".join(layer if weight == 1 else f"{layer}:{weight:g}" for layer, weight in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"  # 150,000,000
    return str(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of OPTIONS on ``parser``, in its group; each lands on the namespace under its
    StyleConfig name, None when not given (so a --config file or the defaults apply)."""
    groups = {group: parser.add_argument_group(group) for group in GROUPS}
    for option in OPTIONS:
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
    return {option.name: option.type for option in OPTIONS if option.web and option.type is not None}


def web_choices() -> dict[str, list[str]]:
    """The choices of the web form's menus. The page cannot name files on the server, so its start
    images are the named ones only."""
    menus = {
        option.name: list(option.choices) for option in OPTIONS if option.web and option.choices is not None
    }
    menus["init"] = list(INIT_CHOICES)
    return menus
