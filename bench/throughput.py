"""Milliseconds per evaluation and effective TFLOP/s of the network, per size, precision and path.

    python bench/throughput.py                         # CPU: 256 and 512 px, every useful precision
    python bench/throughput.py --device cuda --sizes 512,1024,2048 --model vgg19
    python bench/throughput.py --one vgg16 512 cpu impasto fp32 auto   # one row, in this process

One evaluation is what every optimizer step costs at least once: the network's forward pass up to the
deepest loss layer, the losses, and the gradient with respect to the input image. FLOPs are counted
analytically (2·C_in·C_out·9·H·W per convolution, twice: forward and input gradient), so TFLOP/s is
comparable across machines and paths. Two paths:

- ``baseline``: plain fp32, eager, contiguous tensors: what a tutorial implementation does;
- ``impasto``: :class:`impasto.runtime.Runner` at the given precision (channels-last, compiled where
  ``--compile`` says), exactly what a stylization runs.

Each row runs in its own process, so its peak memory (resident set on a CPU, allocated on a GPU) is
its own. Not a test: timings are for reports, not assertions.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import random_vgg19

STYLE_LAYERS = [f"relu{block}_1" for block in range(1, 6)]
CONTENT_LAYERS = ["relu4_2"]


def analytic_flops(model: str, height: int, width: int) -> float:
    """FLOPs of one evaluation: forward to relu5_1 plus the gradient with respect to the input."""
    from impasto.backbone import LAYOUTS, conv_shapes

    shapes = iter(conv_shapes(model))
    flops = 0.0
    for block, convs in enumerate(LAYOUTS[model], start=1):
        scale = 2 ** (block - 1)
        pixels = (height // scale) * (width // scale)
        count = 1 if block == 5 else convs  # relu5_1 is the deepest layer a default loss needs
        for index in range(convs):
            c_in, c_out = next(shapes)
            if index < count:
                flops += 2 * c_in * c_out * 9 * pixels
        if block == 5:
            break
    return 2 * flops


def one(
    model: str, size: int, device_name: str, path: str, precision: str, compile_mode: str
) -> dict[str, object]:
    from impasto import losses, runtime
    from impasto.backbone import FeatureExtractor
    from impasto.weights import load_params

    device = torch.device(device_name)
    weights = None
    if model == "vgg19":
        weights = Path("/tmp/impasto-bench-vgg19.pth")
        if not weights.exists():
            random_vgg19(weights)
    entry, params = load_params(model, weights)
    extractor = FeatureExtractor(
        entry.architecture, params, entry.preprocessing, [*CONTENT_LAYERS, *STYLE_LAYERS]
    ).to(device)
    height, width = size, size
    x = torch.rand(1, 3, height, width, device=device, requires_grad=True)
    with torch.no_grad():
        reference = extractor(torch.rand(1, 3, height, width, device=device))
    targets = losses.Targets(
        content={name: reference[name] for name in CONTENT_LAYERS},
        style={name: losses.gram(reference[name]) for name in STYLE_LAYERS},
    )
    weights_ = losses.Weights(1.0, 5.0, 0.0, {"relu4_2": 1.0}, {name: 0.2 for name in STYLE_LAYERS})
    if path == "baseline":
        network = extractor
        described = "fp32, eager, contiguous"
    else:
        runner = runtime.Runner(
            extractor,
            runtime.resolve_precision(precision, device),
            compile=runtime.compile_wanted(compile_mode, device),
        )
        network = runner  # type: ignore[assignment]
        described = runner.description

    def evaluate() -> None:
        total, _ = losses.objective(x, network(x), targets, weights_)
        total.backward()  # type: ignore[no-untyped-call]
        x.grad = None

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    evaluate()  # allocations, autotuning, compilation
    sync()
    first = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    repeats = 3 if device.type == "cpu" else 50
    evaluate()
    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        evaluate()
    sync()
    seconds = (time.perf_counter() - start) / repeats
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        "model": model,
        "size": f"{width}x{height}",
        "path": path,
        "runs": described,
        "ms_per_evaluation": round(seconds * 1000, 2),
        "tflops": round(analytic_flops(model, height, width) / seconds / 1e12, 3),
        "first_call_s": round(first, 2),
        "peak_mb": round(peak),
        "peak_mb_per_megapixel": round(peak / (width * height / 1e6)),
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
    }


def lbfgs_overhead(size: int, device_name: str) -> dict[str, object]:
    """Milliseconds of one L-BFGS step of the optimizer itself (its history full), on a (1, 3, size, size)
    image with an objective that costs next to nothing: what the optimizer adds to every evaluation."""
    from impasto.optimize import make_optimizer

    device = torch.device(device_name)
    target = torch.rand(1, 3, size, size, device=device)
    x = torch.zeros_like(target, requires_grad=True)
    optimizer = make_optimizer("lbfgs", x, 1.0)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (x - target).pow(2).sum() * 0.5 + (x.pow(4).sum() * 1e-3)  # not quadratic: L-BFGS keeps going
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    def timed(steps: int, step: Any) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / steps

    timed(60, lambda: optimizer.step(closure))  # type: ignore[arg-type]  # fill the 50-pair history
    per_step = timed(40, lambda: optimizer.step(closure))  # type: ignore[arg-type]
    per_closure = timed(40, closure)
    return {
        "size": f"{size}x{size}",
        "path": "lbfgs optimizer alone (torch.optim.LBFGS, history 50)",
        "ms_per_step": round((per_step - per_closure) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--one", nargs=6, metavar=("MODEL", "SIZE", "DEVICE", "PATH", "PRECISION", "COMPILE"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="vgg16", choices=["vgg16", "vgg19"])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--precisions", help="comma-separated (default: what is fast on the device)")
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    args = parser.parse_args()
    if args.one:
        model, size, device, path, precision, compile_mode = args.one
        print(json.dumps(one(model, int(size), device, path, precision, compile_mode)))
        return

    from impasto.runtime import cpu_has_fast_bf16

    if args.precisions:
        precisions = args.precisions.split(",")
    elif args.device == "cuda":
        precisions = ["fp32", "tf32", "bf16", "fp16"]
    else:
        precisions = ["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"]
    print(f"# {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    for size in map(int, args.sizes.split(",")):
        rows = [("baseline", "fp32")] + [("impasto", p) for p in precisions]
        for path, precision in rows:
            command = [sys.executable, __file__, "--one", args.model, str(size), args.device, path, precision]
            result = subprocess.run([*command, args.compile], capture_output=True, text=True)
            lines = result.stdout.strip().splitlines()
            print(
                lines[-1]
                if result.returncode == 0 and lines
                else json.dumps(
                    {
                        "size": size,
                        "path": path,
                        "precision": precision,
                        "error": result.stderr.strip()[-300:],
                    }
                ),
                flush=True,
            )
        print(json.dumps(lbfgs_overhead(size, args.device)), flush=True)


if __name__ == "__main__":
    main()
