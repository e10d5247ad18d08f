"""File rules every part of impasto shares, each written once: which suffixes are images, the content
hash of a file, what a path that impasto writes must not be (an input, through any link), and atomic
writing: the temporary file it goes through (its name, its creation, and the sweep of those a killed run
left behind)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from impasto.errors import ConfigError

# Files impasto reads as images (what a batch picks up from a folder, what the web app accepts).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")

# A temporary file beside its target: hidden, the target's name, 8 hex digits, ".part".
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")

_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows only: no newline translation


def sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's content, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- what an output must not be ----------------------------------------------------------------------


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` leads to, through any links; None if there is none."""
    try:
        found = os.stat(path)
    except (OSError, ValueError):  # missing, unreachable, or a name the system cannot hold
        return None
    return found.st_dev, found.st_ino


def _real(path: Path) -> str:
    try:
        return os.path.realpath(path)
    except (OSError, ValueError):
        return os.path.abspath(path)


def check_outputs(outputs: Sequence[tuple[str, Path]], inputs: Iterable[Path]) -> None:
    """Refuse, before anything is written, an output that is one of the inputs or that another output
    names too (but for a terminal or a pipe, which they may share). ``outputs`` are (what names it,
    e.g. "-o" or "--log-json"; the path).

    "Is" means the same file, however it is reached: through a symbolic link, a hard link or another
    spelling of the path (``os.stat``'s device and inode); for a path that does not exist yet, the
    same real path. Raises ConfigError with one line naming the option and both files.
    """
    by_identity: dict[tuple[int, int], Path] = {}
    by_name: dict[str, Path] = {}
    for source in inputs:
        found = _identity(source)
        if found is not None:
            by_identity.setdefault(found, source)
        else:  # missing: the run will say so, but nothing may be written in its place first
            by_name.setdefault(_real(source), source)
    written: dict[tuple[int, int] | str, str] = {}
    for what, output in outputs:
        found = _identity(output)
        clash = by_identity.get(found) if found is not None else by_name.get(_real(output))
        if clash is not None:
            same = "" if os.fspath(clash) == os.fspath(output) else f" ({clash})"
            raise ConfigError(f"{what} {output} is one of the inputs{same}; choose another path")
        if written_in_place(output):
            continue  # a terminal or a pipe: two outputs may well share it (--log-json /dev/stdout)
        key: tuple[int, int] | str = found if found is not None else _real(output)
        if key in written:
            raise ConfigError(f"{what} {output} is also the output of {written[key]}; choose another path")
        written[key] = what


def unwritable(path: Path) -> str | None:
    """Why a file cannot be written at ``path`` (its folder is missing or read-only, or ``path`` is a
    folder), or None: checked before a long run, so that it fails at once rather than at its end."""
    folder = path.parent
    if not folder.is_dir():
        return f"the folder {folder} {'is not a folder' if folder.exists() else 'does not exist'}"
    if path.is_dir():
        return "is a folder"
    if written_in_place(path):
        return None if os.access(path, os.W_OK) else "cannot be written"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    return None


def written_in_place(path: Path) -> bool:
    """Whether ``path`` is written where it is rather than replaced: it exists and is not a regular file
    (a terminal, a pipe, /dev/full), or it is reached through /proc (/dev/stdout, /dev/fd/1,
    /proc/self/fd/1: a file a process has open, even a regular one, must stay the file it has open)."""
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    hops = [folder]
    hop = os.path.abspath(path)
    for _ in range(40):  # the links from ``path`` on, as many as the system follows
        hops.append(hop)
        if not os.path.islink(hop):
            break
        hop = os.path.abspath(os.path.join(os.path.dirname(hop), os.readlink(hop)))
    if any(Path(hop).parts[1:2] == ("proc",) for hop in hops):
        return True
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):  # nothing there yet: a new file
        return False


# --- atomic writing ----------------------------------------------------------------------------------


def temp_path(path: Path) -> Path:
    """A fresh temporary name beside ``path`` (see TEMP_NAME)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")


def create_temp(path: Path) -> tuple[int, Path]:
    """A new temporary file beside ``path``, opened for writing, with the usual mode (0666 less the
    umask): (its descriptor, its path).

    tempfile.mkstemp makes it 0600, and a chmod after it needs the umask, which can only be read by
    changing it for a moment, for every thread of the process.
    """
    for _ in range(100):
        temp = temp_path(path)
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path.name}")


class Replacement:
    """The new content of ``path``, written to ``file`` (a temporary file beside it) and renamed over it
    by :meth:`commit` only once complete: until then, and for good after :meth:`discard` or a failed
    commit, ``path`` keeps what it held (or stays absent) and no temporary file is left.

    A symbolic link is followed: the file it leads to is replaced, the link stays. A terminal, a pipe or
    /dev/stdout (:func:`written_in_place`) cannot be replaced: it is appended to, as a shell's ``>>``
    does, and what was written cannot be taken back.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.target = self.path  # where the temporary file is renamed to
        self.temp: Path | None = None
        self.in_place = written_in_place(self.path)  # ``file`` is ``path`` itself, not a temporary file
        if self.in_place:
            self.file: BinaryIO = open(self.path, "ab")  # noqa: SIM115 (closed by commit or discard)
            return
        if self.path.is_symlink():
            self.target = self.path.resolve()
        fd, self.temp = create_temp(self.target)
        self.file = os.fdopen(fd, "wb")

    def commit(self) -> None:
        """``path`` holds what was written (flushed to the disk first), or, on an error, what it held."""
        try:
            if self.temp is not None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
            if self.temp is not None:
                os.replace(self.temp, self.target)
                self.temp = None
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """What was written is dropped; ``path`` is left as it was."""
        with contextlib.suppress(OSError):  # the error that brought us here is the one to report
            self.file.close()
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
            self.temp = None


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``with replacing(path) as file:`` — what the block writes to ``file`` replaces ``path`` when the
    block ends, atomically (:class:`Replacement`); an error in the block leaves ``path`` untouched."""
    replacement = Replacement(path)
    try:
        yield replacement.file
    except BaseException:
        replacement.discard()
        raise
    replacement.commit()


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed over it only when complete:
    a failure leaves an existing file untouched and nothing behind."""
    with replacing(path) as file:
        file.write(data)
    return Path(path)


def sweep_temporaries(folder: Path) -> int:
    """Remove the temporary files a killed run left in ``folder`` (any depth); returns how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(".*.part"):
        if TEMP_NAME.match(path.name) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed
