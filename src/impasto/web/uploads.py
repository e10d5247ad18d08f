"""What an upload may be and how it is named: the formats taken (told from a file's header before any
decoder runs), its size checked within the limits, and the names shown for it."""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from impasto.errors import ImageError

# What an upload may be, checked from the file's header before any decoder runs: Pillow would
# otherwise hand an EPS to Ghostscript, or try each of its forty-odd formats on a stranger's bytes.
UPLOAD_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")


def probe(path: Path, max_pixels: int, max_bytes: int) -> tuple[int, int]:
    """The size of the image at ``path`` if it is one of UPLOAD_FORMATS (told from its header, before
    anything decodes it) and decodes within the limits (images.probe)."""
    from impasto.io import images

    try:
        # Pillow's own pixel limit off (it raised its DecompressionBombError, a 500, for a header that
        # declares a bomb): images.probe then refuses it with ours, a 400 that says the limit.
        with images.pillow_alone(), Image.open(path, formats=UPLOAD_FORMATS):
            pass
    except (UnidentifiedImageError, OSError, ValueError):
        raise ImageError(f"{path}: not an image impasto takes (PNG, JPEG, WebP, TIFF, BMP or GIF)") from None
    return images.probe(path, max_pixels, max_bytes)


def media_type(path: Path) -> str:
    """The media type of a kept upload, told from its header as it was when it came (Pillow's name of
    its format)."""
    from impasto.io import images

    try:
        with images.pillow_alone(), Image.open(path, formats=UPLOAD_FORMATS) as image:
            return Image.MIME.get(image.format or "", "application/octet-stream")
    except (UnidentifiedImageError, OSError, ValueError):
        return "application/octet-stream"


def size_text(count: int) -> str:
    if count >= 2**20:
        return f"{count / 2**20:.1f}".removesuffix(".0") + " MB"
    return f"{count / 2**10:.0f} KB"


def safe_name(name: str) -> str:
    """A file name fit to show and to put in a command line: the last path part, plain characters."""
    base = re.sub(r"[^\w.\- ]", "_", Path(name.replace("\\", "/")).name).strip() or "image"
    return base[:80]


def without_path(message: str, path: Path, name: str) -> str:
    """An error about the temporary file, told about the file the user uploaded."""
    return message.replace(str(path), safe_name(name))
