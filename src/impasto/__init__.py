"""impasto: neural style transfer after Gatys, Ecker & Bethge.

>>> import impasto
>>> image = impasto.stylize("photo.jpg", "painting.jpg", size=384)  # doctest: +SKIP
>>> image.save("out.png")  # doctest: +SKIP

The options and the errors import at once; everything that needs torch (stylize and the rest)
imports on first use, so the command line's --help and --version answer without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from impasto.config import StyleConfig
from impasto.errors import (
    ConfigError,
    DeviceError,
    ImageError,
    ImpastoError,
    Interrupted,
    WeightsError,
)

if TYPE_CHECKING:
    from impasto.figures import explain, sweep
    from impasto.optimize import Progress, RunResult
    from impasto.pipeline import Stylized, stylize, stylize_detailed

__version__ = "0.7.0"

# name → the module that defines it, imported when the name is first asked for
_LAZY = {
    "explain": "impasto.figures",
    "sweep": "impasto.figures",
    "Progress": "impasto.optimize",
    "RunResult": "impasto.optimize",
    "Stylized": "impasto.pipeline",
    "stylize": "impasto.pipeline",
    "stylize_detailed": "impasto.pipeline",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
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
    "stylize",
    "stylize_detailed",
    "sweep",
]
