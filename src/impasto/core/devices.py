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


def ran_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says the device or the machine ran out of memory: a GPU's
    ``torch.OutOfMemoryError``, Python's MemoryError, or the RuntimeError of the CPU allocator (which
    PyTorch raises as a plain RuntimeError: its message is the only sign)."""
    if isinstance(error, torch.OutOfMemoryError | MemoryError):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def release_memory(device: torch.device) -> None:
    """Give the memory a failed run held back to the device, so that what comes next (the finish, the
    next job of a server) finds it free."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
