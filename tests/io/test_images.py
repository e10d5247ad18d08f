"""Tests for impasto.io.images: every input mode to RGB, colour profiles, atomic writes, clear errors.

Every image is made here, in tmp_path; nothing is read from the repository.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from PIL import Image, ImageCms, ImageFile, PngImagePlugin

from impasto.errors import ImageError
from impasto.io import images

WHITE = (255, 255, 255)


# --- helpers -------------------------------------------------------------------------------------------


def pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    return np.asarray(image, dtype=np.uint8)


def assert_one_line_about(error: pytest.ExceptionInfo[ImageError], path: Path, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and "\r" not in message, message
    assert str(path) in message, message
    for word in words:
        assert word in message, message


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def with_colour_space(icc: bytes, space: bytes) -> bytes:
    """``icc`` with the colour space its header names replaced (bytes 16–19)."""
    return icc[:16] + space + icc[20:]


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def cmyk_profile() -> bytes:
    """A minimal ICC v2 CMYK printer profile. Paper is white, and pure cyan ink prints *red*
    (Lab 50, 60, 40), so a conversion through it is told apart from Pillow's naive CMYK → RGB."""
    grid = b""  # a 2×2×2×2 CLUT of Lab, first channel slowest, lut8 encoding (L·2.55, a+128, b+128)
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    if (c, m, y, k) == (0, 0, 0, 0):
                        grid += bytes([255, 128, 128])
                    elif (c, m, y, k) == (1, 0, 0, 0):
                        grid += bytes([128, 188, 168])
                    else:
                        grid += bytes([128, 128, 128])
    identity = bytes(range(256))
    matrix = b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + matrix + identity * 4 + grid + identity * 3
    desc = b"desc" + bytes(4) + struct.pack(">I", 5) + b"test\0" + bytes(4 + 4 + 2 + 1 + 67)
    d50 = _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + bytes(4) + d50), (b"cprt", b"text" + bytes(4) + b"x\0")]
    tags.append((b"A2B0", lut))
    offset = 128 + 4 + 12 * len(tags)
    table = body = b""
    for signature, data in tags:
        data += bytes(-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + bytes(4)
        + bytes([2, 0x10, 0, 0])  # version 2.1
        + b"prtrCMYKLab "
        + bytes(12)  # date
        + b"acsp"
        + bytes(4 + 4 + 4 + 4 + 8 + 4)  # platform, flags, maker, model, attributes, intent
        + d50
        + bytes(4 + 44)  # creator, id, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def png_header_only(width: int, height: int) -> bytes:
    """The start of an 8-bit grey PNG of ``width``×``height``: its header and a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64)))


def noise(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def saved(image: Image.Image, path: Path, **options: Any) -> Path:
    image.save(path, **options)
    return path


def stored(path: Path) -> Image.Image:
    """The file as Pillow itself reads it, to check that a test made the kind of file it meant to."""
    with Image.open(path) as image:
        image.load()
        return image


# --- reading: orientation and modes --------------------------------------------------------------------

# EXIF orientation → how the stored pixels (H, W, 3) must be turned to show the picture upright.
ORIENTATIONS: dict[int, Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    6: lambda a: np.rot90(a, k=-1),  # stored turned 90° anticlockwise: turn it clockwise
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    stored = (np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 13).astype(np.uint8)  # (H=2, W=3, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = saved(Image.fromarray(stored, "RGB"), tmp_path / "turned.png", exif=exif)
    loaded = images.load(path, max_pixels=10_000)
    expected = ORIENTATIONS[orientation](stored)
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == (expected.shape[1], expected.shape[0])
    np.testing.assert_array_equal(pixels(loaded.image), expected)


def test_exif_orientation_is_applied_to_jpeg(tmp_path: Path) -> None:
    stored = np.zeros((32, 64, 3), dtype=np.uint8)
    stored[:16, :16] = 255  # a white block top left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    path = saved(Image.fromarray(stored, "RGB"), tmp_path / "photo.jpg", exif=exif, quality=95)
    loaded = images.load(path, max_pixels=10_000)
    assert loaded.image.size == (32, 64)
    shown = pixels(loaded.image)
    assert shown[:16, -16:].min() > 240  # now top right
    assert shown[:16, :16].max() < 15


def test_rgba_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 255, 128]]], dtype=np.uint8)
    path = saved(Image.fromarray(rgba, "RGBA"), tmp_path / "alpha.png")
    got = pixels(images.load(path, max_pixels=100).image)
    assert got.shape == (1, 3, 3)
    assert tuple(got[0, 0]) == (255, 0, 0)
    assert tuple(got[0, 1]) == WHITE  # fully transparent red shows as white, not red or black
    np.testing.assert_allclose(got[0, 2], (127, 127, 255), atol=1)


def test_grey_with_alpha_is_composited_on_white(tmp_path: Path) -> None:
    la = np.array([[[0, 255], [0, 0], [200, 255]]], dtype=np.uint8)
    path = saved(Image.fromarray(la, "LA"), tmp_path / "grey_alpha.png")
    assert stored(path).mode == "LA"
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0], [(0, 0, 0), WHITE, (200, 200, 200)])


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [("La", (100, 128), (227, 227, 227)), ("RGBa", (100, 0, 50, 128), (227, 127, 177))],
)
def test_premultiplied_alpha_is_composited_on_white(
    mode: str, value: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    got = pixels(images.from_pil(Image.new(mode, (1, 1), value)).image)
    np.testing.assert_allclose(got[0, 0], expected, atol=1)


def palette_image() -> Image.Image:
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 - 3) * 3)
    image.putdata([0, 1, 2])
    return image


def test_palette_without_transparency(tmp_path: Path) -> None:
    path = saved(palette_image(), tmp_path / "palette.png")
    assert stored(path).mode == "P"
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0], [(255, 0, 0), (0, 255, 0), (0, 0, 255)])


@pytest.mark.parametrize("name", ["palette.png", "palette.gif"])
def test_palette_with_a_transparent_index(tmp_path: Path, name: str) -> None:
    path = saved(palette_image(), tmp_path / name, transparency=1)
    with Image.open(path) as reopened:
        assert reopened.mode == "P" and reopened.info.get("transparency") == 1
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0], [(255, 0, 0), WHITE, (0, 0, 255)])


def test_palette_with_alpha_per_entry(tmp_path: Path) -> None:
    path = saved(palette_image(), tmp_path / "palette.png", transparency=bytes([255, 0, 128]))
    got = pixels(images.load(path, max_pixels=100).image)
    assert tuple(got[0, 0]) == (255, 0, 0)
    assert tuple(got[0, 1]) == WHITE
    np.testing.assert_allclose(got[0, 2], (127, 127, 255), atol=1)


def test_grey_with_a_transparent_value(tmp_path: Path) -> None:
    grey = Image.fromarray(np.array([[0, 90]], dtype=np.uint8), "L")
    path = saved(grey, tmp_path / "keyed.png", transparency=0)
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0], [WHITE, (90, 90, 90)])


CMYK_INKS = [
    ((0, 0, 0, 0), WHITE),
    ((255, 0, 0, 0), (0, 255, 255)),
    ((0, 255, 0, 0), (255, 0, 255)),
    ((0, 0, 0, 255), (0, 0, 0)),
]


def test_cmyk_without_a_profile(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (len(CMYK_INKS), 1))
    cmyk.putdata([ink for ink, _ in CMYK_INKS])
    loaded = images.load(saved(cmyk, tmp_path / "print.tif"), max_pixels=100)
    assert loaded.image.mode == "RGB" and loaded.icc_profile is None
    np.testing.assert_array_equal(pixels(loaded.image)[0], [rgb for _, rgb in CMYK_INKS])


@pytest.mark.parametrize(("ink", "rgb"), CMYK_INKS)
def test_cmyk_jpeg_without_a_profile(tmp_path: Path, ink: tuple[int, ...], rgb: tuple[int, ...]) -> None:
    # Adobe CMYK JPEGs store inverted ink; a wrong reading turns white paper black.
    path = saved(Image.new("CMYK", (16, 16), ink), tmp_path / "print.jpg", quality=100)
    assert stored(path).mode == "CMYK"
    got = pixels(images.load(path, max_pixels=1_000).image)
    np.testing.assert_allclose(got.reshape(-1, 3).mean(axis=0), rgb, atol=3)


@pytest.mark.parametrize("name", ["print.tif", "print.jpg"])
def test_cmyk_with_a_profile_is_converted_through_it(tmp_path: Path, name: str) -> None:
    icc = cmyk_profile()
    cmyk = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    cmyk.paste((255, 0, 0, 0), (8, 0, 16, 8))  # right half: pure cyan ink
    path = saved(cmyk, tmp_path / name, icc_profile=icc, quality=100)
    assert stored(path).info.get("icc_profile") == icc
    loaded = images.load(path, max_pixels=1_000)
    assert loaded.icc_profile is None  # a CMYK profile does not describe the RGB output
    paper = pixels(loaded.image)[:, :8].reshape(-1, 3).mean(axis=0)
    cyan = pixels(loaded.image)[:, 8:].reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(paper, WHITE, atol=3)
    assert cyan[0] > 150 and cyan[1] < 60 and cyan[2] < 60, cyan  # red, as the profile says; naive: cyan


def test_cmyk_with_a_broken_profile_falls_back(tmp_path: Path) -> None:
    broken = with_colour_space(bytes(200), b"CMYK")
    path = saved(Image.new("CMYK", (2, 2), (255, 0, 0, 0)), tmp_path / "print.tif", icc_profile=broken)
    loaded = images.load(path, max_pixels=100)
    assert loaded.icc_profile is None
    np.testing.assert_array_equal(pixels(loaded.image)[0, 0], (0, 255, 255))


def test_16_bit_grey_is_scaled_down_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    path = saved(Image.fromarray(values), tmp_path / "deep.png")
    assert stored(path).mode == "I;16"
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0, :, 0], [0, 4, 128, 255])  # clipping would give 0, 255, 255, 255
    np.testing.assert_array_equal(got[..., 0], got[..., 2])


def test_16_bit_big_endian_grey_from_pil() -> None:
    big_endian = Image.frombytes("I;16B", (3, 1), np.array([0, 257, 65535], dtype=">u2").tobytes())
    got = pixels(images.from_pil(big_endian).image)
    np.testing.assert_array_equal(got[0, :, 1], [0, 1, 255])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0, 1000, 65535], [0, 4, 255]),  # 16-bit data in a 32-bit image: the 16-bit range
        ([0, 70_000, 140_000], [0, 128, 255]),  # beyond 16 bits: the brightest value is white
        ([-30_000, 0, 65535], [0, 0, 255]),  # negative: black, not wrapped round to grey
    ],
)
def test_32_bit_integer_grey(tmp_path: Path, values: list[int], expected: list[int]) -> None:
    path = saved(Image.fromarray(np.array([values], dtype=np.int32)), tmp_path / "deep.tif")
    assert stored(path).mode == "I"
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0, :, 0], expected)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([0.0, 127.5, 255.0], [0, 128, 255]),
        ([0.0, 1000.0, 65535.0], [0, 4, 255]),
        ([float("nan"), -1.0, 1.0], [0, 0, 255]),
    ],
)
def test_float_grey(tmp_path: Path, values: list[float], expected: list[int]) -> None:
    path = saved(Image.fromarray(np.array([values], dtype=np.float32)), tmp_path / "float.tif")
    assert stored(path).mode == "F"
    got = pixels(images.load(path, max_pixels=100).image)
    np.testing.assert_array_equal(got[0, :, 0], expected)


def test_8_bit_grey(tmp_path: Path) -> None:
    path = saved(Image.fromarray(np.array([[0, 77, 255]], dtype=np.uint8), "L"), tmp_path / "grey.png")
    got = pixels(images.load(path, max_pixels=100).image)
    assert got.shape == (1, 3, 3)
    np.testing.assert_array_equal(got[0], [(0, 0, 0), (77, 77, 77), WHITE])


def test_bilevel(tmp_path: Path) -> None:
    bilevel = Image.new("1", (3, 2), 0)
    bilevel.putpixel((1, 0), 1)
    path = saved(bilevel, tmp_path / "ink.png")
    assert stored(path).mode == "1"
    got = pixels(images.load(path, max_pixels=100).image)
    assert got.shape == (2, 3, 3)
    np.testing.assert_array_equal(got[0, :, 0], [0, 255, 0])
    assert got[1].max() == 0


def test_from_pil_converts_without_touching_the_original() -> None:
    original = Image.new("RGBA", (2, 1), (10, 20, 30, 0))
    loaded = images.from_pil(original)
    assert loaded.image.mode == "RGB" and loaded.image is not original
    np.testing.assert_array_equal(pixels(loaded.image)[0], [WHITE, WHITE])
    assert original.mode == "RGBA" and original.getpixel((0, 0)) == (10, 20, 30, 0)


# --- reading: colour profiles --------------------------------------------------------------------------


def test_rgb_profile_is_kept_exactly(tmp_path: Path) -> None:
    icc = srgb_profile()
    exif = Image.Exif()
    exif[0x0112] = 6  # turning the image must not lose the profile
    path = saved(noise(4, 2), tmp_path / "tagged.png", icc_profile=icc, exif=exif)
    loaded = images.load(path, max_pixels=100)
    assert loaded.icc_profile == icc
    assert loaded.image.size == (2, 4)


def test_rgb_profile_of_a_palette_image_is_kept(tmp_path: Path) -> None:
    icc = srgb_profile()
    path = saved(palette_image(), tmp_path / "tagged.png", icc_profile=icc)
    assert images.load(path, max_pixels=100).icc_profile == icc


@pytest.mark.parametrize(
    ("mode", "space"),
    [("RGB", b"CMYK"), ("RGB", b"GRAY"), ("L", b"GRAY"), ("L", b"RGB ")],
)
def test_profile_not_describing_rgb_pixels_is_dropped(tmp_path: Path, mode: str, space: bytes) -> None:
    icc = with_colour_space(srgb_profile(), space)
    path = saved(Image.new(mode, (2, 2)), tmp_path / "tagged.png", icc_profile=icc)
    assert stored(path).info.get("icc_profile") == icc
    assert images.load(path, max_pixels=100).icc_profile is None


# --- reading: errors -----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.png"
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=100)
    assert_one_line_about(error, path, "no such file")


def test_folder(tmp_path: Path) -> None:
    path = tmp_path / "folder.png"
    path.mkdir()
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=100)
    assert_one_line_about(error, path, "folder")


@pytest.mark.parametrize("content", [b"Dear diary,\nnot a picture.\n", b""])
def test_not_an_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "letter.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=100)
    assert_one_line_about(error, path, "not an image")


@pytest.mark.parametrize("name", ["cut.png", "cut.jpg"])
def test_truncated_image(tmp_path: Path, name: str) -> None:
    whole = saved(noise(64, 64), tmp_path / f"whole{Path(name).suffix}", quality=95).read_bytes()
    path = tmp_path / name
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=10_000)
    assert_one_line_about(error, path, "truncated or corrupt")


def test_corrupt_png_data(tmp_path: Path) -> None:
    data = bytearray(saved(noise(64, 64), tmp_path / "whole.png").read_bytes())
    data[data.find(b"IDAT") + 40] ^= 0xFF
    path = tmp_path / "corrupt.png"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=10_000)
    assert_one_line_about(error, path, "truncated or corrupt")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = saved(noise(2, 2), tmp_path / "private.png")

    def refuse(fp: object, *args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=100)
    assert_one_line_about(error, path, "Permission denied")


def test_decompression_bomb_is_refused_from_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(100_000, 100_000))

    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded before the size was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=1_000_000)
    assert_one_line_about(error, path, "100000×100000", "1,000,000", "--max-pixels")


def test_pixel_limit_is_ours_not_pillows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = saved(noise(20, 20), tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow's limit, far below ours
    loaded = images.load(path, max_pixels=400)  # exactly at our limit: accepted
    np.testing.assert_array_equal(pixels(loaded.image), pixels(noise(20, 20)))
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=399)
    assert_one_line_about(error, path, "20×20 = 400 pixels", "399")
    assert Image.MAX_IMAGE_PIXELS == 100


def test_a_large_header_under_our_limit_is_decoded(tmp_path: Path) -> None:
    # 10 Mpx is under both limits but says so only in its header; the data is missing, so the error
    # must come from decoding, not from a size check.
    path = tmp_path / "short.png"
    path.write_bytes(png_header_only(4000, 2500))
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=10_000_000)
    assert_one_line_about(error, path, "truncated or corrupt")


def test_decoded_memory_is_limited_from_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tiny PNG of 6000×6000 RGBA: few bytes on disk, 137 MiB decoded, 412 MiB at the conversion's peak.
    path = tmp_path / "wide.png"
    Image.new("RGBA", (6000, 6000)).save(path)

    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded before its cost was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(ImageError) as error:
        images.load(path, max_pixels=10**9, max_bytes=2**28)
    assert_one_line_about(error, path, "6000×6000", "RGBA", "412 MiB", "256 MiB", "--max-memory")
    assert images.decode_cost((6000, 6000), "RGBA") == 6000 * 6000 * 12
    assert images.decode_cost((6000, 6000), "L") < images.decode_cost((6000, 6000), "RGB")


def test_every_decode_honours_its_cap_per_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """16-bit grey costs more than its two bytes a pixel (numpy's float32 copies on the way to 8 bits):
    a 6000×6000 I;16 PNG was estimated at 343 MiB and took about 550. Refused from the header by
    load and by probe alike, before a byte is decoded."""
    path = tmp_path / "deep.png"
    Image.new("I;16", (6000, 6000)).save(path)
    with Image.open(path) as header:
        assert header.mode == "I;16"

    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded before its cost was checked")

    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    for read in (images.load, images.probe):
        with pytest.raises(ImageError) as error:
            read(path, 10**9, 500 * 2**20)
        assert_one_line_about(error, path, "6000×6000 px (I;16)", "618 MiB", "over the 500 MiB allowed")
    transparent = tmp_path / "keyed.png"  # a transparent grey value: composited on white, as alpha is
    Image.new("L", (6000, 6000)).save(transparent, transparency=0)
    with pytest.raises(ImageError, match="446 MiB"):
        images.load(transparent, 10**9, 300 * 2**20)
    assert images.decode_cost((6000, 6000), "L") == 6000 * 6000 * 8


# Modes and formats whose cost differs, each made at 2000×2000 px: (what, file name, mode, how to make it).
_MEASURED: list[tuple[str, str, Callable[[npt.NDArray[np.uint8]], Image.Image], dict[str, Any]]] = [
    ("L", "l.png", lambda g: Image.fromarray(g, "L"), {}),
    ("RGB", "rgb.png", lambda g: Image.fromarray(np.dstack([g, g.T, g[::-1]]), "RGB"), {}),
    ("RGBA", "rgba.png", lambda g: Image.fromarray(np.dstack([g, g.T, g[::-1], g]), "RGBA"), {}),
    ("LA", "la.png", lambda g: Image.fromarray(np.dstack([g, g.T]), "LA"), {}),
    ("P", "p.png", lambda g: Image.fromarray(g, "L").convert("P"), {}),
    ("P", "p-keyed.png", lambda g: Image.fromarray(g, "L").convert("P"), {"transparency": 3}),
    ("I;16", "i16.png", lambda g: Image.fromarray(g.astype(np.uint16) * 257), {}),
    ("I", "i.tif", lambda g: Image.fromarray(g.astype(np.int32) * 65793), {}),
    ("F", "f.tif", lambda g: Image.fromarray(g.astype(np.float32) / 255), {}),
    ("CMYK", "cmyk.jpg", lambda g: Image.fromarray(np.dstack([g, g.T, g[::-1]]), "RGB").convert("CMYK"), {}),
    (
        "RGB",
        "progressive.jpg",
        lambda g: Image.fromarray(np.dstack([g, g.T, g]), "RGB"),
        {"progressive": True, "subsampling": 0},
    ),
    (
        "RGBA",
        "rgba.webp",
        lambda g: Image.fromarray(np.dstack([g, g.T, g[::-1], g]), "RGBA"),
        {"quality": 50, "method": 0},
    ),
]

_MEASURE = """
import json, sys
from PIL import Image
from impasto.io import images

def peak():  # this process's peak resident memory (ru_maxrss would count its parent's, from the fork)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024

path = sys.argv[1]
with Image.open(path) as header:  # Pillow's plugin for the format is imported before the first mark
    size, mode, fmt, info = header.size, header.mode, header.format, dict(header.info)
before = peak()
images.load(path, max_pixels=10**9)
measured = peak() - before
print(json.dumps({"measured": measured, "estimated": images.decode_cost(size, mode, fmt, info)}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
def test_decode_cost_covers_the_measured_peak(tmp_path: Path) -> None:
    """The estimate from the header is at least the memory load() takes at its peak, measured for each
    mode (and the formats whose decoders hold more) as the growth of the peak resident memory of a
    process of its own, around one load of a 2000×2000 image."""
    grey = np.add.outer(np.arange(2000), np.arange(2000)).astype(np.uint8)  # (H, W): cheap to encode
    grey[::7] ^= 0x55  # and not too cheap to decode
    per_pixel = {}
    for mode, name, make, options in _MEASURED:
        path = saved(make(grey), tmp_path / name, **options)
        assert stored(path).mode == mode, name
        done = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        found = json.loads(done.stdout)
        per_pixel[name] = (round(found["measured"] / 4e6, 1), found["estimated"] / 4e6)
    under = {name: costs for name, costs in per_pixel.items() if costs[0] > costs[1]}
    assert not under, f"estimated below the measured peak (bytes per pixel, measured and estimated): {under}"
    assert per_pixel["rgba.png"][0] > 6  # the measure sees the conversion at all


def test_damaged_metadata_is_ignored_without_a_word(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "a camera maker long enough to live outside the tag"
    path = saved(noise(32, 24), tmp_path / "exif.jpg", exif=exif.tobytes())
    data = bytearray(path.read_bytes())
    start = data.find(b"Exif")
    data[start + 20 : start + 40] = b"\xff" * 20  # the tag table now points past the end of the file
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning Pillow gives would fail the load here
        loaded = images.load(path, max_pixels=10_000)
    assert loaded.image.size == (32, 24)


def test_warnings_stay_caught_only_while_loading(tmp_path: Path) -> None:
    path = saved(noise(8, 8), tmp_path / "fine.png")
    images.load(path, max_pixels=100)
    with pytest.warns(UserWarning, match="still heard"):
        warnings.warn("still heard", UserWarning, stacklevel=1)


def test_encoded_bytes_are_read_like_a_file(tmp_path: Path) -> None:
    data = saved(noise(20, 10), tmp_path / "n.png").read_bytes()
    np.testing.assert_array_equal(pixels(images.load(data, max_pixels=200).image), pixels(noise(20, 10)))
    with pytest.raises(ImageError, match=r"^image: cannot read the image"):
        images.load(data[: len(data) // 2], max_pixels=200)
    with pytest.raises(ImageError, match=r"^image: 20×10 = 200 pixels is over"):
        images.load(data, max_pixels=199)


def test_probe_decodes_without_converting(tmp_path: Path) -> None:
    path = saved(noise(30, 20), tmp_path / "n.png")
    assert images.probe(path, max_pixels=600) == (30, 20)
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        images.probe(cut, max_pixels=600)


# --- writing -------------------------------------------------------------------------------------------

FORMAT_CASES = [
    ("out.png", "PNG", True),
    ("out.PNG", "PNG", True),
    ("out.jpg", "JPEG", False),
    ("out.jpeg", "JPEG", False),
    ("out.webp", "WEBP", False),
    ("out.tif", "TIFF", True),
    ("out.tiff", "TIFF", True),
]


def gradient() -> Image.Image:
    x = np.linspace(0, 255, 32)
    y = np.linspace(0, 255, 16)[:, None]
    array = np.stack([np.broadcast_to(x, (16, 32)), np.broadcast_to(y, (16, 32)), np.full((16, 32), 90)])
    return Image.fromarray(np.round(array).astype(np.uint8).transpose(1, 2, 0), "RGB")


@pytest.mark.parametrize(("name", "fmt", "lossless"), FORMAT_CASES)
def test_save_writes_the_format_its_extension_names(
    tmp_path: Path, name: str, fmt: str, lossless: bool
) -> None:
    assert images.check_output(tmp_path / name) == (tmp_path / name, fmt)
    written = images.save(gradient(), tmp_path / name)
    assert written == tmp_path / name
    assert os.listdir(tmp_path) == [name]  # no temporary file left
    with Image.open(written) as reopened:
        assert reopened.format == fmt and reopened.size == (32, 16) and reopened.mode == "RGB"
        difference = np.abs(pixels(reopened).astype(int) - pixels(gradient()).astype(int))
    assert difference.max() == 0 if lossless else difference.mean() < 2


@pytest.mark.parametrize("name", [name for name, _, _ in FORMAT_CASES])
def test_save_keeps_an_rgb_profile(tmp_path: Path, name: str) -> None:
    icc = srgb_profile()
    with Image.open(images.save(gradient(), tmp_path / name, icc)) as reopened:
        assert reopened.info.get("icc_profile") == icc


def test_save_leaves_out_a_cmyk_profile(tmp_path: Path) -> None:
    with Image.open(images.save(gradient(), tmp_path / "out.jpg", cmyk_profile())) as reopened:
        assert reopened.info.get("icc_profile") is None


def test_loaded_profile_survives_a_round_trip(tmp_path: Path) -> None:
    icc = srgb_profile()
    loaded = images.load(saved(noise(8, 8), tmp_path / "in.jpg", icc_profile=icc), max_pixels=100)
    with Image.open(images.save(loaded.image, tmp_path / "out.webp", loaded.icc_profile)) as reopened:
        assert reopened.info.get("icc_profile") == icc


def test_save_replaces_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    images.save(gradient(), path)
    assert stored(path).size == (32, 16)
    assert os.listdir(tmp_path) == ["out.png"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_saved_file_gets_the_usual_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        path = images.save(gradient(), tmp_path / "out.png")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o640  # not mkstemp's private 0o600


@pytest.mark.parametrize("name", ["out.bmp", "out.png.txt", "out"])
def test_unknown_output_format(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with pytest.raises(ImageError) as error:
        images.save(gradient(), path)
    assert_one_line_about(error, path, "unknown output format", ".png", ".jpg", ".webp", ".tif")
    assert os.listdir(tmp_path) == []


def test_output_folder_missing(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "out.png"
    with pytest.raises(ImageError) as error:
        images.check_output(path)
    assert_one_line_about(error, path, "does not exist")


def test_output_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    path = tmp_path / "notes.txt" / "out.png"
    with pytest.raises(ImageError) as error:
        images.save(gradient(), path)
    assert_one_line_about(error, path, "is not a folder")


def test_output_path_is_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.mkdir()
    with pytest.raises(ImageError) as error:
        images.save(gradient(), path)
    assert_one_line_about(error, path, "is a folder")
    assert path.is_dir() and os.listdir(path) == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_output_path_is_a_pipe(tmp_path: Path) -> None:
    """A pipe named out.png: refused before the run (the run would end by blocking on it)."""
    path = tmp_path / "out.png"
    os.mkfifo(path)
    with pytest.raises(ImageError) as error:
        images.check_output(path)
    assert_one_line_about(error, path, "not a regular file")


def test_output_folder_not_writable_by_access_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    path = tmp_path / "out.png"
    with pytest.raises(ImageError) as error:
        images.check_output(path)
    assert_one_line_about(error, path, "not writable")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root writes anywhere")
def test_output_folder_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ImageError) as error:
            images.save(gradient(), folder / "out.png")
        assert_one_line_about(error, folder / "out.png", "not writable")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


def refuse_temp_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder refuses new files (as it would when read-only or full), even to root."""
    real_open = os.open

    def fake_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if str(path).endswith(".part"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)


def fail_while_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills up half way through the file."""

    def fake_save(self: Image.Image, fp: IO[bytes], *args: Any, **kwargs: Any) -> None:
        fp.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", fake_save)


def fail_to_rename(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_replace(source: Any, target: Any, **kwargs: Any) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "replace", fake_replace)


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (refuse_temp_files, "Permission denied"),
        (fail_while_encoding, "No space left on device"),
        (fail_to_rename, "Invalid cross-device link"),
    ],
)
def test_failed_write_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    failure: Callable[[pytest.MonkeyPatch], None],
    reason: str,
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"the previous result")
    failure(monkeypatch)
    with pytest.raises(ImageError) as error:
        images.save(gradient(), path)
    monkeypatch.undo()
    assert_one_line_about(error, path, "cannot write", reason)
    assert path.read_bytes() == b"the previous result"
    assert os.listdir(tmp_path) == ["out.png"]


def test_interrupted_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: Image.Image, fp: IO[bytes], *args: Any, **kwargs: Any) -> None:
        fp.write(b"half an image")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        images.save(gradient(), tmp_path / "out.png")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_mode_the_format_cannot_hold_is_an_image_error(tmp_path: Path) -> None:
    path = tmp_path / "out.jpg"
    with pytest.raises(ImageError) as error:
        images.save(Image.new("RGBA", (2, 2)), path)
    assert_one_line_about(error, path, "cannot write", "RGBA")
    assert os.listdir(tmp_path) == []


# --- many images ------------------------------------------------------------------------------------------


def test_expand_lists_a_folders_images_by_name_beside_the_images_given(tmp_path: Path) -> None:
    folder = tmp_path / "styles"
    folder.mkdir()
    for name in ("b.jpg", "a.PNG", "notes.txt"):
        (folder / name).write_bytes(b"")
    picture = Image.new("RGB", (4, 4))
    assert images.expand([folder, picture]) == [folder / "a.PNG", folder / "b.jpg", picture]
    assert images.expand(str(folder / "b.jpg")) == [str(folder / "b.jpg")]
    assert images.expand(picture) == [picture]


def test_expand_refuses_a_folder_without_images_and_nothing_at_all(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match=r"empty: the folder holds no images \(\.png, \.jpg"):
        images.expand([tmp_path / "empty"])
    with pytest.raises(ImageError, match=r"^no style image given$"):
        images.expand([], "style image")


# --- resizing and tensors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "long_side", "expected"),
    [
        ((400, 200), 100, (100, 50)),
        ((200, 400), 100, (50, 100)),
        ((300, 300), 64, (64, 64)),
        ((640, 427), 256, (256, 171)),  # 170.8 rounds up
        ((1000, 3), 100, (100, 1)),  # never below one pixel
        ((50, 20), 200, (200, 80)),  # enlarged too
    ],
)
def test_fit_keeps_the_aspect_ratio(size: tuple[int, int], long_side: int, expected: tuple[int, int]) -> None:
    resized = images.fit(Image.new("RGB", size, (10, 200, 30)), long_side)
    assert resized.size == expected
    assert resized.mode == "RGB"
    np.testing.assert_allclose(pixels(resized).reshape(-1, 3).mean(axis=0), (10, 200, 30), atol=1)


def test_fit_returns_an_image_of_the_right_size_unchanged() -> None:
    image = Image.new("RGB", (64, 32))
    assert images.fit(image, 64) is image


@pytest.mark.parametrize("long_side", [0, -5])
def test_fit_refuses_a_size_below_one_pixel(long_side: int) -> None:
    with pytest.raises(ValueError, match="long_side"):
        images.fit(Image.new("RGB", (8, 8)), long_side)


def every_byte_value() -> Image.Image:
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    return Image.fromarray(np.stack([values, values[::-1], values.T], axis=-1), "RGB")


def test_to_tensor_layout_and_range() -> None:
    image = every_byte_value()
    tensor = images.to_tensor(image)
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert tensor.min().item() == 0.0 and tensor.max().item() == 1.0
    assert tensor[0, :, 0, 1].tolist() == pytest.approx([1 / 255, 241 / 255, 16 / 255])  # (R, G, B)


def test_to_tensor_and_to_pil_round_trip_exactly() -> None:
    image = every_byte_value()
    back = images.to_pil(images.to_tensor(image))
    assert back.mode == "RGB" and back.size == image.size
    np.testing.assert_array_equal(pixels(back), pixels(image))
    np.testing.assert_array_equal(pixels(images.to_pil(images.to_tensor(image)[0])), pixels(image))


def test_to_pil_clips_and_maps_nan_to_black() -> None:
    tensor = torch.tensor([[[-0.5, 1.5, float("nan")]]] * 3, requires_grad=False)  # (3, 1, 3)
    np.testing.assert_array_equal(pixels(images.to_pil(tensor))[0, :, 0], [0, 255, 0])


def test_to_pil_accepts_a_tensor_that_needs_grad() -> None:
    tensor = torch.full((1, 3, 2, 2), 0.5, requires_grad=True)
    assert pixels(images.to_pil(tensor)).tolist() == [[[128] * 3] * 2] * 2


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 3, 4, 4), "batch of 2"),
        ((4, 4, 4), r"\(3, H, W\)"),
        ((1, 4, 4), r"\(3, H, W\)"),
        ((4, 4), r"\(3, H, W\)"),
        ((1, 1, 3, 4, 4), r"\(3, H, W\)"),
    ],
)
def test_to_pil_checks_the_shape(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        images.to_pil(torch.zeros(shape))


# --- the options a PNG carries, and example:NAME -------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_png_carries_the_options_it_is_saved_with(tmp_path: Path) -> None:
    """save() and png_bytes() write the options into an iTXt chunk named "impasto"; read_options reads
    them back; a PNG saved without them holds none."""
    options = '# made by impasto\nstyle_weight = 7.0\ninit = "ünïcode.png"\n'
    picture = Image.new("RGB", (8, 6), (10, 20, 30))
    saved = images.save(picture, tmp_path / "out.png", options=options)
    assert images.read_options(saved) == options
    assert b"iTXt" + images.OPTIONS_KEY.encode() + b"\0" in saved.read_bytes()
    in_memory = tmp_path / "memory.png"
    in_memory.write_bytes(images.png_bytes(picture, options=options))
    assert images.read_options(in_memory) == options
    with Image.open(in_memory) as image:  # the pixels are untouched by it
        assert pixels(image).tolist() == pixels(picture).tolist()
    assert images.read_options(images.save(picture, tmp_path / "plain.png")) is None
    (tmp_path / "plain-bytes.png").write_bytes(images.png_bytes(picture))
    assert images.read_options(tmp_path / "plain-bytes.png") is None


@pytest.mark.parametrize("suffix", [".jpg", ".webp", ".tif"])
def test_other_formats_carry_the_options_in_their_metadata(tmp_path: Path, suffix: str) -> None:
    """A JPEG's or WebP's EXIF UserComment, a TIFF's ImageDescription; any Unicode; and a text there
    that is not impasto's options (another program's comment) is not taken for them."""
    text = '# impasto options (impasto --config FILE)\n# from "café ☕ 👹.jpg"\nsize = 48\n'
    path = images.save(Image.new("RGB", (8, 6)), tmp_path / f"out{suffix}", options=text)
    assert images.read_options(path) == text
    with Image.open(path) as opened:
        assert opened.format in ("JPEG", "WEBP", "TIFF") and opened.size == (8, 6)
    other = images.save(Image.new("RGB", (8, 6)), tmp_path / f"other{suffix}", options="size = 48\n")
    assert images.read_options(other) is None


def test_options_are_read_without_decoding_the_pixels(tmp_path: Path) -> None:
    """A header that claims 100 000² px (a decompression bomb if decoded) with broken image data: the
    options before the image data are read all the same, at once."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    text = b"impasto\0\0\0\0\0size = 48\n"
    data = images.PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"iTXt", text)
    path = tmp_path / "bomb.png"
    path.write_bytes(data + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b""))
    assert images.read_options(path) == "size = 48\n"


def test_a_damaged_png_is_one_line_when_its_options_are_read(tmp_path: Path) -> None:
    good = images.png_bytes(Image.new("RGB", (8, 6)), options="size = 48\n")
    at = good.index(b"size = 48")
    flipped = bytearray(good)
    flipped[at] ^= 0x01  # the chunk's checksum no longer matches
    huge = PngImagePlugin.PngInfo()
    huge.add_itxt(images.OPTIONS_KEY, "#" * 2**21, zip=True)  # inflates past Pillow's MAX_TEXT_CHUNK
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6)).save(buffer, format="PNG", pnginfo=huge)
    for name, data in [
        ("flipped.png", bytes(flipped)),
        ("cut.png", good[:at]),
        ("cut-header.png", good[:20]),
        ("zipped-bomb.png", buffer.getvalue()),
        ("not-a-png.png", b"size = 48\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImageError) as error:
            images.read_options(path)
        assert_one_line_about(error, path, "cannot read the image")
    with pytest.raises(ImageError, match="no such file"):
        images.read_options(tmp_path / "missing.png")


def test_example_names_are_taken_wherever_an_image_is_read() -> None:
    from impasto import examples
    from impasto.errors import ConfigError

    loaded = images.load("example:chelsea.png", max_pixels=10**7)
    with Image.open(examples.CONTENT) as content, Image.open(examples.STYLE) as style:
        assert loaded.image.size == content.size
        assert images.probe(Path("example:swirls"), max_pixels=10**7) == style.size
    assert images.expand(["example:swirls.png", "example:chelsea"]) == [examples.STYLE, examples.CONTENT]
    with pytest.raises(ConfigError) as error:
        images.load("example:mona-lisa.png", max_pixels=10**7)
    assert str(error.value) == (
        "unknown example 'mona-lisa.png'; the examples are chelsea.png, swirls.png (impasto examples "
        "lists them)"
    )
