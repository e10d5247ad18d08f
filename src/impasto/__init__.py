"""impasto: neural style transfer after Gatys, Ecker & Bethge.

>>> import impasto
>>> image = impasto.stylize("photo.jpg", "painting.jpg", size=384)  # doctest: +SKIP
>>> image.save("out.png")  # doctest: +SKIP
>>> impasto.sketch("photo.jpg", "painting.jpg", size=384).save("sketch.png")  # doctest: +SKIP

The options and the errors import at once; everything that needs torch (stylize and the rest)
imports on first use, so the command line's --help and --version answer without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from impasto._version import __version__
from impasto.config import StyleConfig
from impasto.errors import (
    ConfigError,
    DeviceError,
    ImageError,
    ImpastoError,
    WeightsError,
)

if TYPE_CHECKING:
    from impasto.apps.figures import explain, sweep
    from impasto.core.optimize import Interrupted, Progress, RunResult
    from impasto.pipeline import Stylized, stylize, stylize_detailed
    from impasto.preview import make as sketch


# name → the module that defines it ("module:attribute" where the name there differs), imported when
# the name is first asked for. sketch is impasto.preview.make: "impasto.preview" stays the module
# (import impasto.preview would replace a function of that name with the module), and "sketch" is the
# word the module uses for what it makes — impasto.preview.sketch being the network on pictures in memory.
_LAZY = {
    "explain": "impasto.apps.figures",
    "sweep": "impasto.apps.figures",
    "Interrupted": "impasto.core.optimize",
    "Progress": "impasto.core.optimize",
    "RunResult": "impasto.core.optimize",
    "Stylized": "impasto.pipeline",
    "stylize": "impasto.pipeline",
    "stylize_detailed": "impasto.pipeline",
    "sketch": "impasto.preview:make",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attribute = _LAZY[name].partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'impasto' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DeviceError",
    "ImageError",
    "ImpastoError",
    "Interrupted",
    "Progress",
    "RunResult",
    "StyleConfig",
    "Stylized",
    "WeightsError",
    "__version__",
    "explain",
    "sketch",
    "stylize",
    "stylize_detailed",
    "sweep",
]
