"""The names a user chooses from, in one place that imports nothing heavy.

The command line and the web form list them, :class:`~impasto.config.StyleConfig` validates against
them, and the modules that implement them import them from here. Nothing in this module needs torch,
so ``impasto --help`` and ``impasto --version`` answer before torch loads.
"""

from __future__ import annotations

from typing import Literal, get_args

from impasto.core import style as style_kinds

# Each set of choices is written once, as a Literal (the type a library user sees); its tuple (what
# the command line and the web form list, and StyleConfig checks against) is read from it.

# "lbfgs" picks the faster of "lbfgs-device" (impasto's, lbfgs.py) and "lbfgs-torch" (torch's) for
# the device; both take the same steps (optimize.resolve_optimizer).
Optimizer = Literal["lbfgs", "lbfgs-device", "lbfgs-torch", "adam"]
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)

# The kinds of style loss are their registry's names (core/style/, which imports nothing heavy either):
# a kind is added there, in one place, and the command line, the web form and StyleConfig follow.
StyleLossKind = str
STYLE_LOSSES: tuple[StyleLossKind, ...] = style_kinds.NAMES

PreserveColors = Literal["none", "luminance", "histogram"]
PRESERVE_COLORS: tuple[PreserveColors, ...] = get_args(PreserveColors)

ColorMatch = Literal["sym", "chol", "pca"]
COLOR_MATCHES: tuple[ColorMatch, ...] = get_args(ColorMatch)

Pooling = Literal["max", "avg"]
POOLINGS: tuple[Pooling, ...] = get_args(Pooling)

Preprocessing = Literal["auto", "caffe", "torchvision"]
PREPROCESSINGS: tuple[Preprocessing, ...] = get_args(Preprocessing)

Precision = Literal["auto", "fp32", "tf32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[CompileMode, ...] = get_args(CompileMode)

# Open sets (typed str): a start image may also be a file's path, a device cuda:N.
INIT_CHOICES = ("noise", "content", "blend", "style", "preview")
DEVICES = ("auto", "cpu", "cuda", "mps")

# Registered backbones (weights.REGISTRY holds how to get and read each) and their architectures.
Model = Literal["vgg16", "vgg19", "vgg19-torchvision"]
MODELS: dict[Model, str] = {"vgg16": "vgg16", "vgg19": "vgg19", "vgg19-torchvision": "vgg19"}
assert set(MODELS) == set(get_args(Model)), "a model is missing from Model or MODELS"

# Convolutions per block of each architecture.
LAYOUTS: dict[str, tuple[int, ...]] = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}


def layer_names(architecture: str) -> list[str]:
    """Every named layer of ``architecture`` in forward order: conv1_1, relu1_1, …, pool5."""
    names: list[str] = []
    for block, convs in enumerate(LAYOUTS[architecture], start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
        names.append(f"pool{block}")
    return names
