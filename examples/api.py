"""The library in a few lines: paint the example photo in the example style, then again with more style.

python examples/api.py [OUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import impasto
from impasto import examples


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    # Every option is a field of StyleConfig, given by name (or as config=StyleConfig(...)).
    image = impasto.stylize(examples.CONTENT, examples.STYLE, size=256, iterations=100)
    image.save(out / "api-default.png")
    # β/α is the look's main dial: ten times the style weight, stronger brush strokes.
    config = impasto.StyleConfig(size=256, iterations=100, style_weight=10.0)
    impasto.stylize(examples.CONTENT, examples.STYLE, config=config).save(out / "api-more-style.png")
    print(out / "api-default.png", out / "api-more-style.png")


if __name__ == "__main__":
    main()
