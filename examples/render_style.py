"""Paint the demo's style image (src/impasto/examples/swirls.png): strokes that follow a swirling flow.

The project paints its own style image so the demo ships nothing it may not redistribute.
Run: python examples/render_style.py
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 512
# Night blues with warm yellow and white highlights.
PALETTE = np.array(
    [(18, 38, 92), (30, 70, 150), (60, 110, 190), (110, 160, 215), (230, 200, 80), (245, 235, 170)],
    dtype=np.float64,
)
# (x, y, strength) of the vortices the strokes swirl around.
VORTICES = [(0.3, 0.35, 1.0), (0.72, 0.3, -0.8), (0.55, 0.72, 0.9), (0.12, 0.8, -0.6)]


def flow(x: float, y: float) -> tuple[float, float]:
    """Direction of the strokes at (x, y) in [0, 1]²: a sum of vortices over a gentle drift."""
    dx, dy = 1.0, 0.15
    for vx, vy, strength in VORTICES:
        rx, ry = x - vx, y - vy
        r2 = rx * rx + ry * ry + 0.01
        dx += strength * -ry / r2 * 0.3
        dy += strength * rx / r2 * 0.3
    norm = math.hypot(dx, dy)
    return dx / norm, dy / norm


def render(seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    canvas = Image.new("RGB", (SIZE, SIZE), tuple(int(c) for c in PALETTE[0]))
    draw = ImageDraw.Draw(canvas)
    for _ in range(5000):
        x, y = rng.random(2)
        # Strokes near a vortex centre lean to the bright end of the palette.
        glow = max(math.exp(-((x - vx) ** 2 + (y - vy) ** 2) / 0.01) for vx, vy, _ in VORTICES)
        index = min(len(PALETTE) - 1, int(rng.random() * 4 + glow * 3))
        colour = np.clip(PALETTE[index] + rng.normal(0, 12, 3), 0, 255).astype(int)
        points = [(x * SIZE, y * SIZE)]
        for _ in range(int(rng.integers(6, 14))):
            dx, dy = flow(x, y)
            x, y = x + dx * 0.006, y + dy * 0.006
            points.append((x * SIZE, y * SIZE))
        draw.line(points, fill=tuple(colour), width=int(rng.integers(3, 8)), joint="curve")
    return canvas.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "src" / "impasto" / "examples" / "swirls.png"
    render().save(out)
    print(out)
