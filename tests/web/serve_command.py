"""``impasto serve`` as a child process, for the tests of the command itself (the address it prints, the
signals that stop it, what it leaves behind) rather than of a server in the test's own process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from children import ctrl_c_as_at_a_terminal


@dataclass
class Served:
    """A running ``impasto serve``."""

    process: subprocess.Popen[str]
    url: str  # the address it printed, e.g. "http://127.0.0.1:41234/"
    stderr: str = ""  # what it wrote on stderr that the test did not read, once it has ended


@contextmanager
def impasto_serve(*arguments: str, temp_dir: Path | None = None) -> Iterator[Served]:
    """``impasto serve --port 0 --device cpu`` and ``arguments``, once it has printed its address; at the
    end of the block it is killed if it still runs and its pipes are read to the end and closed.
    ``temp_dir``: its TMPDIR (where its upload folder goes)."""
    data = tempfile.mkdtemp(prefix="impasto-test-data-")
    process = subprocess.Popen(
        [sys.executable, "-m", "impasto.cli", "serve", "--port", "0", "--device", "cpu", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=ctrl_c_as_at_a_terminal,
        text=True,
        # Its results kept (--outputs' default, the user's data folder) in a folder of the test's own.
        env={
            **os.environ,
            "XDG_DATA_HOME": data,
            **({"TMPDIR": str(temp_dir)} if temp_dir is not None else {}),
        },
    )
    served = Served(process, url="")
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"impasto is running at (http://\S+)", line)
        assert match, line
        served.url = match.group(1)
        yield served
    finally:
        process.kill()
        _, served.stderr = process.communicate(timeout=60)  # and the pipes closed
        shutil.rmtree(data, ignore_errors=True)
