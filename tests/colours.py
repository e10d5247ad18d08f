"""How far a picture's colours are from the photo's, for the tests of ``--preserve-colors`` (2.3), and
the painting that shows it best."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def orange_swirls(style_path: Path) -> Image.Image:
    """The example swirls turned orange: a painting whose colours are near the cat's, so that any colour
    a run brings of its own shows (the blue swirls are so far from them that their distance hides it)."""
    hue, saturation, value = Image.open(style_path).convert("HSV").split()
    return Image.merge("HSV", (hue.point(lambda h: (h + 128) % 256), saturation, value)).convert("RGB")


def chroma_ratio(image: Image.Image, content: Image.Image, style: Image.Image) -> float:
    """How far the picture's chroma (Cb/Cr mean and covariance) is from the photo's, over how far the
    painting's is: 0 keeps the photo's colours, 1 is the painting's distance (bench/colors.py)."""

    def stats(picture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        pixels = np.asarray(picture.convert("RGB").resize(image.size).convert("YCbCr"), dtype=np.float64)
        chroma = pixels[..., 1:].reshape(-1, 2) / 255
        return chroma.mean(axis=0), np.cov(chroma.T)

    def distance(a: Image.Image, b: Image.Image) -> float:
        (mean_a, cov_a), (mean_b, cov_b) = stats(a), stats(b)
        return float(np.linalg.norm(mean_a - mean_b) + np.linalg.norm(cov_a - cov_b))

    return distance(image, content) / distance(style, content)
