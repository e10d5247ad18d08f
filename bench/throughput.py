"""Milliseconds per evaluation and effective TFLOP/s of the objective, per size, precision and path.

    python bench/throughput.py                         # CPU: 256 and 512 px, every useful precision
    python bench/throughput.py --device cuda --sizes 512,1024,2048 --model vgg19
    python bench/throughput.py --one vgg19 512 cpu impasto fp32 auto   # one row, in this process

One evaluation is what every optimizer step costs at least once: the network's forward pass up to the
deepest loss layer, the Gram matrices and loss terms, and the gradient with respect to the input image.
FLOPs are counted analytically (2·C_in·C_out·9·H·W per convolution, twice: forward and input
gradient), so TFLOP/s is comparable across machines and paths. Three paths:

- ``baseline``: plain fp32, eager, contiguous tensors: what a tutorial implementation does;
- ``reference``: what a careful hand-written script does: autocast at the given precision,
  channels-last, and the whole loss (network, Grams, terms) in one ``torch.compile`` (static shapes,
  where ``--compile`` says);
- ``impasto``: :meth:`impasto.core.runtime.Runner.objective` at the given precision, exactly what a
  stylization runs (compiled where ``--compile`` says).

Then the optimizer alone: milliseconds of one L-BFGS step (history full) for torch's and impasto's.
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
from collections.abc import Callable
from typing import Any

import torch

import common

STYLE_LAYERS = [f"relu{block}_1" for block in range(1, 6)]
CONTENT_LAYERS = ["relu4_2"]


def analytic_flops(model: str, height: int, width: int) -> float:
    """FLOPs of one evaluation: forward to relu5_1 plus the gradient with respect to the input."""
    from impasto.core.backbone import LAYOUTS, conv_shapes

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


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Seconds per call of ``fn``, after one call that is not counted (allocations, compilation)."""
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def weights_or_random(model: str) -> tuple[Any, Any]:
    """The registered weights of ``model``, or random ones of the same shapes where they are not
    installed (a device machine carries only the default VGG-19): the cost does not depend on them."""
    from impasto.core.backbone import conv_shapes
    from impasto.core.weights import REGISTRY, load_params
    from impasto.errors import ImpastoError

    try:
        return load_params(model, None)
    except ImpastoError:
        params = [
            (torch.randn(o, i, 3, 3) * (2 / (9 * i)) ** 0.5, torch.zeros(o))
            for i, o in conv_shapes(REGISTRY[model].architecture)
        ]
        return REGISTRY[model], params


def one(
    model: str, size: int, device_text: str, path: str, precision: str, compile_mode: str
) -> dict[str, object]:
    from impasto import pipeline
    from impasto.core import losses, runtime, style
    from impasto.core.backbone import FeatureExtractor

    device = torch.device(device_text)
    entry, params = weights_or_random(model)
    extractor = FeatureExtractor(
        entry.architecture, params, entry.preprocessing, [*CONTENT_LAYERS, *STYLE_LAYERS]
    ).to(device)
    height, width = size, size
    x = torch.rand(1, 3, height, width, device=device, requires_grad=True)
    with torch.no_grad():
        reference = extractor(torch.rand(1, 3, height, width, device=device))
    targets = losses.Targets(
        content={name: reference[name] for name in CONTENT_LAYERS},
        loss=style.make("gram", dict.fromkeys(STYLE_LAYERS, 0.2)),
        style={name: losses.gram(reference[name]) for name in STYLE_LAYERS},
    )
    weights = losses.Weights(1.0, 5.0, 0.0, {"relu4_2": 1.0}, {name: 0.2 for name in STYLE_LAYERS})
    resolved = runtime.resolve_precision(precision, device)
    objective: Callable[[torch.Tensor], tuple[torch.Tensor, Any]]
    if path == "baseline":
        described = "fp32, eager, contiguous"

        def objective(x: torch.Tensor) -> tuple[torch.Tensor, Any]:
            return losses.objective(x, extractor(x), targets, weights)

    elif path == "reference":
        extractor.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        dtype = resolved.autocast

        def plain(x: torch.Tensor) -> tuple[torch.Tensor, Any]:
            with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                features = extractor(x.contiguous(memory_format=torch.channels_last))
            features = {name: f.float() for name, f in features.items()}
            return losses.objective(x, features, targets, weights)

        compiled = runtime.compile_wanted(compile_mode, device)
        objective = torch.compile(plain, dynamic=False) if compiled else plain
        described = f"{resolved.name}, channels-last" + (", whole loss compiled" if compiled else "")
    else:
        runner = runtime.Runner(extractor, resolved, compile=runtime.compile_wanted(compile_mode, device))
        objective = runner.objective(pipeline.total_loss, targets, weights, None)
        described = runner.description

    def evaluate() -> None:
        total, _ = objective(x)
        torch.autograd.grad(total, x)

    start = time.perf_counter()
    evaluate()  # allocations, autotuning, compilation
    sync(device)
    first = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    repeats = 3 if device.type == "cpu" else 50
    evaluate()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        evaluate()
    sync(device)
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
        "device": device_name(device),
    }


def lbfgs_overhead(size: int, device_text: str, implementation: str) -> dict[str, object]:
    """Milliseconds of one L-BFGS step of the optimizer itself (its 50-pair history full) on a
    (1, 3, size, size) image, given the gradient: what the optimizer adds to every evaluation."""
    from impasto.core.lbfgs import LBFGS

    device = torch.device(device_text)
    x = torch.zeros(3 * size * size, device=device, requires_grad=True)
    generator = torch.Generator(device=device).manual_seed(0)
    grads = [torch.randn(x.shape, device=device, generator=generator) for _ in range(4)]
    step: Callable[[torch.Tensor], None]
    if implementation == "torch":
        optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50)
        loss = torch.zeros((), device=device)

        def step(grad: torch.Tensor) -> None:
            x.grad = grad
            optimizer.step(lambda: loss)  # type: ignore[no-untyped-call]

    else:
        ours = LBFGS(x.numel(), 1.0, device=device)

        def step(grad: torch.Tensor) -> None:
            ours.step(x.detach(), grad)

    calls = iter(range(10**9))

    def next_step() -> None:
        step(grads[next(calls) % len(grads)])

    timed(next_step, 60, device)  # fill the history
    per_step = timed(next_step, 40, device)
    return {
        "size": f"{size}x{size}",
        "path": f"L-BFGS step alone ({implementation}, history 50)",
        "ms_per_step": round(per_step * 1000, 2),
        "device": device_name(device),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--one", nargs=6, metavar=("MODEL", "SIZE", "DEVICE", "PATH", "PRECISION", "COMPILE"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default="vgg19", choices=["vgg16", "vgg19"])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--precisions", help="comma-separated (default: what is fast on the device)")
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    args = parser.parse_args()
    if args.one:
        model, size, device, path, precision, compile_mode = args.one
        print(json.dumps(one(model, int(size), device, path, precision, compile_mode)))
        return

    from impasto.core.runtime import cpu_has_fast_bf16

    if args.precisions:
        precisions = args.precisions.split(",")
    elif args.device == "cuda":
        precisions = ["fp32", "tf32", "bf16", "fp16"]
    else:
        precisions = ["fp32", "bf16"] if cpu_has_fast_bf16() else ["fp32"]
    print(common.header(), flush=True)
    for size in map(int, args.sizes.split(",")):
        rows = [("baseline", "fp32")] + [(path, p) for p in precisions for path in ("reference", "impasto")]
        for path, precision in rows:
            command = [sys.executable, __file__, "--one", args.model, str(size), args.device, path, precision]
            result = subprocess.run([*command, args.compile], capture_output=True, text=True)
            lines = result.stdout.strip().splitlines()
            row = (
                json.loads(lines[-1])
                if result.returncode == 0 and lines
                else {
                    "size": size,
                    "path": path,
                    "precision": precision,
                    "error": result.stderr.strip()[-300:],
                }
            )
            print(common.emit("throughput", row, args.device), flush=True)
        for implementation in ("torch", "impasto"):
            row = lbfgs_overhead(size, args.device, implementation)
            print(common.emit("throughput", row, args.device), flush=True)


if __name__ == "__main__":
    main()
