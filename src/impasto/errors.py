"""The exceptions impasto raises for problems a user can fix.

The CLI prints any :class:`ImpastoError` as one line and exits non-zero; anything else is a bug.
Ctrl-C during a run is no such problem: it raises :class:`impasto.core.optimize.Interrupted` (also
``impasto.Interrupted``), beside the loop whose best image it carries.
"""

from __future__ import annotations


def one_line(error: BaseException) -> str:
    """What another library's ``error`` says, fit for one line of ours: its first line (torch's and
    FFmpeg's messages run over many), spaces collapsed; a KeyError names its key; a message-less error
    its type."""
    if isinstance(error, KeyError):
        return f"no {error}"  # its message is only the key
    lines = [line for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[0].split()) if lines else type(error).__name__


class ImpastoError(Exception):
    """Base class: a problem with the user's input or environment, with a message that says what to do."""


class ConfigError(ImpastoError, ValueError):
    """An option has a value impasto cannot use."""


class ImageError(ImpastoError):
    """An image cannot be read or written."""


class WeightsError(ImpastoError):
    """Pretrained weights are missing, corrupt or cannot be fetched."""


class DeviceError(ImpastoError):
    """The requested compute device is not available."""


class OutOfMemory(ImpastoError):
    """The device (or the machine) ran out of memory before a run had any scale's image to give.

    Once a scale has finished, running out of memory ends the run instead, with that scale's image
    (:attr:`impasto.pipeline.Stylized.ended` is then "out of memory")."""
