"""The command line, through main(argv) and as a real subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from impasto import __version__
from impasto.cli import main

FAST = ["--size", "48", "--iterations", "3", "--device", "cpu", "-q"]


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "impasto.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_main_writes_the_image_and_prints_its_path(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jpg"
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (48, 32)
    assert [p.name for p in tmp_path.iterdir()] == ["out.jpg"]  # no temporary files left


def test_save_every_writes_numbered_intermediates(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    args = [str(content_path), str(style_path), "-o", str(out), "--size", "40", "--iterations", "4", "-q"]
    assert main([*args, "--save-every", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "out_0002.png", "out_0004.png"]


def test_subprocess_with_progress_bar(content_path: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.webp"
    done = run_cli(
        content_path,
        style_path,
        "-o",
        out,
        "--size",
        "40",
        "--iterations",
        "3",
        "--init",
        "noise",
        "--optimizer",
        "adam",
        "--style-layers",
        "relu1_1,relu2_1:0.5",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "3/3" in done.stderr and "style=" in done.stderr  # the tqdm bar with the loss terms
    with Image.open(out) as image:
        assert image.format == "WEBP"


def test_help_and_version() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for option in (
        "--size",
        "--iterations",
        "--content-weight",
        "--style-weight",
        "--tv-weight",
        "--init",
        "--optimizer",
        "--model",
        "--weights",
        "--pooling",
        "--content-layers",
        "--style-layers",
        "--device",
        "--precision",
        "--compile",
        "--seed",
        "--save-every",
        "--quiet",
    ):
        assert option in done.stdout
    assert "default: relu4_2" in done.stdout
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"impasto {__version__}"


def _bad_inputs(tmp_path: Path, content: Path, style: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(content.read_bytes()[:5000])
    out = str(tmp_path / "out.png")
    c, s = str(content), str(style)
    return {
        "missing file": ([str(tmp_path / "nope.jpg"), s, "-o", out], "no such file"),
        "not an image": ([c, str(text), "-o", out], "not an image"),
        "truncated": ([str(truncated), s, "-o", out], "truncated or corrupt"),
        "bomb": ([c, s, "-o", out, "--max-pixels", "1000"], "decompression bomb"),
        "zero size": ([c, s, "-o", out, "--size", "0"], "size must be"),
        "negative size": ([c, s, "-o", out, "--size", "-3"], "size must be"),
        "absurd size": ([c, s, "-o", out, "--size", "999999"], "size must be"),
        "zero iterations": ([c, s, "-o", out, "--iterations", "0"], "iterations must be"),
        "not a number": ([c, s, "-o", out, "--iterations", "many"], "invalid int value"),
        "unknown layer": ([c, s, "-o", out, "--style-layers", "relu1_1,relu6_1"], "unknown layer"),
        "typo in layer": ([c, s, "-o", out, "--content-layers", "relu4-2"], "did you mean relu4_2"),
        "missing folder": ([c, s, "-o", str(tmp_path / "no" / "out.png")], "does not exist"),
        "unknown format": ([c, s, "-o", str(tmp_path / "out.bmpx")], "unknown output format"),
        "unknown device": ([c, s, "-o", out, "--device", "tpu"], "invalid choice"),
        "unavailable device": ([c, s, "-o", out, "--device", "cuda"], "cuda is not available"),
        "missing weights": ([c, s, "-o", out, "--weights", str(tmp_path / "w.h5")], "weights file not found"),
        "corrupt weights": ([c, s, "-o", out, "--weights", str(text)], "cannot read weights"),
        "bad init": ([c, s, "-o", out, "--init", "sparkles"], "init must be"),
        "no output": ([c, s], "required: -o/--output"),
        "bad memory": ([c, s, "-o", out, "--max-memory", "lots"], "expected a size like 2GB"),
        "bad blend": ([c, s, "-o", out, "--style-blend", "a,b"], "expected numbers"),
        "blend count": ([c, s, "-o", out, "--style-blend", "1,2"], "2 weights for 1 style"),
        "bad colors": ([c, s, "-o", out, "--preserve-colors", "sepia"], "invalid choice"),
        "bad precision": ([c, s, "-o", out, "--precision", "fp8"], "invalid choice"),
        "bad compile": ([c, s, "-o", out, "--compile", "maybe"], "invalid choice"),
    }


CASES = [
    "missing file",
    "not an image",
    "truncated",
    "bomb",
    "zero size",
    "negative size",
    "absurd size",
    "zero iterations",
    "not a number",
    "unknown layer",
    "typo in layer",
    "missing folder",
    "unknown format",
    "unknown device",
    "unavailable device",
    "missing weights",
    "corrupt weights",
    "bad init",
    "no output",
    "bad memory",
    "bad blend",
    "blend count",
    "bad colors",
    "bad precision",
    "bad compile",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_line_and_a_non_zero_exit(
    case: str, content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args, message = _bad_inputs(tmp_path, content_path, style_path)[case]
    try:
        defaults = {"--size": "32", "--iterations": "1"}  # fast, where the case sets neither
        code = main([*args, *(x for k, v in defaults.items() if k not in args for x in (k, v))])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    assert code != 0
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("impasto: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out.png").exists()


def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path: Path, style_path: Path) -> None:
    done = run_cli(tmp_path / "nope.jpg", style_path, "-o", tmp_path / "out.png")
    assert done.returncode == 1
    assert done.stderr.strip() == f"impasto: error: {tmp_path / 'nope.jpg'}: no such file"


def test_existing_output_survives_a_failed_run(content_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    Image.new("RGB", (5, 5), "red").save(out)
    before = out.read_bytes()
    assert main([str(content_path), str(tmp_path / "nope.png"), "-o", str(out)]) != 0
    assert out.read_bytes() == before


def test_ctrl_c_saves_the_best_image_so_far(content_path: Path, style_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impasto.cli",
            str(content_path),
            str(style_path),
            "-o",
            str(out),
            "--size",
            "64",
            "--iterations",
            "100000",
            "--device",
            "cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while b"impasto 64" not in seen and time.monotonic() < deadline:  # the progress bar has started
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b"impasto 64" in seen, seen
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    last_line = rest.decode().strip().splitlines()[-1]
    assert process.returncode == 130
    assert "interrupted after" in last_line and str(out) in last_line
    with Image.open(out) as image:
        image.load()
        assert image.size == (64, 43)


def test_several_styles_with_a_mask_and_colours(content_path: Path, style_path: Path, tmp_path: Path) -> None:
    mask = tmp_path / "mask.png"
    Image.new("L", (451, 300), 255).crop((0, 0, 200, 300)).resize((451, 300)).save(mask)
    out = tmp_path / "out.png"
    args = [str(content_path), str(style_path), str(content_path), "-o", str(out), *FAST]
    args += ["--content-mask", str(mask), "--style-blend", "1,1", "--preserve-colors", "luminance"]
    assert main(args) == 0
    with Image.open(out) as image:
        assert image.size == (48, 32)
