"""A few hundred malformed and odd images through the one loader, as content and as style, and a few
hundred malformed options files through ``impasto --config``.

Every case is made here from a seeded generator: valid images of every mode and format Pillow writes,
then truncated, bit-flipped, with their size fields rewritten, chunks dropped or doubled, or replaced by
noise. Whatever a case is, impasto either reads it as an RGB image or refuses it with one line that
names the file — no other exception, nothing written, and the loader's memory stays within its limit.
The options files likewise: valid ones (as --save-config writes them, as a person writes them) with
values of every other type, truncated, bit-flipped, nested thousands deep, not UTF-8, with huge or
non-finite numbers and unknown keys; each is taken, or refused in one line (exit 2), never more.
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
import json, sys
from pathlib import Path
from impasto.io import images
from impasto.errors import ImpastoError

def peak_kib():  # this process's own peak (ru_maxrss would count its parent's memory, from the fork)
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1])

start = peak_kib()
for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        images.load(path, int(sys.argv[2]), int(sys.argv[3]))
    except ImpastoError:
        pass
print(json.dumps({"start_kib": start, "peak_kib": peak_kib()}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc (Linux)")
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


# --- options files -------------------------------------------------------------------------------------


def _config_seeds() -> dict[str, str]:
    """Valid options files: what --save-config writes, and the forms a person writes by hand."""
    from impasto.config import StyleConfig, to_toml

    saved = StyleConfig(
        size=48,
        iterations=2,
        multiscale=False,
        style_weight=12.5,
        tv_weight=0.001,
        style_layers=(("relu1_1", 1.0), ("relu2_1", 0.5)),
        style_blend=(2.0,),
        preserve_colors="luminance",
        init="content",
        optimizer="adam",
        learning_rate=0.05,
        device="cpu",
        seed=7,
        max_memory=2**30,
        max_upscale=4.0,
    )
    return {
        "saved.toml": to_toml(saved),
        "by-hand.toml": (
            "# a person's options\n"
            'style-weight = 5\nmax-memory = "1GB"\ncontent_layers = {relu4_2 = 1}\n'
            'style_layers = ["relu1_1", ["relu2_1", 0.5]]\npooling = "avg"\nmodel = "vgg19"\n'
        ),
        "short.toml": "size = 40\n",
        "empty.toml": "",
    }


# Values of every TOML type, and numbers no option takes: put in place of a seed's values.
_OTHER_VALUES = [
    "5", "-1", "0", "1.5", "-0.0", '"1"', '"false"', '""', "true", "false", "[1, 2]", '["a"]', "[[1]]", "[]",
    "{a = 1}", "{}", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "nan", "-nan", "inf", "-inf",
    "1e400", "-1e400", "9" * 400, "0x7fffffffffffffff", "-9223372036854775808", '"\\u0000"',
    '"relu9_9"', '"cuda:99"', "'''multi\nline'''", '"\\ud800"',
]  # fmt: skip


def config_cases() -> dict[str, bytes]:
    """A few hundred options files, the same on every run."""
    rng = random.Random(2027)
    seeds = _config_seeds()
    made = {name: text.encode() for name, text in seeds.items()}
    for name, text in seeds.items():
        stem = name.removesuffix(".toml")
        data = text.encode()
        lines = [line for line in text.splitlines() if "=" in line and not line.startswith("#")]
        for index in range(40 if lines else 0):  # one value of another type
            line = rng.choice(lines)
            key = line.split("=", 1)[0]
            made[f"{stem}-type{index}.toml"] = text.replace(
                line, f"{key}= {rng.choice(_OTHER_VALUES)}"
            ).encode()
        for cut in sorted({rng.randrange(len(data) + 1) for _ in range(6)} | {1}):  # truncated
            made[f"{stem}-cut{cut}.toml"] = data[:cut]
        for flip in range(10 if data else 0):  # bits flipped
            mutated = bytearray(data)
            for _ in range(1 + flip % 4):
                at = rng.randrange(len(mutated))
                mutated[at] ^= 1 << rng.randrange(8)
            made[f"{stem}-flip{flip}.toml"] = bytes(mutated)
        at = rng.randrange(len(data) + 1)
        made[f"{stem}-latin1.toml"] = data[:at] + b"# caf\xe9\n" + data[at:]  # not UTF-8
        made[f"{stem}-utf16.toml"] = text.encode("utf-16")
        made[f"{stem}-unknown.toml"] = data + b"style_wieght = 3\n[section]\nsize = 64\n"
        made[f"{stem}-twice.toml"] = data + b"seed = 1\nseed = 2\n"
        made[f"{stem}-dashes-twice.toml"] = data + b"tv_weight = 1.0\ntv-weight = 2.0\n"
    deep = 100_000
    made["deep-array.toml"] = b"size = " + b"[" * deep + b"]" * deep
    made["deep-table.toml"] = b"size = " + b"{a = " * deep + b"1" + b"}" * deep
    made["deep-keys.toml"] = b".".join(b"k" for _ in range(5000)) + b" = 1\n"
    made["deep-blend.toml"] = b"style_blend = " + b"[" * 500 + b"1" + b"]" * 500
    made["huge-integer.toml"] = b"seed = " + b"9" * 5000
    made["huge-file.toml"] = b"# " + b"x" * (2**20 + 10) + b"\nsize = 64\n"
    made["nul.toml"] = b"size = 64\x00\n"
    made["bom.toml"] = b"\xef\xbb\xbfsize = 40\n"
    return made


def test_the_config_corpus_is_a_few_hundred_cases() -> None:
    assert 200 <= len(config_cases()) <= 500


def test_every_options_file_is_taken_or_refused_in_one_line(tmp_path: Path) -> None:
    """The reading alone (impasto.config.from_toml): a StyleConfig, or a ConfigError of one line that
    names the file."""
    from impasto.config import StyleConfig, from_toml
    from impasto.errors import ConfigError

    taken = refused = 0
    for name, data in config_cases().items():
        path = tmp_path / name
        path.write_bytes(data)
        try:
            config = from_toml(path)
        except ConfigError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(str(path)), (name, message)
            refused += 1
        else:
            assert isinstance(config, StyleConfig), name
            taken += 1
    assert taken >= 15 and refused >= 150, (taken, refused)


@pytest.mark.slow
def test_the_command_line_takes_or_refuses_each_options_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each file through ``impasto --config FILE --dry-run`` in this process: exit 0, or one line on
    stderr (exit 2 when the file is what is wrong; 1 or 2 when a value it gives is refused later, as a
    device that is not there), never a traceback, and nothing written."""
    from impasto.core import tiling

    # A plan counts what the process already holds against --max-memory ("1GB" in some files): as a
    # fresh command would hold, not this test process after a whole suite's networks.
    monkeypatch.setattr(tiling, "resident_memory", lambda: 300 * 2**20)
    content, style = tmp_path / "photo.png", tmp_path / "painting.png"
    Image.new("RGB", (64, 48), (40, 90, 160)).save(content)
    Image.new("RGB", (64, 48), (200, 120, 30)).save(style)
    options, out = tmp_path / "options.toml", tmp_path / "out.png"
    codes: dict[int, int] = {}
    for name, data in config_cases().items():
        options.write_bytes(data)
        code = main([str(content), str(style), "-o", str(out), "--config", str(options), "--dry-run", "-q"])
        err = capsys.readouterr().err
        codes[code] = codes.get(code, 0) + 1
        if code == 0:
            assert err == "", (name, err)
        else:
            assert code in (1, 2) and err.count("\n") == 1 and err.startswith("impasto: error: "), (name, err)
            if err.startswith(f"impasto: error: {options}"):
                assert code == 2, (name, err)  # the file's fault: a usage error
        assert sorted(p.name for p in tmp_path.iterdir()) == ["options.toml", "painting.png", "photo.png"], (
            name
        )
    assert codes.get(0, 0) >= 15 and codes.get(2, 0) >= 150, codes
