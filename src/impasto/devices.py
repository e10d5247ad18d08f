"""Choosing the compute device."""

from __future__ import annotations

import torch

from impasto.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """ "auto" → cuda, then mps, then cpu; a named device is checked to be usable here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch has no CUDA support" if torch.version.cuda is None else "no GPU found"
            raise DeviceError(f"device cuda is not available ({why}); use --device cpu or auto")
        return torch.device("cuda")
    if name == "mps":
        if not _mps_available():
            raise DeviceError("device mps is not available (Apple GPUs only); use --device cpu or auto")
        return torch.device("mps")
    raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
