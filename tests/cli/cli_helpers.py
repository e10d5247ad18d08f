"""What the command-line tests share: a fast run's options, the CLI as a real subprocess, and the
reading of a failed run's stderr. (Named cli_helpers, not helpers: the test folders have no
__init__.py, so two helpers.py in two folders would be one module to pytest and to mypy.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# A small, short run: 48 px on the long side (48×32 from chelsea.png), 3 iterations, on the CPU, quiet.
FAST = ["--size", "48", "--iterations", "3", "--device", "cpu", "-q"]
# A progress line of a log (stderr not a terminal): what the run did before it failed, if it did.
LOG_LINE = re.compile(r"impasto: \[ *\d+\.\d s\] ")


def cli_command(*args: str | Path) -> list[str]:
    """The argv that runs ``impasto ARGS…`` in a fresh Python, as a user's shell would."""
    return [sys.executable, "-m", "impasto.cli", *map(str, args)]


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``impasto ARGS…`` run to its end in a subprocess; stdout and stderr captured as text."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=timeout, check=False)


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress lines of a log, which come before an error: what is left of a
    failed run must be one line, the last."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if not LOG_LINE.match(line)]
    assert lines[len(lines) - len(errors) :] == errors, stderr  # the progress lines first
    return errors
