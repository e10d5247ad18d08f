"""``impasto batch`` (cli/batch.py) through main(argv). The batch itself, its summary and its exit
codes: tests/apps/test_batch.py; its log: test_logs.py."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import FAST
from PIL import Image

from impasto.cli import main


def test_a_batch_writes_the_options_into_each_png(style_path: Path, tmp_path: Path) -> None:
    from impasto.config import from_png

    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    Image.new("RGB", (48, 32), (40, 90, 160)).save(photos / "a.png")
    assert main(["batch", str(photos), "example:swirls", "-o", str(out), *FAST, "--seed", "5"]) == 0
    config = from_png(out / "a.png")
    assert (config.size, config.iterations, config.seed, config.device) == (48, 3, 5, "cpu")
    with Image.open(out / "a.png") as image:
        assert 'from "a.png" in the style of "swirls.png"' in image.info["impasto"]


def test_a_jpeg_batch_output_is_made_again_from_the_options_it_carries(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    """A folder of holiday JPEGs: each output remembers how it was made, and ``--config`` on one of
    them makes the same picture (pixel for pixel) — with the iterations the machine chose written in."""
    import numpy as np

    photos = tmp_path / "in"
    photos.mkdir()
    Image.open(content_path).convert("RGB").save(photos / "holiday.jpg", quality=90)
    out = tmp_path / "out"
    assert (
        main(["batch", str(photos), str(style_path), "-o", str(out), "--size", "40", "--device", "cpu", "-q"])
        == 0
    )
    made = out / "holiday.jpg"
    again = tmp_path / "again.jpg"
    assert (
        main(["--config", str(made), str(photos / "holiday.jpg"), str(style_path), "-o", str(again), "-q"])
        == 0
    )
    with Image.open(made) as first, Image.open(again) as second:
        assert first.format == second.format == "JPEG"
        assert np.array_equal(np.asarray(first), np.asarray(second))
