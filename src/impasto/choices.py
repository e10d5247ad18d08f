"""The names a user chooses from, in one place that imports nothing heavy.

The command line and the web form list them, :class:`~impasto.config.StyleConfig` validates against
them, and the modules that implement them import them from here. Nothing in this module needs torch,
so ``impasto --help`` and ``impasto --version`` answer before torch loads.
"""

from __future__ import annotations

from typing import Literal

# "lbfgs" picks the faster of "lbfgs-device" (impasto's, lbfgs.py) and "lbfgs-torch" (torch's) for
# the device; both take the same steps (optimize.resolve_optimizer).
Optimizer = Literal["lbfgs", "lbfgs-device", "lbfgs-torch", "adam"]
OPTIMIZERS: tuple[Optimizer, ...] = ("lbfgs", "lbfgs-device", "lbfgs-torch", "adam")

StyleLossKind = Literal["gram", "nearest", "mean-cov", "sliced-wasserstein"]
STYLE_LOSSES: tuple[StyleLossKind, ...] = ("gram", "nearest", "mean-cov", "sliced-wasserstein")

INIT_CHOICES = ("noise", "content", "blend", "style", "preview")  # or the path of an image file
DEVICES = ("auto", "cpu", "cuda", "mps")  # or cuda:N
PRECISIONS = ("auto", "fp32", "tf32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off")
PRESERVE_COLORS = ("none", "luminance", "histogram")
COLOR_MATCHES = ("sym", "chol", "pca")
POOLINGS = ("max", "avg")
PREPROCESSINGS = ("auto", "caffe", "torchvision")

# Registered backbones (weights.REGISTRY holds how to get and read each) and their architectures.
Model = Literal["vgg16", "vgg19", "vgg19-torchvision"]
MODELS: dict[str, str] = {"vgg16": "vgg16", "vgg19": "vgg19", "vgg19-torchvision": "vgg19"}

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
