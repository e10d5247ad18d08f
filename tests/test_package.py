"""The package's face: modules that moved answer to their old names, with a warning that says where."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import impasto


@pytest.mark.slow
def test_every_moved_module_is_the_same_module_under_its_old_name() -> None:
    # In a fresh process, where none of them is imported yet.
    code = (
        "import importlib, json, warnings, impasto\n"
        "said = {}\n"
        "for old, new in impasto.MOVED.items():\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        module = importlib.import_module(old)\n"
        "    assert module is importlib.import_module(new), old\n"
        "    said[old] = [f'{w.category.__name__}: {w.message}' for w in caught]\n"
        "print(json.dumps(said))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    assert said == {
        old: [f"DeprecationWarning: {old} is now {new}; the old name goes in 2.0"]
        for old, new in impasto.MOVED.items()
    }


def test_from_impasto_import_an_old_name_warns_and_works() -> None:
    sys.modules.pop("impasto.batch", None)
    if "batch" in vars(impasto):
        delattr(impasto, "batch")
    with pytest.warns(DeprecationWarning, match=r"impasto\.batch is now impasto\.apps\.batch"):
        from impasto import batch
    assert batch.run_batch is importlib.import_module("impasto.apps.batch").run_batch
