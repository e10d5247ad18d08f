"""What an option is beside its type and default (:class:`Option`, a field's metadata), and the
sections of --help."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

# The sections of --help, in the order they are shown.
SIZE, STYLE, BALANCE, OPTIMIZATION, NETWORK, LIMITS = GROUPS = (
    "size and time",
    "style and colour",
    "the balance of content and style",
    "optimization",
    "network and device",
    "input limits",
)


@dataclass(frozen=True)
class Option:
    """What a StyleConfig field is beside its type and default, held in its metadata (see
    :func:`described`): how it is checked (``choices``, ``low``–``high``, ``normalize``), and how people
    reach it — its --help section, text and flag, and the web page's label for it. StyleConfig
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
    # The web page's label for it; "" where the page may not set it. The page draws its control from
    # this row (a menu of the choices, a switch, a number within the range), on the form's face with
    # ``web_main``, else under Advanced, unless the page has a control of its own for it (a slider).
    web: str = ""
    web_main: bool = False
    as_text: bool = False  # a file or the page may give it as text too ("2GB"), as the command line does
    # Filled in from the field's annotation (field_options): the type of one value (str for a
    # Literal; None for what only its normalize and the hand-written rules check), whether None
    # is one, and the annotation itself (what a file's or a request's value is read as: values.read_value).
    type: type | None = None
    optional: bool = False
    hint: Any = None

    @property
    def flags(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")


def described(group: str, help: str, metavar: str | None = None, **more: Any) -> dict[str, Option]:
    """The metadata of a StyleConfig field: everything about it but its type and default
    (:class:`Option`)."""
    return {"option": Option("", group, help, metavar, **more)}


@functools.cache
def field_options(config: type) -> tuple[Option, ...]:
    """Every field's Option of the dataclass ``config``, in the order of the fields, with its name, type
    and command-line parsing filled in from the field: what the command line and the web form are built
    from (as :data:`~impasto.config.fields.OPTIONS`), and what StyleConfig checks each value against."""
    hints = typing.get_type_hints(config)
    described: list[Option] = []
    for f in fields(config):
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
        described.append(replace(option, name=f.name, type=kind, optional=optional, parse=parse, hint=hint))
    return tuple(described)
