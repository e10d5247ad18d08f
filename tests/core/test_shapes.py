"""Image shapes as numbers: the shape at a long side, and the refusal of images too thin for the network."""

from __future__ import annotations

import pytest

from impasto.core.shapes import MIN_SIDE, refuse_thin, shape_at
from impasto.errors import ConfigError


@pytest.mark.parametrize(
    ("shape", "long_side", "expected"),
    [((300, 451), 200, (133, 200)), ((451, 300), 451, (451, 300)), ((1, 1000), 10, (1, 10))],
)
def test_shape_at_keeps_the_aspect_ratio_and_at_least_a_pixel(
    shape: tuple[int, int], long_side: int, expected: tuple[int, int]
) -> None:
    assert shape_at(shape, long_side) == expected


def test_refuse_thin_gives_the_shape_or_names_the_image_and_the_remedy() -> None:
    assert refuse_thin("the content image", (300, 451), 200, "raise --size") == (133, 200)
    assert min(refuse_thin("a style image", (MIN_SIDE, 100), 100, "crop")) == MIN_SIDE
    with pytest.raises(
        ConfigError,
        match=r"^a style image is too thin: 3×700 becomes 1×200 px at 200 px, and the network needs at "
        r"least 16 px on each side; crop it, or use a squarer one$",
    ):
        refuse_thin("a style image", (700, 3), 200, "use a squarer one")
