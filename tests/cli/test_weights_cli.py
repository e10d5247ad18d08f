"""``impasto weights`` (cli/weights.py): ``list`` names each network and whether it is installed;
``install`` without a NAME is a usage error."""

from __future__ import annotations

import pytest

from impasto.cli import main


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
