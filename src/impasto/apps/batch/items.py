"""What a batch is made of: its items (an image of the input folder and where its result goes), found
in the folder, and the reasons an item fails beside the pipeline's own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from impasto.errors import ConfigError, ImageError
from impasto.io import files, images

if TYPE_CHECKING:
    from impasto.pipeline import Stylized

# An item's message when the machine ran out of memory outside the optimization (reading the images);
# inside it, the pipeline says so itself (Stylized.ended "out of memory", or errors.OutOfMemory).
OUT_OF_MEMORY = "out of memory; try a smaller --size"


@dataclass(frozen=True)
class Item:
    """One image of the batch: where it comes from and where its result goes."""

    source: Path
    output: Path
    relative: Path  # of the source, inside the input folder


def find_items(
    input_dir: Path, output_dir: Path, recursive: bool = False, suffix: str | None = None
) -> list[Item]:
    """The images in ``input_dir`` (and its subfolders when ``recursive``), sorted, each with its output
    path in ``output_dir`` (same relative path; ``suffix`` replaces the extension when given). Hidden
    files and folders are left out."""
    if not input_dir.is_dir():
        raise ImageError(f"{input_dir}: not a folder")
    if input_dir.resolve() == output_dir.resolve():
        raise ConfigError(f"{output_dir} is the input folder; the output needs a folder of its own")
    pattern = "**/*" if recursive else "*"
    items = []
    for source in sorted(input_dir.glob(pattern)):
        relative = source.relative_to(input_dir)
        if any(part.startswith(".") for part in relative.parts) or not source.is_file():
            continue
        if source.suffix.lower() not in files.IMAGE_SUFFIXES:
            continue
        if _inside(source, output_dir):
            continue  # an output folder inside the input folder: never stylize our own results
        output = output_dir / relative
        if suffix is not None:
            output = output.with_suffix(suffix)
        elif output.suffix.lower() not in images.FORMATS:
            output = output.with_suffix(".png")  # a .gif or .bmp is read, but written as PNG
        items.append(Item(source, output, relative))
    collisions: dict[Path, Item] = {}
    for item in items:
        other = collisions.setdefault(item.output, item)
        if other is not item:
            raise ConfigError(
                f"{other.relative} and {item.relative} would both be written to "
                f"{item.output.relative_to(output_dir)}; rename one, or leave out --format"
            )
    return items


def make_folder(folder: Path) -> None:
    """``folder`` made if missing (with its parents), or one line why it cannot be."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is not a folder; the output of a batch is a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ImageError(f"{folder}: cannot make the output folder ({error.strerror or error})") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def not_made(made: Stylized) -> str:
    """Why a run that ended neither "made" nor "out of time" gives no output (it diverged, or ran out
    of memory after a scale): its item fails, unsaved, so a rerun redoes it."""
    return made.result.message or "the optimization did not finish"
