"""impasto: neural style transfer after Gatys, Ecker & Bethge.

>>> import impasto
>>> image = impasto.stylize("photo.jpg", "painting.jpg", size=384)  # doctest: +SKIP
>>> image.save("out.png")  # doctest: +SKIP
"""

from impasto.config import StyleConfig
from impasto.errors import (
    ConfigError,
    DeviceError,
    ImageError,
    ImpastoError,
    Interrupted,
    WeightsError,
)
from impasto.figures import explain, sweep
from impasto.optimize import Progress, RunResult
from impasto.pipeline import Stylized, stylize, stylize_detailed

__version__ = "0.7.0"

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
