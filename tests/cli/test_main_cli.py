"""``impasto`` itself (cli/__init__.py, cli/__main__.py): which command an argv names, and what it
costs to ask for --help or --version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import FAST
from PIL import Image

from impasto import __version__
from impasto.cli import main


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


def test_impasto_help_names_a_commands_help_or_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """``impasto help`` is the reading of a new user, not a photo named help."""
    with pytest.raises(SystemExit) as done:
        main(["help", "batch"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("usage: impasto batch")
    with pytest.raises(SystemExit):
        main(["help"])
    assert "impasto help COMMAND" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["help", "explain"])
    assert capsys.readouterr().out.startswith("usage: impasto explain")
    assert main(["help", "bach"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "no command 'bach'; did you mean batch?" in error


def test_the_usage_line_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from impasto.cli import COMMANDS
    from impasto.cli.figures import FIGURES

    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out.split("\n\n", 1)[0]
    assert usage.startswith("usage: impasto CONTENT STYLE… -o OUTPUT")
    listed = usage.split("COMMAND:", 1)[1]
    assert sorted(name.strip() for name in listed.split(",")) == sorted([*COMMANDS, *FIGURES])


def test_a_ctrl_c_that_lands_anywhere_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second Ctrl-C while the first is handled (the probe saw a traceback once in 46 tries) ends the
    command with one line, as the first does."""
    import impasto.cli as cli

    def interrupted_while_saving(argv: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "stylize_main", interrupted_while_saving)
    monkeypatch.setitem(cli.COMMANDS, "batch", interrupted_while_saving)
    for argv in (["photo.jpg", "style.jpg", "-o", "out.png"], ["batch", "in", "style.jpg", "-o", "out"]):
        assert cli.main(argv) == 130
        assert capsys.readouterr().err == "impasto: interrupted\n"
