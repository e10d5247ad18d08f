"""Choosing the compute device."""

from __future__ import annotations

import torch

from impasto.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """ "auto" → cuda, then mps, then cpu; a named device ("cuda:1" for the second GPU) is checked to be
    usable here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = "this PyTorch has no CUDA support" if torch.version.cuda is None else "no GPU found"
            raise DeviceError(f"device {name} is not available ({why}); use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name} is not available (GPUs here: cuda:0 … cuda:{torch.cuda.device_count() - 1})"
            )
        return device
    if name == "mps":
        if not _mps_available():
            raise DeviceError("device mps is not available (Apple GPUs only); use --device cpu or auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
