"""``impasto [stylize] CONTENT STYLE… -o OUT`` and ``impasto demo`` (cli/stylize.py), through main(argv)
and as a real subprocess: the image written, its intermediates, Ctrl-C, a time budget, running out of
memory, the help, and the options saved with --save-config or in the PNG and read back with --config."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import FAST, cli_command, error_lines, run_cli
from PIL import Image

from children import ctrl_c_as_at_a_terminal
from impasto import __version__
from impasto.cli import main
from impasto.cli.progress import Feedback
from impasto.core.optimize import Progress


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


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_ctrl_c_saves_the_best_image_so_far(
    content_path: Path, style_path: Path, tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl-C, and a stop the system sends (SIGTERM: a shutdown, a supervisor; SIGHUP: the terminal
    closed), save the best image so far."""
    out = tmp_path / "out.png"
    process = subprocess.Popen(
        cli_command(
            content_path,
            style_path,
            "-o",
            out,
            "--size",
            "64",
            "--iterations",
            "100000",
            "--device",
            "cpu",
            "--log-every",
            "1",
        ),
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
    process.send_signal(stop)
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


def test_demo_paints_the_bundled_pair_anywhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), *FAST]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    with Image.open(out) as image:
        assert image.size == (48, 32)


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
    assert err == (
        f"impasto: error: {damaged}: cannot read the image, it is truncated or corrupt, or not a PNG, "
        "JPEG, WebP or TIFF\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.png", "plain.png"]


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


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_as_the_output_is_refused_before_the_run(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.png"
    os.mkfifo(out)
    done = run_cli(content_path, style_path, "-o", out, *FAST, timeout=60)
    assert done.returncode != 0 and error_lines(done.stderr) == [
        f"impasto: error: {out}: not a regular file (a pipe or a device); an image is written to a file"
    ]


@pytest.mark.slow
def test_an_output_carries_this_machines_defaults_and_how_the_run_ended(
    content_path: Path, style_path: Path, tmp_path: Path
) -> None:
    """Iterations left to the device (40 on a CPU, 500 on a GPU) and the size are written into the
    output, so that --config makes the same picture on another machine; a run cut short says so."""
    from impasto.config import DEFAULT_ITERATIONS, from_toml
    from impasto.io import files, images

    out = tmp_path / "out.jpg"
    assert (
        main([str(content_path), str(style_path), "-o", str(out), "--size", "40", "-q", "--device", "cpu"])
        == 0
    )
    carried = from_toml(out)
    assert carried.iterations == DEFAULT_ITERATIONS["cpu"] and carried.size == 40
    text = str(images.read_options(out))
    assert "ended early" not in text
    assert f'# sha256 of "{content_path.name}": {files.sha256(content_path)}' in text  # which file exactly
    assert f'# sha256 of "{style_path.name}": {files.sha256(style_path)}' in text
    cut = tmp_path / "cut.webp"
    argv = [str(content_path), str(style_path), "-o", str(cut), *FAST, "--iterations", "100000"]
    assert main([*argv, "--time-budget", "2"]) == 0
    text = str(images.read_options(cut))
    assert "# the run ended early (out of time after " in text and from_toml(cut).iterations == 100000
