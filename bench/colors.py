"""How close each colour mode keeps the output's colour statistics to the content's.

    python bench/colors.py [--size 256] [--iterations 200]

Distance = ‖μ_out − μ_content‖ + ‖Σ_out − Σ_content‖_F over RGB pixels in [0, 1]; lower keeps the
content's colours better. The style image's own distance to the content is printed for scale.
"""

from __future__ import annotations

import argparse

from PIL import Image

import common
import impasto
from impasto import examples
from impasto.core.color import stats_distance
from impasto.io.images import to_tensor


def distance(image: Image.Image, reference: Image.Image) -> float:
    return round(stats_distance(to_tensor(image), to_tensor(reference.resize(image.size))), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    content = Image.open(examples.CONTENT).convert("RGB")
    style = Image.open(examples.STYLE).convert("RGB")
    report: dict[str, float] = {"style image itself": distance(style, content)}
    for mode in ("none", "luminance", "histogram"):
        output = impasto.stylize(
            content, style, size=args.size, iterations=args.iterations, preserve_colors=mode, device="cpu"
        )
        report[f"preserve_colors={mode}"] = distance(output, content)
    row = {"size": args.size, "iterations": args.iterations, "distance_to_content": report}
    print(common.emit("colors", row, indent=1))


if __name__ == "__main__":
    main()
