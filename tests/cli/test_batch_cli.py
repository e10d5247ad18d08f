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
