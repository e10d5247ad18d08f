"""The package's face: what ``import impasto`` gives, and what it does not load."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import impasto

ROOT = Path(__file__).resolve().parent.parent


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


# The modules a script outside the package may use (docs/design.md, "The public API"); the rest are
# front ends (cli, web beyond make_server), adapters (distributed) or the pipeline's own steps' data.
PUBLIC = ("impasto", "impasto.config", "impasto.errors", "impasto.core", "impasto.io", "impasto.apps")
PUBLIC_MODULES = ("impasto.pipeline", "impasto.preview", "impasto.examples", "impasto.choices")


def imported_names(path: Path) -> list[tuple[str, str]]:
    """(module, name) of each ``from impasto… import name`` and (module, "") of each ``import impasto…``
    in the script at ``path``, at any depth."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("impasto"):
            found += [(node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("impasto")]
    return found


def is_public(module: str, name: str) -> bool:
    whole = f"{module}.{name}" if name else module
    if any(part.startswith("_") for part in whole.split(".")):
        return False
    if whole == "impasto":
        return True
    if module == "impasto" and name:  # from impasto import X: a name of __all__ or a public module
        return name in impasto.__all__ or f"impasto.{name}" in PUBLIC + PUBLIC_MODULES
    return any(whole == p or whole.startswith(p + ".") for p in PUBLIC[1:] + PUBLIC_MODULES)


@pytest.mark.parametrize("script", sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_the_benchmarks_use_the_public_api_only(script: Path) -> None:
    private = [f"{m}.{n}" if n else m for m, n in imported_names(script) if not is_public(m, n)]
    assert not private, f"{script.name} imports what the public API leaves out: {', '.join(private)}"


def test_the_public_api_check_can_fail() -> None:
    assert not is_public("impasto.cli.common", "fail")
    assert not is_public("impasto.pipeline", "_blend")
    assert not is_public("impasto", "distributed")
    assert is_public("impasto.core.losses", "gram") and is_public("impasto", "stylize")
