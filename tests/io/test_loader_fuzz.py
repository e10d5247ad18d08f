"""A few hundred malformed and odd images through the one loader, as content and as style.

Every case is made here from a seeded generator: valid images of every mode and format Pillow writes,
then truncated, bit-flipped, with their size fields rewritten, chunks dropped or doubled, or replaced by
noise. Whatever a case is, impasto either reads it as an RGB image or refuses it with one line that
names the file — no other exception, nothing written, and the loader's memory stays within its limit.
"""

from __future__ import annotations

import io
import json
import random
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from impasto.cli import main
from impasto.errors import ImpastoError
from impasto.io import images
from impasto.pipeline import prepare

MAX_PIXELS = 4_000_000
MAX_BYTES = 64 * 2**20  # decoding one case may take at most this much memory


def _seeds() -> dict[str, bytes]:
    """Small valid images: one per mode and format worth telling apart."""
    rng = np.random.default_rng(7)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), "RGB")
    grey = rgb.convert("L")
    cases: dict[str, tuple[Image.Image, str, dict[str, Any]]] = {
        "rgb.png": (rgb, "PNG", {}),
        "rgba.png": (rgb.convert("RGBA"), "PNG", {}),
        "la.png": (grey.convert("LA"), "PNG", {}),
        "p.png": (rgb.convert("P"), "PNG", {"transparency": 0}),
        "bilevel.png": (grey.convert("1"), "PNG", {}),
        "i16.png": (Image.fromarray(rng.integers(0, 65536, (24, 32), dtype=np.uint16)), "PNG", {}),
        "rgb.jpg": (rgb, "JPEG", {"quality": 80}),
        "grey.jpg": (grey, "JPEG", {}),
        "cmyk.jpg": (rgb.convert("CMYK"), "JPEG", {}),
        "progressive.jpg": (rgb, "JPEG", {"progressive": True}),
        "rgb.webp": (rgb, "WEBP", {}),
        "rgba.webp": (rgb.convert("RGBA"), "WEBP", {"lossless": True}),
        "rgb.tif": (rgb, "TIFF", {"compression": "tiff_deflate"}),
        "float.tif": (Image.fromarray(rng.random((24, 32), dtype=np.float32)), "TIFF", {}),
        "cmyk.tif": (rgb.convert("CMYK"), "TIFF", {}),
        "p.gif": (rgb.convert("P"), "GIF", {}),
        "rgb.bmp": (rgb, "BMP", {}),
    }
    seeds = {}
    for name, (image, fmt, options) in cases.items():
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **options)
        seeds[name] = buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6  # turned: the loader must apply it
    exif[0x010F] = "a maker's name long enough to sit outside the tag table"
    buffer = io.BytesIO()
    rgb.save(buffer, format="JPEG", exif=exif.tobytes())
    seeds["exif.jpg"] = buffer.getvalue()
    return seeds


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _sized_png(width: int, height: int, colour_type: int = 2) -> bytes:
    """A PNG whose header claims ``width``×``height`` over a few bytes of data (valid CRCs)."""
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    body = zlib.compress(bytes(4096))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", body)
        + _png_chunk(b"IEND", b"")
    )


def cases() -> dict[str, bytes]:
    """About three hundred cases, the same on every run."""
    rng = random.Random(2026)
    seeds = _seeds()
    made = dict(seeds)
    for name, data in seeds.items():
        stem, suffix = name.rsplit(".", 1)
        for cut in (0, 1, 8, 16, 33, len(data) // 3, len(data) // 2, len(data) - 1):
            made[f"{stem}-cut{cut}.{suffix}"] = data[:cut]
        for flip in range(8):
            mutated = bytearray(data)
            for _ in range(1 + flip):
                at = rng.randrange(len(mutated))
                mutated[at] ^= 1 << rng.randrange(8)
            made[f"{stem}-flip{flip}.{suffix}"] = bytes(mutated)
        for block in range(2):
            mutated = bytearray(data)
            at = rng.randrange(8, max(9, len(mutated) - 16))
            mutated[at : at + 16] = bytes(rng.randrange(256) for _ in range(16))
            made[f"{stem}-block{block}.{suffix}"] = bytes(mutated)
        made[f"{stem}-doubled.{suffix}"] = data + data
    for width, height in [
        (1, 1),
        (1, 10000),
        (10000, 1),
        (3, 700),
        (2000, 40),
        (0, 5),
        (2**31 - 1, 2**31 - 1),
    ]:
        made[f"sized-{width}x{height}.png"] = _sized_png(width, height)
    made["bomb-rgba.png"] = _sized_png(20000, 20000, colour_type=6)  # 400 Mpx
    made["dear-diary.jpg"] = b"Dear diary,\nnot a picture.\n"
    made["empty.png"] = b""
    for index in range(6):
        made[f"noise{index}.png"] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2000)))
    made["png-magic-only.png"] = b"\x89PNG\r\n\x1a\n"
    made["jpeg-magic-only.jpg"] = b"\xff\xd8\xff\xe0"
    return made


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    for name, data in cases().items():
        (folder / name).write_bytes(data)
    return folder


def test_the_corpus_is_a_few_hundred_cases() -> None:
    assert 250 <= len(cases()) <= 500


def _check(path: Path, outcome: object) -> None:
    """``outcome`` of loading ``path``: an RGB image, or an ImpastoError of one line naming the file."""
    if isinstance(outcome, ImpastoError):
        message = str(outcome)
        assert "\n" not in message and "\r" not in message, (path.name, message)
        assert path.name in message or "too thin" in message, (path.name, message)
    else:
        assert isinstance(outcome, images.LoadedImage), (path.name, outcome)
        assert outcome.image.mode == "RGB" and min(outcome.image.size) >= 1


def test_every_case_is_read_or_refused_in_one_line(corpus: Path) -> None:
    read = refused = 0
    for path in sorted(corpus.iterdir()):
        try:
            outcome: object = images.load(path, MAX_PIXELS, MAX_BYTES)
            read += 1
        except ImpastoError as error:
            outcome = error
            refused += 1
        _check(path, outcome)
    assert read >= 17 and refused >= 150, (read, refused)  # the seeds at least are read


@pytest.mark.slow
def test_every_case_as_content_and_as_style(corpus: Path, content_path: Path, style_path: Path) -> None:
    """The whole preparation of a run (loading, the plan, the checks on thin images), both roles."""
    for path in sorted(corpus.iterdir()):
        for content, style in ((path, style_path), (content_path, path)):
            try:
                prepare(content, style, size=64, device="cpu", max_pixels=MAX_PIXELS)
            except ImpastoError as error:
                message = str(error)
                assert "\n" not in message, (path.name, message)
                named = path.name in message or "content image" in message or "style image" in message
                assert named, (path.name, message)


@pytest.mark.slow
def test_the_command_line_says_one_line_and_writes_nothing(
    corpus: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = [p for p in sorted(corpus.iterdir()) if "-cut" in p.name or "-flip" in p.name][::12]
    assert len(broken) >= 10
    for path in broken:
        out = tmp_path / "out.png"
        code = main([str(path), str(style_path), "-o", str(out), "--size", "32", "--iterations", "1", "-q"])
        err = capsys.readouterr().err
        if code == 0:  # a flipped bit the decoder did not notice: a picture all the same
            assert out.is_file()
            out.unlink()
            continue
        assert code in (1, 2) and err.count("\n") == 1 and err.startswith("impasto: error: "), (
            path.name,
            err,
        )
        assert list(tmp_path.iterdir()) == [], path.name  # no output, no temporary file


LOADER = """
import json, resource, sys
from pathlib import Path
from impasto.io import images
from impasto.errors import ImpastoError
start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        images.load(path, int(sys.argv[2]), int(sys.argv[3]))
    except ImpastoError:
        pass
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"start_kib": start, "peak_kib": peak}))
"""


@pytest.mark.slow
def test_the_loader_stays_within_its_memory_limit(corpus: Path) -> None:
    """In a process of its own, so its peak is the loader's: the cases (a 400 Mpx bomb, 10000-px
    strips among them) raise the peak by no more than the decoding limit."""
    done = subprocess.run(
        [sys.executable, "-c", LOADER, str(corpus), str(MAX_PIXELS), str(MAX_BYTES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not one warning from Pillow
    memory = json.loads(done.stdout)
    assert (memory["peak_kib"] - memory["start_kib"]) * 1024 < MAX_BYTES
