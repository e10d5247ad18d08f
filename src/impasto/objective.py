"""What a run descends: the network that sees the image (built once per set of options and kept), the
loss weights the options give, and the objective J(x) = α·content + β·style (+ γ·TV, + the temporal
terms of a video frame) of Gatys et al.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from impasto.config import StyleConfig
from impasto.core import losses, optimize, runtime
from impasto.core.backbone import FeatureExtractor
from impasto.core.weights import CAFFE_IMAGENET, IMAGENET, load_params_cached
from impasto.inputs import Temporal

# --preprocessing → what the weights expect ("auto": the registered weights' own).
PREPROCESSING = {"caffe": CAFFE_IMAGENET, "torchvision": IMAGENET}


def network(
    model: str,
    weights: Path | None,
    layers: tuple[str, ...],
    pooling: str,
    device: str,
    precision: str,
    compile_mode: str,
    preprocessing: str = "auto",
) -> runtime.Runner:
    """The frozen network for these options, built once per process: video frames, batches and the web
    app's jobs reuse it, and a compiled network (torch.compile) is not compiled again for every call.
    A weights file is known by its path and its modification time, as the weights cache knows it: a
    file replaced under the same name is read again."""
    stamp = weights.stat().st_mtime_ns if weights is not None and weights.is_file() else 0
    return _network(model, weights, stamp, layers, pooling, device, precision, compile_mode, preprocessing)


@functools.lru_cache(maxsize=4)
def _network(
    model: str,
    weights: Path | None,
    weights_stamp: int,
    layers: tuple[str, ...],
    pooling: str,
    device: str,
    precision: str,
    compile_mode: str,
    preprocessing: str,
) -> runtime.Runner:
    entry, params = load_params_cached(model, weights)
    where = torch.device(device)
    expects = PREPROCESSING.get(preprocessing, entry.preprocessing)
    extractor = FeatureExtractor(entry.architecture, params, expects, layers, pooling).to(where)  # type: ignore[arg-type]
    return runtime.Runner(
        extractor,
        runtime.resolve_precision(precision, where),
        compile=runtime.compile_wanted(compile_mode, where),
    )


def loss_weights(config: StyleConfig) -> losses.Weights:
    """α, β, γ and the per-layer weights of ``config``, each set of layer weights normalized to sum 1."""
    return losses.Weights(
        content=config.content_weight,
        style=config.style_weight,
        tv=config.tv_weight,
        content_layers=_normalized(config.content_layers),
        style_layers=_normalized(config.style_layers),
    )


def objective(
    runner: runtime.Runner,
    targets: losses.Targets,
    weights: losses.Weights,
    temporal: Temporal | None = None,
    *,
    compiled: bool = True,
) -> optimize.Objective:
    """x (1, 3, H, W) → (J, its terms), run by ``runner``: compiled as one region where the runner
    compiles and ``compiled`` (the plan's :attr:`~impasto.plan.Scale.compiled`) says so."""
    return runner.objective(total_loss, targets, weights, temporal, compiled=compiled)


def total_loss(
    x: torch.Tensor,
    features: dict[str, torch.Tensor],
    targets: losses.Targets,
    weights: losses.Weights,
    temporal: Temporal | None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """J of ``x`` given its features: Gatys et al.'s terms, and the temporal ones of a video frame."""
    total, terms = losses.objective(x, features, targets, weights)
    if temporal is not None and temporal.weight > 0 and temporal.targets:
        term = sum(
            (losses.temporal_loss(x, warped, c) for warped, c in temporal.targets),
            torch.zeros((), device=x.device),
        )
        terms["temporal"] = temporal.weight * term
        total = total + terms["temporal"]
    return total, terms


def _normalized(layers: tuple[tuple[str, float], ...]) -> dict[str, float]:
    total = sum(weight for _, weight in layers)
    return {name: weight / total for name, weight in layers if weight > 0}
