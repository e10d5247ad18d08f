"""The command line, through main(argv) and as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto import __version__
from impasto.cli import main
from impasto.errors import ConfigError, ImageError

FAST = ["--size", "48", "--iterations", "3", "--device", "cpu", "-q"]
# A progress line of a log (stderr not a terminal): what the run did before it failed, if it did.
LOG_LINE = re.compile(r"impasto: \[ *\d+\.\d s\] ")


def ctrl_c_as_at_a_terminal() -> None:
    """In the child, before it starts: SIGINT as a terminal delivers it. A test run from a background
    job inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress lines of a log, which come before an error: what is left of a
    failed run must be one line, the last."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if not LOG_LINE.match(line)]
    assert lines[len(lines) - len(errors) :] == errors, stderr  # the progress lines first
    return errors


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


@pytest.mark.slow
def test_subprocess_logs_its_progress(content_path: Path, style_path: Path, tmp_path: Path) -> None:
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
    # stderr is a pipe, not a terminal: plain lines with the loss terms instead of a bar
    assert "iteration 3/3: loss" in done.stderr and "style " in done.stderr and "\r" not in done.stderr
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


@pytest.mark.slow
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
            "--log-every",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=ctrl_c_as_at_a_terminal,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    seen = b""
    deadline = time.monotonic() + 120
    while b" iteration " not in seen and time.monotonic() < deadline:  # the optimization has started
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    assert b" iteration " in seen, seen
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=300)  # generous: a loaded machine is slow, not wrong
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


def test_help_and_version_answer_without_loading_torch() -> None:
    """The first thing a new user types answers at once: nothing behind --help or --version imports
    torch (a second, measured figure: 0.15 s for impasto --version on the 2-core development machine)."""
    script = (
        "import sys, contextlib, io\n"
        "from impasto.cli import main\n"
        "for argv in (['--version'], ['--help'], ['batch', '--help'], ['serve', '--version']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_python_dash_m_impasto_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "impasto", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"impasto {__version__}"


def test_a_photo_named_like_a_command_is_stylized(style_path: Path, tmp_path: Path) -> None:
    Image.new("RGB", (40, 30), (120, 80, 40)).save(tmp_path / "batch", format="PNG")
    out = tmp_path / "out.png"
    assert main(["stylize", str(tmp_path / "batch"), str(style_path), "-o", str(out), *FAST]) == 0
    assert out.exists()


def test_each_command_names_its_own_help_and_offers_only_what_it_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["batch", str(tmp_path), "style.png", "-o", str(tmp_path / "out"), "--save-every", "2"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("impasto batch: error: unrecognized arguments: --save-every 2")
    assert "(see impasto batch --help)" in error


@pytest.mark.slow
def test_a_log_file_gets_plain_lines_and_json_gets_every_iteration(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out, log = tmp_path / "out.png", tmp_path / "run.jsonl"
    done = run_cli(
        content_path, style_path, "-o", out, "--size", "40", "--iterations", "4", "--device", "cpu",
        "--log-every", "2", "--log-json", log,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if " iteration " in line]
    assert [line.split(" iteration ")[1].split(":")[0] for line in lines] == ["1/4", "2/4", "4/4"]
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr  # no bar, no cursor escape in a log
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["iteration"] for r in records] == [1, 2, 3, 4]
    assert {"loss", "content", "style", "seconds", "scale"} <= set(records[0])
    assert records[0]["loss"] == pytest.approx(records[0]["content"] + records[0]["style"], rel=1e-4)


def test_a_terminal_sees_what_happens_before_the_first_iteration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Status lines overwrite each other on one terminal line, which is cleared before anything else."""
    from impasto import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    feedback = cli.Feedback(quiet=False, log_every=None, log_json=None)
    feedback.status("loading the vgg19 weights")
    feedback.status("computing the targets")
    feedback.close()
    assert capsys.readouterr().err == (
        f"{cli.CLEAR_LINE}impasto: loading the vgg19 weights…{cli.CLEAR_LINE}impasto: computing the targets…"
        f"{cli.CLEAR_LINE}"
    )


def test_demo_paints_the_bundled_pair_anywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), *FAST]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as image:
        assert image.size == (48, 32)


def test_weights_lists_every_backbone_and_asks_which_to_install(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "list"]) == 0
    listed = capsys.readouterr().out
    assert [line.split()[0] for line in listed.splitlines()] == [
        "vgg16",
        "vgg19",
        "vgg19-torchvision",
        "magenta-style-predict",
        "magenta-style-transform",
    ]
    assert "arbitrary_transform.onnx" in listed  # the sketch's networks, installed with impasto
    assert "vgg19 " in listed and "installed: " in listed
    assert main(["weights", "install"]) == 2
    assert "impasto weights install NAME" in capsys.readouterr().err


def test_a_time_budget_ends_the_run_with_the_best_image_and_success(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    argv = [str(content_path), str(style_path), "-o", str(out), "--size", "40", "--device", "cpu", "-q"]
    assert main([*argv, "--iterations", "100000", "--time-budget", "0.5"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out) and "time budget of 0.5 s spent after" in captured.err
    assert out.exists()
    assert main([*argv, "--time-budget", "0"]) == 2


def test_a_gpu_by_number_is_checked_in_one_line(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    out = tmp_path / "out.png"
    code = main([str(content_path), str(style_path), "-o", str(out), "--device", "cuda:9", "-q"])
    error = capsys.readouterr().err.strip()
    if not torch.cuda.is_available() or torch.cuda.device_count() < 10:
        assert code == 1 and error.startswith("impasto: error: device cuda:9 is not available")
        assert "\n" not in error
    assert main([str(content_path), str(style_path), "-o", str(out), "--device", "gpu9"]) == 2
    assert "unknown device 'gpu9'" in capsys.readouterr().err


def test_save_config_then_config_repeats_a_run_and_flags_override_it(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "run.toml"
    first = [str(content_path), str(style_path), "--style-weight", "7", "--seed", "3", "--dry-run"]
    assert main([*first, "-o", str(tmp_path / "a.png"), "--save-config", str(saved)]) == 0
    assert "style_weight = 7.0" in saved.read_text() and "seed = 3" in saved.read_text()
    from impasto.cli import build_parser, config_from_args

    again = build_parser().parse_args([*first[:2], "-o", "b.png", "--config", str(saved), "--seed", "4"])
    config = config_from_args(again)
    assert config.style_weight == 7.0 and config.seed == 4  # from the file, and the flag wins
    (tmp_path / "broken.toml").write_text("size = \n")
    capsys.readouterr()
    assert main([*first[:2], "-o", str(tmp_path / "c.png"), "--config", str(tmp_path / "broken.toml")]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


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

    assert not issubclass(impasto.errors.Interrupted, impasto.errors.ImpastoError)
    calls = []

    def interrupted(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise impasto.errors.Interrupted(RunResult(torch.zeros(1, 3, 8, 8), 1.0, 3, "interrupted"))

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


def test_the_json_log_appears_whole_when_the_run_ends(
    content_path: Path, style_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written atomically: while the run goes on, the file at --log-json keeps what it held."""
    from impasto.cli import progress

    log = tmp_path / "run.jsonl"
    log.write_text("the last run's log\n")
    seen: list[str] = []
    update = progress.Feedback.update

    def watched(self: progress.Feedback, report: object) -> None:
        update(self, report)  # type: ignore[arg-type]
        seen.append(log.read_text())

    monkeypatch.setattr(progress.Feedback, "update", watched)
    out = tmp_path / "out.png"
    assert main([str(content_path), str(style_path), "-o", str(out), *FAST, "--log-json", str(log)]) == 0
    assert seen == ["the last run's log\n"] * 3
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "run.jsonl"]


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


def test_a_config_file_is_checked_as_the_flags_are(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value of the wrong type in --config: one line naming the file and the key, exit 2 (usage),
    nothing written; --save-config then --config gives back the same options, and the same file."""
    options, again = tmp_path / "run.toml", tmp_path / "again.toml"
    argv = [str(content_path), str(style_path), "-o", str(tmp_path / "out.png"), "--dry-run"]
    for text, message in [
        ("style_blend = 5", "style_blend must be an array of numbers, got 5"),
        ('multiscale = "false"', 'multiscale must be true or false, got "false"'),
        ("init = 5", "init must be a string, got 5"),
    ]:
        options.write_text(text + "\n")
        assert main([*argv, "--config", str(options), "--save-config", str(again)]) == 2
        assert capsys.readouterr().err == f"impasto: error: {options}: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.toml"]
    flags = ["--no-multiscale", "--style-layers", "relu1_1,relu2_1:0.123456789", "--learning-rate", "0.3"]
    assert main([*argv, *flags, "--seed", "5", "--save-config", str(options)]) == 0
    assert main([*argv, "--config", str(options), "--save-config", str(again)]) == 0
    assert again.read_text() == options.read_text()
    assert "multiscale = false" in options.read_text() and "relu2_1:0.123456789" in options.read_text()


def test_style_weights_that_overflow_are_refused_in_one_line(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--style-blend 1e308,1e308 overflowed to no style at all, and the run said "done"."""
    out = tmp_path / "out.png"
    argv = [str(content_path), str(style_path), str(style_path), "-o", str(out), *FAST]
    assert main([*argv, "--style-blend", "1e308,1e308"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("impasto: error: style_blend: the weights (1e+308, 1e+308) sum to more than")
    assert error.count("\n") == 1 and not out.exists()


def test_a_png_output_carries_its_options_and_config_makes_it_again(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """impasto … -o out.png writes the run's options into the PNG; impasto --config out.png reads the
    same StyleConfig back, and flags given beside it still win."""
    from impasto.cli import build_parser, config_from_args

    out = tmp_path / "out.png"
    flags = ["--size", "48", "--iterations", "1", "--style-weight", "7", "--preserve-colors", "luminance"]
    first = [str(content_path), str(style_path), "-o", str(out), *flags, "--device", "cpu", "-q"]
    assert main(first) == 0
    made = config_from_args(build_parser().parse_args(first))
    again = [str(content_path), str(style_path), "-o", str(tmp_path / "again.png"), "--config", str(out)]
    assert config_from_args(build_parser().parse_args(again)) == made
    assert config_from_args(build_parser().parse_args([*again, "--seed", "3"])) == made.with_options(seed=3)
    capsys.readouterr()
    assert main([*again, "--dry-run"]) == 0
    assert "48×32 px, 1 iterations" in capsys.readouterr().out
    with Image.open(out) as image:
        assert f'from "{content_path.name}" in the style of "{style_path.name}"' in image.info["impasto"]


def test_config_from_a_png_without_options_or_a_damaged_one_is_one_line(
    content_path: Path, style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, damaged = tmp_path / "plain.png", tmp_path / "damaged.png"
    Image.new("RGB", (8, 6)).save(plain)
    from impasto.io import images

    data = bytearray(images.png_bytes(Image.new("RGB", (8, 6)), options="size = 48\n"))
    data[data.index(b"size = 48")] ^= 0x01
    damaged.write_bytes(bytes(data))
    argv = [str(content_path), str(style_path), "-o", str(tmp_path / "out.png"), "--dry-run"]
    assert main([*argv, "--config", str(plain)]) == 2
    assert capsys.readouterr().err == (
        f"impasto: error: {plain} holds no impasto options (it was not made by impasto ≥ 1.4, or its "
        "metadata was stripped)\n"
    )
    assert main([*argv, "--config", str(damaged)]) == 2
    err = capsys.readouterr().err
    assert err == f"impasto: error: {damaged}: cannot read the PNG, it is truncated or corrupt\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.png", "plain.png"]


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


def test_examples_are_taken_by_name_wherever_an_image_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    assert main(["example:chelsea.png", "example:swirls.png", "-o", str(out), *FAST]) == 0
    with Image.open(out) as image:
        assert image.size == (48, 32)
    capsys.readouterr()
    argv = ["example:chelsea", "example:swirls", "-o", str(tmp_path / "b.png"), "--dry-run"]
    assert main([*argv, "--init", "example:swirls.png", "--content-mask", "example:chelsea.png"]) == 0
    assert "starting from example:swirls.png" in capsys.readouterr().out
    for wrong in (
        ["example:cat.jpg", "example:swirls"],
        ["example:chelsea", "example:swirls", "--init=example:x"],
    ):
        assert main([*wrong, "-o", str(tmp_path / "c.png"), "--dry-run"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("impasto: error: unknown example ") and err.count("\n") == 1
        assert "the examples are chelsea.png, swirls.png (impasto examples lists them)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
