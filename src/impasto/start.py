"""The image a run starts from (``--init``): the sketch (impasto.preview's feed-forward network), the
photo, noise, the photo blended with noise, the painting, or an image file.

Not under core/ with the rest of the algorithm: the sketch is impasto.preview, onnxruntime's network
on pictures, which sits beside the pipeline, not below it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from impasto.config import StyleConfig
from impasto.core import color, pyramid
from impasto.errors import ImpastoError
from impasto.io import images


def initial_image(
    config: StyleConfig,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    blend: Sequence[float],
    tell: Callable[[str], None] = lambda message: None,
    regions: Sequence[torch.Tensor] = (),
    picture: images.LoadedImage | None = None,
) -> torch.Tensor:
    """The image the optimization starts from, (1, 3, H, W) like ``content``; ``styles`` (each
    (1, 3, H_i, W_i)) as the network sees them, blended by ``blend``, or with ``regions`` (one content
    mask (1, 1, H, W) per style) each in its own region; ``picture``: the image file ``config.init``
    names, loaded by :func:`prepare`. Without the sketch's network (onnxruntime or
    its files missing), "preview" starts from the photo and ``tell`` says why: the sketch only saves
    time, and everything else works without it."""
    if config.init == "preview":
        from impasto import preview

        photo, paintings = images.to_pil(content), [images.to_pil(s) for s in styles]
        try:
            if regions:
                masks = [m[0, 0].cpu().numpy() for m in regions]  # (H, W) each
                sketch = preview.composite([preview.sketch(photo, [p]) for p in paintings], masks)
            else:
                sketch = preview.sketch(photo, paintings, blend)
        except ImpastoError as error:
            tell(f"no sketch to start from ({error}): starting from the photo")
            return content.clone()
        start = images.to_tensor(sketch).to(content.device)
        if config.preserve_colors == "histogram":
            # The sketch's network paints in colours of its own, near the recoloured painting's but
            # not the photo's: the start is recoloured to the photo's too, or the run keeps them (2.3).
            start = color.match_histogram(start, content, config.color_match)
        return start
    if config.init == "content":
        return content.clone()
    if config.init in ("noise", "blend"):
        generator = torch.Generator().manual_seed(config.seed)
        # White noise, uniform over the pixel range, as in Gatys et al.
        noise = torch.rand(content.shape, generator=generator).to(content.device)
        if config.preserve_colors != "none":
            # Departure from the paper: where the photo's colours are to be kept, the noise is drawn in
            # them (its colour mean and covariance made the photo's as the network sees it: grey with
            # "luminance"). Uniform RGB noise has colours of its own, and what forty iterations leave
            # of it took the output's chroma further from the photo's than the painting's (2.3).
            noise = color.match_histogram(noise, content, config.color_match)
        # "blend": halfway between the photo and noise — the layout is kept loosely, the surfaces are
        # free to take the style's strokes.
        return noise if config.init == "noise" else (content + noise) / 2
    if config.init == "style":
        start = styles[0]
    else:
        assert picture is not None, "prepare() loads the image file init names"
        start = images.to_tensor(picture.image).to(content.device)
    return pyramid.resize(start, (content.shape[-2], content.shape[-1]))
