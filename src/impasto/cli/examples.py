"""``impasto examples``: the images that ship with impasto, by the name ``example:NAME`` takes."""

from __future__ import annotations

from collections.abc import Sequence

from impasto import examples
from impasto.cli.common import Parser


def examples_main(argv: Sequence[str]) -> int:
    """``impasto examples``: one line per bundled image (its name, its role, its absolute path)."""
    p = Parser(
        prog="impasto examples",
        description="The example images that ship with impasto: name, role and where the file is. "
        "Wherever impasto takes an image (content, style, a mask, --init), example:NAME names one, e.g. "
        "'impasto example:chelsea.png example:swirls.png -o out.png'.",
    )
    p.parse_args(argv)
    width = max(len(name) for name in examples.ROLES)
    for name, role in examples.ROLES.items():
        print(f"{examples.PREFIX}{name:<{width}}  {role:<7}  {examples.path(name)}")
    return 0
