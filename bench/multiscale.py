"""Multi-scale against single-scale at equal wall time: the final-size content and style losses.

    python bench/multiscale.py [--size 384] [--iterations 100]

Runs the multi-scale default first and times it, then a single-scale run stopped after the same number
of seconds; both results are scored at the output size with the same targets and the same (unweighted,
relative) losses, in float32. Lower is better for both. Not a test: for reports.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import common
import impasto
from impasto import examples
from impasto.core import losses
from impasto.core.backbone import FeatureExtractor
from impasto.core.optimize import Progress
from impasto.core.targets import make_targets
from impasto.core.weights import load_params
from impasto.io import images


def score(image: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """Unweighted content and style losses of ``image`` at its size (defaults' layers and weights)."""
    config = impasto.StyleConfig()
    weights = losses.Weights(
        1.0, 1.0, 0.0, dict(config.content_layers), {n: 0.2 for n, _ in config.style_layers}
    )
    entry, params = load_params(config.model)
    extractor = FeatureExtractor(
        entry.architecture, params, entry.preprocessing, [*weights.content_layers, *weights.style_layers]
    )
    targets = make_targets(extractor, content, [style], [1.0], weights)
    with torch.no_grad():
        _, terms = losses.objective(image, extractor(image), targets, weights)
    return {name: round(value.item(), 4) for name, value in terms.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iterations", type=int, default=100, help="per scale, multi-scale run")
    args = parser.parse_args()
    content_path, style_path = examples.CONTENT, examples.STYLE
    shared = {"size": args.size, "device": "cpu"}

    start = time.perf_counter()
    multi = impasto.stylize_detailed(content_path, style_path, iterations=args.iterations, **shared)
    budget = time.perf_counter() - start

    def stop_at_budget(progress: Progress) -> None:
        if time.perf_counter() - start >= budget:
            raise KeyboardInterrupt

    start = time.perf_counter()
    try:
        single = impasto.stylize_detailed(
            content_path, style_path, iterations=100_000, multiscale=False, callback=stop_at_budget, **shared
        )
        single_image, single_iterations = single.image, single.result.iterations
    except impasto.Interrupted as stopped:
        assert stopped.image is not None
        single_image, single_iterations = stopped.image, stopped.result.iterations

    content = images.to_tensor(images.fit(images.load(content_path, 10**9).image, args.size))
    style = images.to_tensor(images.fit(images.load(style_path, 10**9).image, args.size))
    report = {
        "machine": f"{os.cpu_count()} cores, torch {torch.__version__}",
        "size": args.size,
        "seconds": round(budget, 1),
        "multiscale": {
            "sizes": list(multi.sizes),
            "iterations_per_scale": args.iterations,
            "losses": score(images.to_tensor(multi.image), content, style),
        },
        "single_scale": {
            "iterations": single_iterations,
            "losses": score(images.to_tensor(single_image), content, style),
        },
    }
    print(common.emit("multiscale", report, indent=1))
    out = Path("out")
    out.mkdir(exist_ok=True)
    multi.image.save(out / "multiscale.png")
    single_image.save(out / "single_scale.png")


if __name__ == "__main__":
    main()
