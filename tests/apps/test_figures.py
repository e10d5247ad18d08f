from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto.apps.figures import PAD, grid
from impasto.cli import main


def test_grid_lays_out_equal_cells_with_labels() -> None:
    red, blue = Image.new("RGB", (30, 20), "red"), Image.new("RGB", (60, 40), "blue")
    figure = grid([[red, red, red], [blue, red, blue]], ["row one", "row two"], ["a", "b", "c"], "title")
    pixels = np.asarray(figure)
    # Every cell is 30 × 20 (the second row's 60 × 40 images were resized), right-aligned after labels.
    right = figure.width - PAD
    cell = pixels[figure.height - PAD - 20 : figure.height - PAD, right - 30 : right]
    assert (cell == [0, 0, 255]).all()
    assert figure.width > 3 * (30 + PAD)
    # The labels put dark pixels left of the cells.
    assert (pixels[:, : PAD * 3] < 100).any()


@pytest.mark.slow
def test_explain_writes_a_two_row_figure(content_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "explain.png"
    assert (
        main(["explain", str(content_path), "-o", str(out), "--size", "32", "--iterations", "3", "-q"]) == 0
    )
    with Image.open(out) as figure:
        assert figure.width > 5 * 32 and 2 * 32 < figure.height < 4 * 32 + 80


@pytest.mark.slow
def test_sweep_grid_has_a_cell_per_ratio_and_layer_set(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sweep.png"
    args = ["sweep", str(content_path), str(style_path), "-o", str(out), "--size", "32", "--iterations", "15"]
    assert main([*args, "--ratios", "0.01,100", "--layer-sets", "relu1_1;relu1_1,relu3_1", "-q"]) == 0
    with Image.open(out) as figure:
        pixels = np.asarray(figure.convert("RGB"), dtype=np.float64)
    # Two rows of two 32 × 21 cells: the style-heavy and content-heavy cells differ.
    bottom = figure.height - PAD
    heavy_style = pixels[
        bottom - 21 : bottom, figure.width - PAD - 2 * 32 - PAD : figure.width - 2 * PAD - 32
    ]
    heavy_content = pixels[bottom - 21 : bottom, figure.width - PAD - 32 : figure.width - PAD]
    assert np.abs(heavy_style - heavy_content).mean() > 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "missing.png", "-o", "x.png"], "no such file"),
        (["sweep", "a.png", "b.png", "-o", "x.png", "--ratios", "a,b"], "expected numbers"),
        (["explain", "a.png", "-o", "x.png", "--size", "0"], "size must be"),
    ],
)
def test_figure_bad_input(
    args: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(args)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    # In a log (stderr here is not a terminal) the figure's first line comes before its error.
    err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("impasto: [")]
    assert code != 0 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x.png").exists()


def test_a_figure_is_never_written_over_its_image(
    content_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(content_path.read_bytes())
    assert main(["explain", str(image), "-o", str(image), "-q"]) == 2
    error = capsys.readouterr().err
    assert error == f"impasto: error: -o {image} is one of the inputs; choose another path\n"
    assert image.read_bytes() == content_path.read_bytes()
