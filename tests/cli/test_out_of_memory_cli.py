"""Running out of memory, as ``impasto`` tells it (cli/stylize.py): after a scale, the image that scale
made is saved and the exit code says the run failed; before any, one line and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto.cli import main
from impasto.cli.progress import Feedback
from impasto.core.optimize import Progress


def _memory_spent_at(scale: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The device runs out of memory at the first iteration of ``scale`` (raised where the display
    hears of it, as an allocation inside the iteration would be)."""
    update = Feedback.update

    def update_or_fail(self: Feedback, progress: Progress) -> None:
        if progress.scale == scale:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        update(self, progress)

    monkeypatch.setattr(Feedback, "update", update_or_fail)


@pytest.mark.parametrize(("scale", "written"), [(2, True), (1, False)])
def test_out_of_memory_keeps_a_finished_scales_image_and_fails_in_one_line(
    scale: int,
    written: bool,
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _memory_spent_at(scale, monkeypatch)
    out = tmp_path / "out.png"
    argv = [str(content_path), str(style_path), "-o", str(out), "--size", "48", "--multiscale"]
    argv += ["--base-size", "32", "--iterations", "2", "--device", "cpu", "--init", "content", "-q"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("impasto: error: out of memory on cpu at ")
    assert err.rstrip().endswith(
        f"try a smaller size; saved it to {out}" if written else "try a smaller size"
    )
    assert out.exists() == written
    if written:
        with Image.open(out) as image:
            assert image.size == (48, 32)  # the output size, from scale 1's image
