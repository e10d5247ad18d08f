"""What every command shares (cli/common.py): a problem the user can fix is one line on stderr, no
traceback, and exit 1 (a failed run), 2 (bad arguments) or 130 (Ctrl-C); a mistyped option gets a
suggestion; nothing a run writes may be one of its inputs; a file that only records the run costs a
warning, not the picture. Mostly through the stylize command, which takes the most options."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
import torch
from cli_helpers import error_lines, run_cli
from PIL import Image

from impasto.cli import common, main
from impasto.errors import ConfigError, ImageError


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
        "unknown device": ([c, s, "-o", out, "--device", "tpu"], "unknown device 'tpu'"),
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
    lines = error_lines(captured.err)
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("impasto: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert not (tmp_path / "out.png").exists()


@pytest.mark.slow
def test_bad_input_in_a_subprocess_has_no_traceback(tmp_path: Path, style_path: Path) -> None:
    done = run_cli(tmp_path / "nope.jpg", style_path, "-o", tmp_path / "out.png")
    assert done.returncode == 1
    assert error_lines(done.stderr) == [f"impasto: error: {tmp_path / 'nope.jpg'}: no such file"]


def test_existing_output_survives_a_failed_run(content_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    Image.new("RGB", (5, 5), "red").save(out)
    before = out.read_bytes()
    assert main([str(content_path), str(tmp_path / "nope.png"), "-o", str(out)]) != 0
    assert out.read_bytes() == before


def test_each_command_names_its_own_help_and_offers_only_what_it_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["batch", str(tmp_path), "style.png", "-o", str(tmp_path / "out"), "--save-every", "2"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    # An option of impasto's that batch does not take says why (common.NOT_TAKEN), as the docs promise.
    assert error == f"impasto batch: error: no --save-every here: {common.NOT_TAKEN['batch']['save_every']}\n"
    with pytest.raises(SystemExit):
        main(["batch", str(tmp_path), "style.png", "-o", str(tmp_path / "out"), "--sizee", "2"])
    error = capsys.readouterr().err
    assert error.startswith("impasto batch: error: unrecognized arguments: --sizee 2; did you mean --size?")
    assert "(see impasto batch --help)" in error


def test_a_mistyped_option_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["a.png", "b.png", "-o", "c.png", "--style-wieght", "3"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "impasto: error: unrecognized arguments: --style-wieght 3; did you mean --style-weight? "
        "(see impasto --help)\n"
    )


def test_inputs_that_cannot_work_are_refused_in_one_line(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    panorama, thin, fifo = tmp_path / "panorama.png", tmp_path / "thin.png", tmp_path / "pipe.png"
    Image.new("RGB", (2000, 40), (90, 60, 30)).save(panorama)
    Image.new("RGB", (3, 700), (90, 60, 30)).save(thin)
    os.mkfifo(fifo)
    out = str(tmp_path / "out.png")
    cases = {
        "the content image is too thin: 2000×40": [str(panorama), str(style_path), "-o", out],
        "a style image is too thin: 3×700": [str(content_path), str(thin), "-o", out, "--size", "64"],
        "pipe.png: not a regular file": [str(fifo), str(style_path), "-o", out],
        "is a folder; --weights takes a weights file": [
            *map(str, (content_path, style_path)),
            "-o",
            out,
            "--weights",
            str(tmp_path),
        ],
        "is one of the inputs": [str(content_path), str(style_path), "-o", str(content_path)],
    }
    before = content_path.read_bytes()
    for message, argv in cases.items():
        assert main([*argv, "--iterations", "1", "-q"]) != 0
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error, error
    assert content_path.read_bytes() == before


def test_ctrl_c_in_a_batch_or_a_figure_stops_everything_with_130(
    content_path: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted is a KeyboardInterrupt, not an ImpastoError: a batch does not count the user's
    Ctrl-C as one failed image and go on, and a figure exits 130, not 1."""
    import impasto.apps.figures
    import impasto.errors
    import impasto.pipeline
    from impasto.core.optimize import RunResult

    assert not issubclass(impasto.Interrupted, impasto.errors.ImpastoError)
    calls = []

    def interrupted(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise impasto.Interrupted(RunResult(torch.zeros(1, 3, 8, 8), 1.0, 3, "interrupted"))

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.open(content_path).save(photos / name)
    monkeypatch.setattr(impasto.pipeline, "stylize_detailed", interrupted)
    assert main(["batch", str(photos), str(style_path), "-o", str(tmp_path / "out"), "-q"]) == 130
    assert len(calls) == 1  # stopped at the first image, not after trying the other two
    monkeypatch.setattr(impasto.apps.figures, "explain", interrupted)
    assert main(["explain", str(content_path), "-o", str(tmp_path / "fig.png"), "-q"]) == 130


def test_an_error_is_one_line_even_when_a_path_holds_a_newline(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no\nsuch" / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), "-q"]) != 0
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("impasto: error: ")


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (ConfigError("size must be ≥ 16"), 2, "impasto: error: size must be ≥ 16"),
        (ImageError("a.png: not an image"), 1, "impasto: error: a.png: not an image"),
        (KeyboardInterrupt(), 130, "impasto: error: interrupted; nothing written"),
        (MemoryError(), 1, "impasto: error: out of memory; try a smaller --size"),
    ],
)
def test_one_rule_maps_every_error_to_its_line_and_exit_code(
    error: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from impasto.cli.common import failed

    assert failed(error, "interrupted; nothing written") == code
    assert capsys.readouterr().err == line + "\n"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_no_file_a_run_writes_may_be_an_input(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o, --log-json, --save-config and --save-every's frames: never an input, also not through a
    link, nor two of them one file; refused in one line before anything is written."""
    photo, painting = tmp_path / "photo.png", tmp_path / "painting.png"
    photo.write_bytes(content_path.read_bytes())
    painting.write_bytes(style_path.read_bytes())
    options = tmp_path / "run.toml"
    options.write_text("seed = 3\n")
    (tmp_path / "log.jsonl").symlink_to(painting)
    os.link(photo, tmp_path / "photo copy.png")
    frame = tmp_path / "out_0001.png"
    frame.symlink_to(photo)
    out = str(tmp_path / "out.png")
    base = [str(photo), str(painting), "--dry-run", "-q"]
    cases = {
        "--log-json naming the photo": (["-o", out, "--log-json", str(photo)], "--log-json"),
        "--save-config naming the photo": (["-o", out, "--save-config", str(photo)], "--save-config"),
        "--log-json through a link": (["-o", out, "--log-json", str(tmp_path / "log.jsonl")], "--log-json"),
        "-o a hard link of the photo": (["-o", str(tmp_path / "photo copy.png")], "-o"),
        "--save-config over --config": (
            ["-o", out, "--config", str(options), "--save-config", str(options)],
            "--save-config",
        ),
        "--save-every over the photo": (["-o", out, "--save-every", "1"], "--save-every"),
    }
    before = {path: path.read_bytes() for path in (photo, painting, options)}
    listing = sorted(tmp_path.iterdir())
    for case, (argv, option) in cases.items():
        assert main([*base, *argv]) == 2, case
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and error.startswith(f"impasto: error: {option} "), (case, error)
        assert "is one of the inputs" in error, (case, error)
    assert main([*base, "-o", out, "--log-json", out]) == 2
    assert "--log-json" in (error := capsys.readouterr().err) and "is also the output of -o" in error
    assert {path: path.read_bytes() for path in before} == before
    assert sorted(tmp_path.iterdir()) == listing  # nothing written, no temporary file
    assert frame.is_symlink()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a disk that is always full)")
@pytest.mark.parametrize("option", ["--log-json", "--save-config"])
def test_a_log_that_cannot_be_written_costs_only_a_warning(
    option: str, content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The picture is what the run is for: a JSON log or an options file that fails to be written
    (here: the disk is full) is one warning line, and the picture is written all the same (exit 0)."""
    from impasto.io import files

    # Written where it is: a device is never replaced (as root, a rename over /dev/full would succeed).
    assert files.written_in_place(Path("/dev/full"))
    out = tmp_path / "out.png"
    argv = [str(content_path), str(style_path), "-o", str(out), "--size", "32", "--iterations", "1", "-q"]
    assert main([*argv, "--device", "cpu", option, "/dev/full"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: warning: cannot write the "), lines
    assert "/dev/full (No space left on device)" in lines[0]
    with Image.open(out) as image:
        assert image.size == (32, 21)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_name_cannot_break_a_printed_line_or_forge_one(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newline or an escape sequence in a file name is printed as Python writes it: the output's path
    stays one line, and a batch's log lines cannot be forged by a photo's name."""
    assert common.printable("a\nb\x1b[31mc\td é") == "a\\nb\\x1b[31mc\\td é"
    out = tmp_path / "out\nimpasto: error: forged.png"
    assert (
        main([str(content_path), str(style_path), "-o", str(out), "--size", "32", "--iterations", "1", "-q"])
        == 0
    )
    assert capsys.readouterr().out == common.printable(out) + "\n" and out.is_file()
    photos = tmp_path / "in"
    photos.mkdir()
    Image.open(content_path).save(photos / "x\nimpasto: [ 0.0 s] forged: done.png")
    argv = [
        "batch",
        str(photos),
        str(style_path),
        "-o",
        str(tmp_path / "o"),
        "--size",
        "32",
        "--iterations",
        "1",
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "x\\nimpasto: [ 0.0 s] forged: done.png" in err
    assert all("x\\nimpasto: [ 0.0 s] forged" in line for line in err.splitlines() if "forged" in line)
