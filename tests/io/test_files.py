"""impasto.io.files: which paths an output may not be, and atomic writing through links and pipes."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from PIL import Image

from impasto.errors import ConfigError
from impasto.io import files, images


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (8, 6), (200, 100, 50)).save(path)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_an_output_that_is_an_input_is_refused_however_it_is_reached(photo: Path, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "soft.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    ways = {
        "the same name": photo,
        "another spelling": tmp_path / "sub" / ".." / "photo.png",
        "a symbolic link": tmp_path / "soft.png",
        "a hard link": tmp_path / "hard.png",
    }
    for way, output in ways.items():
        with pytest.raises(ConfigError, match=r"^--log-json .* is one of the inputs") as error:
            files.check_outputs([("--log-json", output)], [photo])
        assert "\n" not in str(error.value), way
    missing = tmp_path / "later.png"  # an input that is not there yet is not written in its place either
    with pytest.raises(ConfigError, match="is one of the inputs"):
        files.check_outputs([("-o", missing)], [missing])
    files.check_outputs([("-o", tmp_path / "out.png"), ("--log-json", tmp_path / "log.jsonl")], [photo])


def test_two_outputs_may_not_be_one_file(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    with pytest.raises(ConfigError, match=r"^--save-config .*out\.png is also the output of -o; choose"):
        files.check_outputs([("-o", out), ("--save-config", tmp_path / "sub" / ".." / "out.png")], [photo])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    """The file a link leads to gets the new content, atomically; the link stays a link."""
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "3.png"
    target.write_bytes(b"the previous result")
    link = tmp_path / "latest.png"
    link.symlink_to(target)
    images.save(Image.new("RGB", (4, 4), "red"), link)
    assert link.is_symlink() and link.resolve() == target
    with Image.open(target) as written:
        assert written.size == (4, 4)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["3.png", "latest.png", "runs"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    pipe = tmp_path / "log.fifo"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # open first: the writer's open does not wait
    try:
        assert files.unwritable(pipe) is None
        files.write_atomically(pipe, b"a line\n")
        assert os.read(reader, 100) == b"a line\n"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert os.listdir(tmp_path) == ["log.fifo"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_processes_open_files_are_never_replaced(tmp_path: Path) -> None:
    """/dev/stdout leads to whatever stdout is, a regular file too: it is written to, never replaced
    (a rename would leave the process writing to a file no one sees). Devices neither; but a regular
    file in /dev/shm is replaced like any other."""
    with open(tmp_path / "stdout.txt", "wb") as opened:
        descriptor = f"/proc/self/fd/{opened.fileno()}"
        assert files.written_in_place(Path(descriptor))
        assert files.written_in_place(Path(f"/dev/fd/{opened.fileno()}"))
    assert files.written_in_place(Path("/dev/stdout")) and files.written_in_place(Path("/dev/null"))
    assert not files.written_in_place(tmp_path / "new.json")
    if os.access("/dev/shm", os.W_OK):
        scratch = Path("/dev/shm") / f"impasto-test-{os.getpid()}.json"
        try:
            scratch.write_bytes(b"the old content, longer than the new")
            assert not files.written_in_place(scratch)
            files.write_atomically(scratch, b"new")
            assert scratch.read_bytes() == b"new"
        finally:
            scratch.unlink(missing_ok=True)


def test_a_replacement_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"the previous log\n")
    replacement = files.Replacement(path)
    replacement.file.write(b"a new line\n")
    assert path.read_bytes() == b"the previous log\n"  # nothing shows until the commit
    replacement.discard()
    assert path.read_bytes() == b"the previous log\n" and os.listdir(tmp_path) == ["log.jsonl"]
    replacement = files.Replacement(path)
    replacement.file.write(b"a new line\n")
    replacement.commit()
    assert path.read_bytes() == b"a new line\n" and os.listdir(tmp_path) == ["log.jsonl"]
