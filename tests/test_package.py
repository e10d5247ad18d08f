"""The package's face: what ``import impasto`` gives, and what it does not load."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import impasto


@pytest.mark.slow
def test_importing_impasto_loads_no_torch_until_a_stylization_is_asked_for() -> None:
    code = (
        "import json, sys, impasto\n"
        "before = 'torch' in sys.modules\n"
        "impasto.stylize\n"
        "print(json.dumps([before, 'torch' in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, True]


@pytest.mark.parametrize("old", ["impasto.losses", "impasto.images", "impasto.batch", "impasto.tiles"])
def test_the_names_modules_had_before_1_0_are_gone(old: str) -> None:
    """1.0 moved them (impasto.core.losses, impasto.io.images, …); 1.5 dropped the old names, kept
    alive until then by an import hook: the project has no outside users to keep them for."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_the_public_names_answer() -> None:
    for name in impasto.__all__:
        assert getattr(impasto, name) is not None, name
