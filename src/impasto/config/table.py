"""The option table the front ends read: every StyleConfig field's :class:`Option`, in order and by
name, and how each default is shown."""

from __future__ import annotations

from impasto.config.fields import StyleConfig
from impasto.config.option import Option, field_options

# Every field's Option, in the order of the fields, and by name: what the front ends read.
OPTIONS: tuple[Option, ...] = field_options(StyleConfig)
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
