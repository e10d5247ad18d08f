"""Reading and writing images safely, and converting them to and from tensors.

:func:`load` is the one door every input image comes through (CLI, web app, batch, video, masks): it
takes regular files only, applies EXIF orientation, turns every mode Pillow knows (RGBA, LA, P, CMYK,
I;16, F, …) into 8-bit-equivalent RGB, refuses decompression bombs (by pixels and by the memory decoding
would take, read from the header) and damaged files with one clear line, and never lets Pillow's
warnings through. Writing is atomic: a temporary file beside the target, renamed over it only when
complete.

A picture that impasto writes carries the options that made it, as TOML: a PNG in an iTXt chunk named
:data:`OPTIONS_KEY` ("impasto"), a JPEG or WebP in its EXIF UserComment, a TIFF in its
ImageDescription. :func:`save` and :func:`png_bytes` write them, :func:`read_options` reads them back
(``impasto --config out.jpg``).

``example:NAME`` wherever a file is taken names one of the images bundled with impasto
(:mod:`impasto.examples`).

Only the tensor conversions (:func:`to_tensor`, :func:`to_pil`) need torch, and :func:`to_tensor`
imports it when called: loading, resizing and saving pictures (all the feed-forward sketch does) never
load it.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, TiffImagePlugin, UnidentifiedImageError

from impasto import examples
from impasto.errors import ImageError, one_line
from impasto.io import files

if TYPE_CHECKING:
    import torch

ImageSource = str | os.PathLike[str] | Image.Image  # a file, or a picture in memory

# Output formats by file extension, with the options each is saved with.
FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
}

# The keyword of the PNG text chunk (iTXt) that holds the options of the run that made the picture.
OPTIONS_KEY = "impasto"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # the first 8 bytes of every PNG file

# What Pillow raises while identifying or decoding a damaged file.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

# Modes whose pixels an RGB ICC profile describes; any other mode's profile is not carried over.
_RGB_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA"})

# Pillow's decompression-bomb limit and Python's warning filters are process-wide: load() changes them
# only under this lock.
_PILLOW_LOCK = threading.Lock()


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for the network, and the colour profile to give back on output."""

    image: Image.Image  # mode "RGB", orientation applied
    icc_profile: bytes | None  # an RGB ICC profile, or None


# Bytes per pixel of Pillow's decoded modes (it keeps RGB, LA, CMYK, … four bytes to a pixel).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
# Modes _to_rgb brings down to 8-bit grey through numpy first (_grey_to_l).
_DEEP_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
# Formats whose decoder keeps buffers the size of the image while it is open: libwebp's RGBA canvas,
# the frame it hands to Pillow as bytes and, for a lossless file, its ARGB plane.
_DECODER_BYTES = {"WEBP": 12}


def decode_cost(
    size: tuple[int, int], mode: str, format: str | None = None, info: Mapping[Any, object] | None = None
) -> int:
    """Bytes of memory that loading an image of ``size`` (W, H) in Pillow ``mode`` takes at its peak,
    estimated from the header: the decoded pixels; the copies :func:`load` makes on the way to RGB (or,
    where more, what a progressive JPEG holds while it decodes); the buffers of the ``format``'s decoder.
    ``info`` is the header's (Pillow's ``image.info``): a transparent colour (a palette's, or a grey or
    RGB value) is composited on white as alpha is.

    test_decode_cost_covers_the_measured_peak (tests/io/test_images.py) measures it for each mode at
    2000² px, in a process of its own: for example L 5.0 bytes per pixel, RGB 8.2, RGBA 9.1, I;16 15.1,
    F 16.1, progressive JPEG 10.2, WebP 17.2; here 8, 11, 12, 18, 20, 13 and 24.
    """
    info = info or {}
    decoded = _MODE_BYTES.get(mode, 4)
    if mode in _DEEP_GREY:
        converting = 13  # numpy's copy of the pixels, float32 arrays and a mask (_grey_to_l), measured
    elif mode == "RGBA":
        converting = 4 + 1  # the RGB result and the alpha band it is pasted through
    elif mode in ("LA", "PA", "RGBa") or "transparency" in info:
        converting = 4 + 4 + 1  # an RGBA copy, the RGB result and the alpha band
    elif mode == "La":
        converting = 4 + 4 + 4 + 1  # an LA copy first: Pillow converts premultiplied grey to nothing else
    else:
        converting = 4  # the RGB result
    if format == "JPEG" and info.get("progressive"):
        # libjpeg keeps every DCT coefficient of a progressive file until the last scan: 2 bytes per
        # pixel and component (fewer for subsampled colour), freed before the conversion.
        converting = max(converting, 2 * Image.getmodebands(mode))
    # + 3: the decoders' row buffers and the allocator's slack (under 0.3 bytes per pixel, measured),
    # and a margin for other versions of Pillow and its libraries.
    return size[0] * size[1] * (decoded + converting + _DECODER_BYTES.get(format or "", 0) + 3)


def load(
    source: str | os.PathLike[str] | bytes, max_pixels: int, max_bytes: int | None = None
) -> LoadedImage:
    """Read ``source`` (a file, ``example:NAME``, or an encoded image's bytes) as RGB: the one way an
    input image enters impasto. Raises ImageError with a one-line reason for anything unreadable (and
    ConfigError for an unknown example's name).

    An image over ``max_pixels`` pixels, or whose decoding would take more than ``max_bytes`` of memory
    (:func:`decode_cost`), is refused from its header, before it is decoded.
    """
    with _opened(source, max_pixels, max_bytes, decode=True) as image:
        return _to_rgb(image, own=True)


def probe(
    source: str | os.PathLike[str] | bytes, max_pixels: int, max_bytes: int | None = None
) -> tuple[int, int]:
    """The size (W, H) of an image that :func:`load` would accept, found by decoding it (so a damaged
    file is refused) but without converting it: the cheapest full check of an upload."""
    with _opened(source, max_pixels, max_bytes, decode=False) as image:
        return image.size


@contextlib.contextmanager
def pillow_alone() -> Iterator[None]:
    """Pillow to this thread alone, its warnings caught, its decompression-bomb limit (about 89 Mpx,
    checked in Image.open, a process-wide variable) off and restored on exit: the caller checks its
    own."""
    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = previous_limit


@contextlib.contextmanager
def _opened(
    source: str | os.PathLike[str] | bytes, max_pixels: int, max_bytes: int | None, decode: bool
) -> Iterator[Image.Image]:
    """``source`` decoded (and, when ``decode``, with its EXIF read), under the limits; closed on exit.

    Everything Pillow does with the file happens here, under one lock: Pillow's decompression-bomb
    limit is a process-wide variable swapped for ours, and the warnings Pillow gives about damaged
    files (corrupt EXIF, skipped tags, …) are caught, never printed: a file that still decodes is used,
    one that does not is refused with one line.
    """
    if isinstance(source, bytes):
        name, file = "image", io.BytesIO(source)
    else:
        path = Path(examples.resolve(source))
        name = str(path)
        if not path.exists():
            raise ImageError(f"{path}: no such file")
        if path.is_dir():
            raise ImageError(f"{path}: is a folder, not an image")
        if not path.is_file():  # a FIFO, a device, a socket: reading it could wait forever
            raise ImageError(f"{path}: not a regular file")
    try:
        # Pillow's own limit is off: ours replaces it, so max_pixels can be raised above it as well
        # as lowered, and refusals say how to change it.
        with pillow_alone(), Image.open(file if isinstance(source, bytes) else path) as image:
            _check_limits(name, image, max_pixels, max_bytes)
            with _c_errors_silenced(image.format == "TIFF"):
                image.load()
            if decode:
                image.getexif()  # parsed here, where its warnings are caught
            yield image
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image, or a format Pillow cannot read") from None
    except PermissionError as error:
        raise ImageError(f"{name}: cannot open the file ({one_line(error)})") from None
    except MemoryError:
        raise ImageError(f"{name}: not enough memory to decode the image") from None
    except _DECODE_ERRORS as error:
        raise ImageError(
            f"{name}: cannot read the image, it may be truncated or corrupt ({one_line(error)})"
        ) from None


@contextlib.contextmanager
def _c_errors_silenced(silence: bool) -> Iterator[None]:
    """While decoding, what C code writes to the process's stderr is dropped, when ``silence``.

    libtiff prints its complaints about a damaged file ("ZIPDecode: Decoding error …") straight to
    file descriptor 2, past Python; the decoder's own error then says the same in our one line. Only
    for TIFF, as only libtiff does this, and other threads' writes to stderr are lost meanwhile.
    """
    if not silence:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_limits(name: str, image: Image.Image, max_pixels: int, max_bytes: int | None) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}×{height} = {width * height:,} pixels is over the limit of {max_pixels:,} "
            "(a guard against decompression bombs; raise it with --max-pixels)"
        )
    cost = decode_cost(image.size, image.mode, image.format, image.info)
    if max_bytes is not None and cost > max_bytes:
        raise ImageError(
            f"{name}: decoding {width}×{height} px ({image.mode}) takes about {cost / 2**20:,.0f} MiB, "
            f"over the {max_bytes / 2**20:,.0f} MiB allowed (raise --max-memory, or shrink the image)"
        )


def expand(sources: ImageSource | Sequence[ImageSource], what: str = "image") -> list[ImageSource]:
    """One image, a sequence of them, or folders among them → a list of single images: a folder
    gives every image in it (told by its suffix, :data:`files.IMAGE_SUFFIXES`), sorted by name, and
    ``example:NAME`` the bundled image's path.

    Raises ImageError for a folder that holds no image, and when none is left at all ("no ``what``
    given").
    """
    listed = [sources] if isinstance(sources, str | os.PathLike | Image.Image) else list(sources)
    expanded: list[ImageSource] = []
    for item in map(examples.resolve, listed):
        if isinstance(item, str | os.PathLike) and Path(item).is_dir():
            found = sorted(p for p in Path(item).iterdir() if p.suffix.lower() in files.IMAGE_SUFFIXES)
            if not found:
                raise ImageError(f"{item}: the folder holds no images ({', '.join(files.IMAGE_SUFFIXES)})")
            expanded.extend(found)
        else:
            expanded.append(item)
    if not expanded:
        raise ImageError(f"no {what} given")
    return expanded


def from_pil(image: Image.Image) -> LoadedImage:
    """An image given as a PIL object, made RGB like a loaded file."""
    return _to_rgb(image)


def _to_rgb(image: Image.Image, own: bool = False) -> LoadedImage:
    """``image`` as RGB. ``own``: it is load()'s, and may be turned in place: no copy of the decoded
    pixels is held beside the conversion's (a picture given by the caller is copied, never changed)."""
    if own:
        ImageOps.exif_transpose(image, in_place=True)
    else:
        image = ImageOps.exif_transpose(image) or image
    icc: bytes | None = image.info.get("icc_profile") or None
    keep_icc = icc is not None and image.mode in _RGB_MODES and _colour_space(icc) == b"RGB "
    if image.mode == "CMYK" and icc is not None and _colour_space(icc) == b"CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            assert converted is not None
            return LoadedImage(converted, None)  # now sRGB, which needs no profile
        except (ImageCms.PyCMSError, OSError):
            pass  # fall back to Pillow's plain conversion below
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grey: scale the full range down instead of clipping at 255.
        image = _grey_to_l(np.asarray(image, dtype=np.float32), (65535.0,))
    elif image.mode == "F":
        image = _grey_to_l(np.asarray(image, dtype=np.float32), (1.0, 255.0, 65535.0))
    if image.mode == "La":
        image = image.convert("LA")  # Pillow converts premultiplied grey to nothing else
    if image.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in image.info:
        # Transparent pixels become white, as a viewer would show them on a page: the image pasted on
        # white through its alpha (one RGB copy and the alpha band, where compositing two RGBA images
        # would hold three RGBA ones).
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, (255, 255, 255))
        rgb.paste(rgba, mask=rgba.getchannel("A"))
        return LoadedImage(rgb, icc if keep_icc else None)
    rgb = image.convert("RGB")
    return LoadedImage(rgb, icc if keep_icc else None)


def _grey_to_l(array: npt.NDArray[np.float32], full_scales: tuple[float, ...]) -> Image.Image:
    """Grey values (H, W) → mode "L", divided by the first of ``full_scales`` that holds the brightest
    value (by that value itself if none does); negative and non-finite values become black."""
    array = np.where(np.isfinite(array), array, 0.0).clip(min=0.0)
    peak = float(array.max(initial=0.0))
    top = next((scale for scale in full_scales if peak <= scale), peak)
    return Image.fromarray(np.round(array / top * 255).astype(np.uint8), "L")


def _colour_space(icc: bytes) -> bytes:
    # Bytes 16–19 of an ICC header name the profile's colour space: b"RGB ", b"CMYK", b"GRAY", …
    return icc[16:20]


def fit(image: Image.Image, long_side: int) -> Image.Image:
    """``image`` resized so its long side is ``long_side`` px, keeping its aspect ratio."""
    if long_side < 1:
        raise ValueError(f"long_side must be at least 1 px, got {long_side}")
    width, height = image.size
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → float tensor (1, 3, H, W) in [0, 1]."""
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) or (1, 3, H, W) in [0, 1] (clipped; NaN → 0) → RGB PIL image."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(tensor.shape)}")
    array = (
        tensor.detach().float().nan_to_num(0.0).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
    )  # (H, W, 3)
    return Image.fromarray(array.cpu().numpy(), "RGB")


def check_output(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Fail early (before a long run) if ``path`` cannot be written; returns it and its format."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: unknown output format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    if path.exists() and not path.is_file() and not path.is_dir():  # a folder: check_writable says so
        # A pipe or a device named out.png: the run would end by blocking on it, or write a picture
        # nobody can open.
        raise ImageError(f"{path}: not a regular file (a pipe or a device); an image is written to a file")
    check_writable(path)
    return path, fmt[0]


def check_writable(path: Path) -> None:
    """Fail early if a file cannot be written at ``path`` (:func:`files.unwritable`)."""
    reason = files.unwritable(path)
    if reason is not None:
        raise ImageError(f"{path}: {reason}")


def save(
    image: Image.Image,
    path: str | os.PathLike[str],
    icc_profile: bytes | None = None,
    options: str | None = None,
) -> Path:
    """Write ``image`` atomically (:class:`files.Replacement`) in the format its extension names,
    keeping ``icc_profile``; a PNG also carries ``options`` (the TOML of :func:`impasto.config.
    to_png_text`) in its :data:`OPTIONS_KEY` chunk, a JPEG or WebP in its EXIF UserComment, a TIFF
    in its ImageDescription (:func:`read_options` reads them back).

    A profile for another colour space than RGB (CMYK, grey) would misdescribe the pixels; it is left out.
    On failure nothing is left behind and an existing file at ``path`` is untouched.
    """
    path, fmt = check_output(path)
    settings = dict(FORMATS[path.suffix.lower()][1])
    if icc_profile and _colour_space(icc_profile) == b"RGB ":
        settings["icc_profile"] = icc_profile
    if options is not None:
        settings.update(_carrying(fmt, options))
    try:
        with files.replacing(path) as file:
            image.save(file, format=fmt, **settings)
    except (OSError, ValueError) as error:
        raise ImageError(f"{path}: cannot write the image ({one_line(error)})") from None
    return path


def png_bytes(image: Image.Image, icc_profile: bytes | None = None, options: str | None = None) -> bytes:
    """``image`` encoded as PNG in memory (for answers over a network), with ``icc_profile`` embedded
    and ``options`` (the TOML of :func:`impasto.config.to_png_text`) in its :data:`OPTIONS_KEY` chunk."""
    buffer = io.BytesIO()
    pnginfo = None if options is None else _options_chunk(options)
    image.save(buffer, format="PNG", icc_profile=icc_profile, pnginfo=pnginfo)
    return buffer.getvalue()


# Where a picture carries the options that made it. A PNG: an iTXt chunk (:data:`OPTIONS_KEY`). A JPEG
# and a WebP: the EXIF UserComment, in the EXIF standard's UNICODE form (UCS-2 after an 8-byte code),
# where photo tools show a comment and where other image generators put their parameters; XMP would
# need an XML packet around the text for no reader's gain. A TIFF: its ImageDescription tag, as UTF-8.
# There, fields other programs write too, only a text that begins with to_toml's first line is taken
# for impasto's.
EXIF_IFD, USER_COMMENT, IMAGE_DESCRIPTION = 0x8769, 0x9286, 0x010E
_UNICODE = b"UNICODE\0"
_OUR_TEXT = "# impasto options"


def _carrying(fmt: str, options: str) -> dict[str, Any]:
    """What Pillow's save of format ``fmt`` takes to write ``options`` into the file."""
    if fmt == "PNG":
        return {"pnginfo": _options_chunk(options)}
    if fmt == "TIFF":
        described = TiffImagePlugin.ImageFileDirectory_v2()
        described[IMAGE_DESCRIPTION] = options.encode("utf-8")
        return {"tiffinfo": described}
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = _UNICODE + options.encode("utf-16-be")
    return {"exif": exif}


def _carried(image: Image.Image) -> str | None:
    """The options :func:`_carrying` wrote into ``image`` (opened, not decoded), or None."""
    text: object = None
    if image.format == "PNG":  # a chunk of impasto's own name
        text = image.info.get(OPTIONS_KEY)
        return str(text) if isinstance(text, str) else None  # str: not Pillow's iTXt subclass
    if image.format == "TIFF":
        text = image.getexif().get(IMAGE_DESCRIPTION)
        if isinstance(text, str):  # Pillow reads the tag's bytes as Latin-1
            with contextlib.suppress(UnicodeError):
                text = text.encode("latin-1").decode("utf-8")
    else:
        comment = image.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
        if isinstance(comment, bytes) and comment.startswith(_UNICODE):
            body = comment[len(_UNICODE) :]
            text = body.decode("utf-16-be" if body[:1] == b"\0" else "utf-16-le", errors="replace")
    return str(text) if isinstance(text, str) and text.startswith(_OUR_TEXT) else None


def _options_chunk(options: str) -> PngImagePlugin.PngInfo:
    # iTXt, not tEXt: UTF-8 (a path may be any Unicode), uncompressed (a few hundred bytes, and legible
    # to any tool that lists a PNG's text). Pillow writes it before the image data, where read_options
    # looks.
    chunk = PngImagePlugin.PngInfo()
    chunk.add_itxt(OPTIONS_KEY, options)
    return chunk


def read_options(path: str | os.PathLike[str]) -> str | None:
    """The options :func:`save` wrote into the image at ``path`` (a PNG's :data:`OPTIONS_KEY` text
    chunk, a JPEG's or WebP's EXIF UserComment, a TIFF's ImageDescription), or None if it holds none.
    Raises ImageError, one line, for a file of another format or a damaged one.

    Only the file's metadata is read (in a PNG the chunks before the image data: impasto writes its
    own there, as most tools that add text do), under Pillow's limits on text chunks
    (``PngImagePlugin.MAX_TEXT_CHUNK`` for each compressed one, ``MAX_TEXT_MEMORY`` for all); the
    pixels are never decoded, so a picture of any size is read at once.
    """
    path = Path(path)
    try:
        # Pillow's own limit is off: nothing is decoded, the size of the pixels costs nothing.
        with pillow_alone(), Image.open(path, formats=[fmt for fmt, _ in FORMATS.values()]) as image:
            return _carried(image)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except PermissionError as error:
        raise ImageError(f"{path}: cannot open the file ({one_line(error)})") from None
    except UnidentifiedImageError:  # what Pillow makes of a bad checksum or a chunk's broken length
        raise ImageError(
            f"{path}: cannot read the image, it is truncated or corrupt, or not a PNG, JPEG, WebP or TIFF"
        ) from None
    except _DECODE_ERRORS as error:  # a file cut short; a text chunk over Pillow's limits
        raise ImageError(
            f"{path}: cannot read the image, it may be truncated or corrupt ({one_line(error)})"
        ) from None
