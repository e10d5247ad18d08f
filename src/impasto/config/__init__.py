"""impasto's options: every option of a stylization described once, on its field of `StyleConfig`.

A field holds the option's type (its annotation) and default; its metadata (:func:`described`, an
:class:`Option`) holds the rest: its range or choices, its help, --help section and flag, and whether
the web page may set it. From these StyleConfig checks every value (by hand only what depends on
another field, and the two open sets: init, device); :data:`OPTIONS` lists them for the front ends to
read (cli/common.py builds the command line's arguments from it, web/job_requests.py and the page the
web form), and :func:`read_value` reads one value as each front end gives it (the command line's
words, a config file's or a request's typed values). Adding an option is adding a field. Nothing here
imports torch: ``impasto --help`` is built in a tenth of a second.

The rooms: option.py (what an option is, the --help sections), values.py (one value read and
checked), fields.py (StyleConfig itself and the defaults), table.py (:data:`OPTIONS`), files.py (TOML
files and the options a PNG carries). The named choices themselves (the ``Literal`` types and their
tuples) are in choices.py, which the algorithm's modules (core/) read too without reaching up to the
options.
"""

from impasto.config.fields import (
    DEFAULT_ITERATIONS,
    DEFAULT_SIZE,
    MAX_ITERATIONS,
    MAX_SIZE,
    MIN_SIZE,
    StyleConfig,
)
from impasto.config.files import (
    EXECUTION_OPTIONS,
    MAX_CONFIG_BYTES,
    from_png,
    from_toml,
    look_options,
    to_png_text,
    to_toml,
)
from impasto.config.option import GROUPS, Option, described
from impasto.config.table import BY_NAME, OPTIONS, default_text
from impasto.config.values import (
    LayersLike,
    LayerSpec,
    MaskLike,
    check_layer_names,
    floats,
    parse_layers,
    parse_memory,
    read_value,
)

__all__ = [
    "BY_NAME",
    "DEFAULT_ITERATIONS",
    "DEFAULT_SIZE",
    "EXECUTION_OPTIONS",
    "GROUPS",
    "MAX_CONFIG_BYTES",
    "MAX_ITERATIONS",
    "MAX_SIZE",
    "MIN_SIZE",
    "OPTIONS",
    "LayerSpec",
    "LayersLike",
    "MaskLike",
    "Option",
    "StyleConfig",
    "check_layer_names",
    "default_text",
    "described",
    "floats",
    "from_png",
    "from_toml",
    "look_options",
    "parse_layers",
    "parse_memory",
    "read_value",
    "to_png_text",
    "to_toml",
]
