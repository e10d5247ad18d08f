"""Reading and writing images safely, and converting them to and from tensors.

Reading applies EXIF orientation, turns every mode Pillow knows (RGBA, LA, P, CMYK, I;16, F, …) into
8-bit-equivalent RGB, refuses decompression bombs and truncated files with one clear message. Writing is
atomic: a temporary file beside the target, renamed over it only when complete.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from impasto.errors import ImageError

# Output formats by file extension, with the options each is saved with.
FORMATS: dict[str, tuple[str, dict[str, object]]] = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".jpeg": ("JPEG", {"quality": 95, "subsampling": 0}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
}


@dataclass(frozen=True)
class LoadedImage:
    """An RGB image ready for the network, and the colour profile to give back on output."""

    image: Image.Image  # mode "RGB", orientation applied
    icc_profile: bytes | None  # an RGB ICC profile, or None


def load(path: str | os.PathLike[str], max_pixels: int) -> LoadedImage:
    """Read ``path`` as RGB. Raises ImageError with a one-line reason for anything unreadable."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{path}: {width}×{height} = {width * height:,} pixels is over the limit of "
                        f"{max_pixels:,} (a guard against decompression bombs; raise it with "
                        "--max-pixels)"
                    )
                previous_limit = Image.MAX_IMAGE_PIXELS
                Image.MAX_IMAGE_PIXELS = None  # our own limit above replaces Pillow's
                try:
                    opened.load()
                finally:
                    Image.MAX_IMAGE_PIXELS = previous_limit
                return _to_rgb(opened)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageError(f"{path}: refused as a decompression bomb ({error})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageError(f"{path}: cannot read the image, it may be truncated or corrupt ({error})") from None


def from_pil(image: Image.Image) -> LoadedImage:
    """An image given as a PIL object, made RGB like a loaded file."""
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> LoadedImage:
    image = ImageOps.exif_transpose(image) or image
    icc = image.info.get("icc_profile") or None
    if image.mode == "CMYK" and icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode="RGB")
            assert converted is not None
            return LoadedImage(converted, None)
        except (ImageCms.PyCMSError, OSError):
            pass  # fall back to Pillow's plain conversion below
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (or 32-bit integer) grey: scale the full range down instead of clipping at 255.
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if array.max() <= 65535 else float(array.max())
        image = Image.fromarray(np.round(array / top * 255).astype(np.uint8), "L")
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        top = 1.0 if array.max() <= 1.0 else 255.0
        image = Image.fromarray(np.round(np.clip(array / top, 0, 1) * 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    ):
        # Transparent pixels become white, as a viewer would show them on a page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    return LoadedImage(rgb, icc if icc and _is_rgb_profile(icc) else None)


def _is_rgb_profile(icc: bytes) -> bool:
    # Bytes 16–19 of an ICC header name the profile's colour space.
    return len(icc) >= 20 and icc[16:20] == b"RGB "


def fit(image: Image.Image, long_side: int) -> Image.Image:
    """``image`` resized so its long side is ``long_side`` px, keeping its aspect ratio."""
    width, height = image.size
    scale = long_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → float tensor (1, 3, H, W) in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (3, H, W) or (1, 3, H, W) in [0, 1] (clipped) → RGB PIL image."""
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"expected an image of shape (3, H, W), got {tuple(tensor.shape)}")
    array = tensor.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(array, "RGB")


def check_output(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """Fail early (before a long run) if ``path`` cannot be written; returns it and its format."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"{path}: unknown output format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(FORMATS))}"
        )
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageError(f"{path}: the folder {folder} does not exist")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ImageError(f"{path}: the folder {folder} is not writable")
    return path, fmt[0]


def save(image: Image.Image, path: str | os.PathLike[str], icc_profile: bytes | None = None) -> Path:
    """Write ``image`` atomically in the format its extension names, keeping ``icc_profile``."""
    path, _ = check_output(path)
    fmt, options = FORMATS[path.suffix.lower()]
    options = dict(options)
    if icc_profile:
        options["icc_profile"] = icc_profile
    fd, temp_name = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format=fmt, **options)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp_name, 0o666 & ~_umask())  # mkstemp made it private; give it a usual mode
        os.replace(temp_name, path)
    except OSError as error:
        Path(temp_name).unlink(missing_ok=True)
        raise ImageError(f"{path}: cannot write the image ({error})") from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
