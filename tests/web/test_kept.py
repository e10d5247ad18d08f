"""The outputs folder of ``impasto serve`` (web/kept.py) as a library: what survives hands and
restarts. Its use through the server is in test_server.py and test_browser.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from impasto.web.kept import Full, Kept


def fields(**changed: Any) -> dict[str, Any]:
    base = {
        "names": ("holiday.jpg", ["waves.png"]),
        "request": {"content": "upload:a1", "styles": [{"image": "example:swirls.png", "weight": 1}]},
        "state": "done",
        "message": "",
        "elapsed": 1.5,
        "command": "impasto holiday.jpg example:swirls.png",
        "size": (48, 32),
        "job": "j1",
    }
    return {**base, **changed}


def test_a_folder_read_again_shows_what_is_still_there(tmp_path: Path) -> None:
    photo = tmp_path / "a1.jpg"
    photo.write_bytes(b"the photo")
    kept = Kept(tmp_path / "out", 10**6)
    first = kept.keep(b"picture one", "holiday-in-waves.png", {"upload:a1": photo}, fields())
    kept.keep(b"picture two", "holiday-in-waves.png", {"upload:a1": photo}, fields(job="j2"))
    [(_, newest), (_, oldest)] = kept.records()
    assert (newest.file, oldest.file) == ("holiday-in-waves-2.png", "holiday-in-waves.png")
    reference = oldest.request["content"]
    found = kept.input(reference)
    assert found is not None and found[0].read_bytes() == b"the photo" and found[1] == "holiday.jpg"
    assert kept.of_job("j1") == first

    (tmp_path / "out" / "holiday-in-waves-2.png").unlink()  # removed by hand
    (tmp_path / "out" / ".impasto" / "history" / "stray.png.json").write_text("{not json")
    half_written = tmp_path / "out" / ".holiday-in-waves-3.png.0badcafe.part"  # a server killed meanwhile
    half_written.write_bytes(b"half a pic")
    again = Kept(tmp_path / "out", 10**6)
    assert not half_written.exists()
    assert [record.file for _, record in again.records()] == ["holiday-in-waves.png"]
    assert again.used == sum(
        p.stat().st_size
        for p in [
            tmp_path / "out" / "holiday-in-waves.png",
            tmp_path / "out" / ".impasto" / "history" / "holiday-in-waves.png.json",
            found[0],
        ]
    )
    assert again.input("kept:" + "0" * 64) is None and again.input("kept:../../etc") is None


def test_past_its_cap_nothing_is_written(tmp_path: Path) -> None:
    kept = Kept(tmp_path / "out", 100)
    with pytest.raises(Full, match="would pass its limit"):
        kept.keep(b"x" * 200, "big.png", {}, fields())
    assert not list((tmp_path / "out").glob("*.png")) and kept.records() == []
