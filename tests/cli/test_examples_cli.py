"""``impasto examples``: the bundled images, each with its role and absolute path, by the name
``example:NAME`` takes; and that name where other commands take an image."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import FAST
from PIL import Image

from impasto import examples
from impasto.cli import main


def test_examples_lists_each_bundled_image_with_its_role_and_path(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(examples.ROLES) == 2
    for line, (name, role) in zip(lines, examples.ROLES.items(), strict=True):
        label, listed_role, path = line.split(maxsplit=2)
        assert (label, listed_role) == (f"example:{name}", role)
        assert Path(path).is_absolute() and Path(path).is_file() and Path(path) == examples.path(name)
    assert [line.split()[0] for line in lines] == ["example:chelsea.png", "example:swirls.png"]


def test_examples_has_its_own_help_and_takes_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["examples", "--help"])
    assert done.value.code == 0 and "example:NAME" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["examples", "chelsea"])
    assert done.value.code == 2
    assert capsys.readouterr().err == (
        "impasto examples: error: unrecognized arguments: chelsea (see impasto examples --help)\n"
    )


def test_a_name_with_or_without_its_suffix_names_the_file() -> None:
    assert examples.path("chelsea.png") == examples.path("chelsea") == examples.CONTENT
    assert (
        examples.resolve("example:swirls") == examples.resolve(Path("example:swirls.png")) == examples.STYLE
    )
    assert examples.resolve("swirls.png") == "swirls.png"  # no prefix: a file like any other
    assert examples.resolve("./example:swirls.png") == "./example:swirls.png"


@pytest.mark.parametrize("name", ["nope", "", "../chelsea.png", "chelsea.PNG", "CREDITS.md"])
def test_an_unknown_name_is_one_line_listing_the_known_ones(name: str) -> None:
    from impasto.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        examples.resolve(f"example:{name}")
    assert str(error.value) == (
        f"unknown example {name!r}; the examples are chelsea.png, swirls.png (impasto examples lists them)"
    )


def test_preview_takes_examples_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "sketch.png"
    assert main(["preview", "example:chelsea.png", "example:swirls.png", "-o", str(out), "--size", "64"]) == 0
    with Image.open(out) as image:
        assert max(image.size) == 64
    assert main(["preview", "example:chelsea", "example:van-gogh", "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.endswith(
        "unknown example 'van-gogh'; the examples are chelsea.png, swirls.png (impasto examples lists them)\n"
    )


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
