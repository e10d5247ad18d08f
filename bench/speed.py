"""Seconds per iteration and peak memory of a stylization, per backbone and size.

    python bench/speed.py                      # the matrix: vgg16/vgg19 × 256/512 px, on the CPU
    python bench/speed.py --one vgg16 256 20   # one run (what the matrix starts in a subprocess)

Each run is a fresh process so its peak resident memory (ru_maxrss) is its own. VGG-19 runs with
random weights of the right shapes when its real weights are not cached: the cost of an iteration
does not depend on the values of the weights. Not a test: timings are for reports, not assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import common
from impasto import examples

ROOT = Path(__file__).resolve().parent.parent


def random_vgg19(path: Path) -> None:
    """A torchvision-style VGG-19 state dict with random weights (He initialization) at ``path``."""
    from impasto.core.backbone import LAYOUTS, conv_shapes

    shapes = iter(conv_shapes("vgg19"))
    state: dict[str, torch.Tensor] = {}
    index = 0  # torchvision numbers every module of `features`: conv, relu, …, pool
    for convs in LAYOUTS["vgg19"]:
        for _ in range(convs):
            c_in, c_out = next(shapes)
            state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3) * (2 / (9 * c_in)) ** 0.5
            state[f"features.{index}.bias"] = torch.zeros(c_out)
            index += 2
        index += 1
    torch.save(state, path)


def one(model: str, size: int, iterations: int, device: str, weights: str | None) -> dict[str, object]:
    import impasto

    elapsed: list[float] = []
    done = impasto.stylize_detailed(
        examples.CONTENT,
        examples.STYLE,
        size=size,
        iterations=iterations,
        model=model,
        weights=Path(weights) if weights else None,
        device=device,
        callback=lambda p: elapsed.append(p.elapsed),
    )
    warm = 2  # the first iterations pay for allocations and L-BFGS's short first step
    per_iteration = (elapsed[-1] - elapsed[warm - 1]) / (len(elapsed) - warm)
    peak_device_mb = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    return {
        "model": model,
        "size": list(done.image.size),
        "iterations": iterations,
        "seconds_per_iteration": round(per_iteration, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "peak_device_mb": round(peak_device_mb),
        "device": str(done.device),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "SIZE", "ITERATIONS"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--iterations", type=int, default=12)
    args = parser.parse_args()
    if args.one:
        model, size, iterations = args.one
        print(json.dumps(one(model, int(size), int(iterations), args.device, args.weights)))
        return

    print(f"{common.header(args.device)}, device {args.device}")
    with tempfile.TemporaryDirectory() as tmp:
        from impasto.core.weights import REGISTRY, cache_dir

        vgg19 = cache_dir() / REGISTRY["vgg19"].file_name
        if not vgg19.is_file():
            vgg19 = Path(tmp) / "vgg19-random.pth"
            random_vgg19(vgg19)
        for model in ("vgg16", "vgg19"):
            for size in map(int, args.sizes.split(",")):
                command = [sys.executable, __file__, "--one", model, str(size), str(args.iterations)]
                command += ["--device", args.device]
                if model == "vgg19":
                    command += ["--weights", str(vgg19)]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                row = json.loads(result.stdout.strip().splitlines()[-1])
                print(common.emit("speed", row, args.device), flush=True)


if __name__ == "__main__":
    main()
