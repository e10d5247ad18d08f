"""Seconds to a good result: how soon a configuration reaches the loss of a long fp32 reference run.

    python bench/time_to_quality.py                          # 256 px, defaults against the reference
    python bench/time_to_quality.py --size 512               # the issue's full-size comparison (long)
    python bench/time_to_quality.py --candidate '{"multiscale": true}' --candidate '{"precision": "bf16"}'

The reference is single-scale, fp32, uncompiled L-BFGS for ``--iterations`` iterations (500) from the
content image. Each candidate (the library's defaults unless ``--candidate`` options are given) runs for
as many iterations per scale, with a snapshot of its image every few iterations of its last scale; after
the run, every snapshot is scored with the same fp32 objective as the reference (so reduced-precision
runs are judged in fp32), and the first that reaches the reference's final loss gives the time to
quality. Snapshots are copies taken inside the timed loop; scoring happens outside it.
Not a test: for reports.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

import common
import impasto
from impasto import examples, pipeline
from impasto.core import losses
from impasto.core.backbone import FeatureExtractor
from impasto.core.optimize import Progress
from impasto.core.targets import make_targets
from impasto.core.weights import load_params
from impasto.io import images

REFERENCE: dict[str, Any] = {"precision": "fp32", "compile": "off", "multiscale": False}


def scorer(size: int, device: str) -> Any:
    """The fp32 objective of the default configuration at the output size, as a function of an image."""
    config = impasto.StyleConfig(size=size, device="cpu")
    weights = pipeline.loss_weights(config)
    entry, params = load_params(config.model)
    extractor = FeatureExtractor(
        entry.architecture, params, entry.preprocessing, [*weights.content_layers, *weights.style_layers]
    ).to(device)
    content = images.to_tensor(images.fit(images.load(examples.CONTENT, 10**9).image, size))
    style = images.to_tensor(images.fit(images.load(examples.STYLE, 10**9).image, size))
    targets = make_targets(extractor, content.to(device), [style.to(device)], [1.0], weights)

    def score(image: torch.Tensor) -> float:
        image = image.to(device)
        if image.shape != content.shape:
            raise ValueError(
                f"snapshot {tuple(image.shape)} is not at the output size {tuple(content.shape)}"
            )
        with torch.no_grad():
            return losses.objective(image, extractor(image), targets, weights)[0].item()

    return score


def timed_run(size: int, iterations: int, device: str, every: int, options: dict[str, Any]) -> dict[str, Any]:
    """A stylization with snapshots (elapsed seconds, image) of its last scale every ``every`` iterations."""
    snapshots: list[tuple[float, torch.Tensor]] = []
    start = time.perf_counter()

    def on_progress(progress: Progress) -> None:
        last_scale = progress.scale == progress.scales
        if last_scale and (progress.iteration % every == 0 or progress.iteration == progress.total):
            snapshots.append((time.perf_counter() - start, progress.image.detach().clone()))

    done = impasto.stylize_detailed(
        examples.CONTENT,
        examples.STYLE,
        size=size,
        iterations=iterations,
        device=device,
        callback=on_progress,
        **options,
    )
    return {"seconds": time.perf_counter() - start, "snapshots": snapshots, "done": done}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--every", type=int, default=5, help="snapshot every N iterations")
    parser.add_argument("--candidate", action="append", type=json.loads, help="options as JSON")
    parser.add_argument(
        "--candidate-iterations",
        type=int,
        help="iterations per scale of the candidates (default: --iterations)",
    )
    args = parser.parse_args()
    score = scorer(args.size, args.device)
    print(f"{common.header(args.device)}, {args.device}")

    reference = timed_run(args.size, args.iterations, args.device, args.every, REFERENCE)
    goal = score(reference["snapshots"][-1][1])
    curve = [(round(t, 1), round(score(image), 4)) for t, image in reference["snapshots"]]
    print(
        common.emit(
            "time_to_quality",
            {
                "run": "reference",
                "options": REFERENCE,
                "runtime": reference["done"].runtime,
                "seconds": round(reference["seconds"], 1),
                "fp32_loss": round(goal, 4),
                "loss_at_quarter_time": next(
                    (loss for t, loss in reversed(curve) if t <= reference["seconds"] / 4), None
                ),
            },
        ),
        flush=True,
    )
    for options in args.candidate or [{}]:
        iterations = args.candidate_iterations or args.iterations
        run = timed_run(args.size, iterations, args.device, args.every, options)
        scored = [(t, score(image)) for t, image in run["snapshots"]]
        reached = next((t for t, loss in scored if loss <= goal), None)
        quarter = [loss for t, loss in scored if t <= reference["seconds"] / 4]
        print(
            common.emit(
                "time_to_quality",
                {
                    "run": "candidate",
                    "options": options or "defaults",
                    "runtime": run["done"].runtime,
                    "sizes": list(run["done"].sizes),
                    "seconds": round(run["seconds"], 1),
                    "fp32_loss": round(scored[-1][1], 4),
                    "seconds_to_reference_loss": None if reached is None else round(reached, 1),
                    "fraction_of_reference_time": None
                    if reached is None
                    else round(reached / reference["seconds"], 3),
                    "loss_at_quarter_time": round(quarter[-1], 4) if quarter else None,
                },
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
