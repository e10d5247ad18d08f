"""The whole optimization loop: seconds for N iterations, where they go, and how busy the GPU is.

    python bench/loop.py                                   # CPU, 256 px, 100 iterations
    python bench/loop.py --device cuda --size 512 --iterations 500

For the same content, style, size and iteration count, in one process on one device:

- ``impasto``: ``impasto.stylize_detailed`` at one scale (warm: a first call pays for allocations and
  compilation and is reported separately as ``cold_s``), and its phases measured apart: one
  evaluation of the objective with its gradient, one optimizer step, and the rest of each iteration
  (bookkeeping, reports, waits), plus, on a GPU, the share of a profiled stretch of the loop during
  which the GPU was running kernels;
- ``reference``: a plain, careful loop: torch.optim.LBFGS with a closure over the whole loss compiled
  as one region (on a GPU), autocast and channels-last — what a hand-written script reaches.

One JSON line per measurement on stdout, appended to bench/results/loop.jsonl. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from impasto import examples
from impasto.core.targets import make_targets
from throughput import lbfgs_overhead, sync, timed

RESULTS = common.RESULTS / "loop.jsonl"
CONTENT, STYLE = examples.CONTENT, examples.STYLE


def through_stylize(args: argparse.Namespace) -> dict[str, Any]:
    import impasto

    options = {
        "size": args.size,
        "iterations": args.iterations,
        "multiscale": False,
        "device": args.device,
        "model": args.model,
        "precision": args.precision,
    }
    start = time.perf_counter()
    impasto.stylize_detailed(CONTENT, STYLE, **options)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    done = impasto.stylize_detailed(CONTENT, STYLE, **options)
    warm = time.perf_counter() - start
    return {
        "path": "impasto",
        "runs": done.runtime,
        "optimizer": done.config.optimizer,
        "cold_s": round(cold, 2),
        "warm_s": round(warm, 2),
        "ms_per_iteration": round(warm / args.iterations * 1000, 2),
        "loss": round(done.result.loss, 5),
    }


def phases(args: argparse.Namespace) -> dict[str, Any]:
    """One evaluation, one optimizer step and the GPU's busy share, on the pipeline's own objective."""
    from impasto import pipeline
    from impasto.config import StyleConfig
    from impasto.core import optimize
    from impasto.io import images

    device = torch.device(args.device)
    config = StyleConfig(model=args.model, precision=args.precision, device=args.device)
    weights = pipeline.loss_weights(config)
    runner = pipeline.network(
        config.model,
        None,
        (*weights.content_layers, *weights.style_layers),
        config.pooling,
        args.device,
        config.precision,
        config.compile,
    )
    content = images.to_tensor(images.fit(images.load(CONTENT, 10**9).image, args.size)).to(device)
    style = images.to_tensor(images.fit(images.load(STYLE, 10**9).image, args.size)).to(device)
    targets = make_targets(runner.extractor, content, [style], [1.0], weights)
    objective = pipeline.objective(runner, targets, weights)
    x = content.clone().requires_grad_(True)

    def evaluate() -> torch.Tensor:
        total, _ = objective(x)
        (grad,) = torch.autograd.grad(total, x)
        return grad

    repeats = 5 if device.type == "cpu" else 50
    evaluation = timed(evaluate, repeats, device)
    method = optimize.resolve_optimizer("lbfgs", device)
    step = lbfgs_overhead(args.size, args.device, "impasto" if method == "lbfgs-device" else "torch")
    row: dict[str, Any] = {
        "path": "impasto phases",
        "optimizer": method,
        "ms_evaluation": round(evaluation * 1000, 2),
        "ms_optimizer_step": step["ms_per_step"],
    }
    if device.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        iterations = 100
        optimize.run(content, objective, 10)  # warm
        sync(device)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as profiled:
            start = time.perf_counter()
            optimize.run(content, objective, iterations)
            sync(device)
            wall = time.perf_counter() - start
        busy_us = sum(
            getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0.0))
            for e in profiled.key_averages()
        )
        row["gpu_busy"] = round(busy_us / 1e6 / wall, 3)
        row["profiled_ms_per_iteration"] = round(wall / iterations * 1000, 2)
    return row


def reference(args: argparse.Namespace) -> dict[str, Any]:
    """torch.optim.LBFGS over a whole-loss function compiled in one piece (on a GPU)."""
    from impasto import pipeline
    from impasto.config import StyleConfig
    from impasto.core import losses, runtime
    from impasto.core.backbone import FeatureExtractor
    from impasto.core.weights import load_params
    from impasto.io import images

    device = torch.device(args.device)
    config = StyleConfig(model=args.model)
    weights = pipeline.loss_weights(config)
    entry, params = load_params(args.model, None)
    layers = [*weights.content_layers, *weights.style_layers]
    extractor = FeatureExtractor(entry.architecture, params, entry.preprocessing, layers).to(device)
    precision = runtime.resolve_precision(args.precision, device)
    channels_last = device.type == "cuda"
    if channels_last:
        extractor.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    content = images.to_tensor(images.fit(images.load(CONTENT, 10**9).image, args.size)).to(device)
    style = images.to_tensor(images.fit(images.load(STYLE, 10**9).image, args.size)).to(device)
    targets = make_targets(extractor, content, [style], [1.0], weights)
    dtype = precision.autocast

    def loss(x: torch.Tensor) -> torch.Tensor:
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            features = extractor(x)
        return losses.objective(x, {k: f.float() for k, f in features.items()}, targets, weights)[0]

    compiled = torch.compile(loss) if device.type == "cuda" else loss

    def run() -> float:
        x = content.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50)

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            total = compiled(x)
            total.backward()  # type: ignore[no-untyped-call]
            return total

        for _ in range(args.iterations):
            optimizer.step(closure)  # type: ignore[no-untyped-call]
            with torch.no_grad():
                x.clamp_(0, 1)
        return float(compiled(x))  # with gradients on, like the loop: no second compilation

    start = time.perf_counter()
    run()
    sync(device)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    final = run()
    sync(device)
    warm = time.perf_counter() - start
    return {
        "path": "reference",
        "runs": f"{precision.name}{', channels-last, whole loss compiled' if channels_last else ''}",
        "cold_s": round(cold, 2),
        "warm_s": round(warm, 2),
        "ms_per_iteration": round(warm / args.iterations * 1000, 2),
        "loss": round(final, 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--model", default="vgg19")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args()
    device = torch.device(args.device)
    header = {
        "device": common.machine(device),
        "torch": torch.__version__,
        "size": args.size,
        "iterations": args.iterations,
        "model": args.model,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for measure in (through_stylize, phases, reference):
        row = {**header, **measure(args)}
        print(json.dumps(row), flush=True)
        with RESULTS.open("a") as results:
            results.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
