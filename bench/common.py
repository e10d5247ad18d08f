"""What every benchmark shares: where the repository and the results are, the machine a figure was
measured on (said in every result: CPU model and whether it has AVX512_BF16, threads, GPU, torch), and
the one format results are kept in — JSON lines in ``bench/results/<script>.jsonl``, one per run.
"""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def machine(device: torch.device | str = "cpu") -> str:
    """The machine in one line: "AMD EPYC, 2 threads, no AVX512_BF16" or the GPU's name."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    bf16 = "AVX512_BF16" if "avx512_bf16" in info else "no AVX512_BF16"
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name}, {torch.get_num_threads()} threads, {bf16}"


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where and when a result was measured, for its record."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "machine": machine(device),
        "torch": torch.__version__,
        "commit": commit,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def header(device: torch.device | str = "cpu") -> str:
    """The first line a benchmark prints: "# machine, torch version"."""
    return f"# {machine(device)}, torch {torch.__version__}"


def record(script: str, result: dict[str, Any], device: torch.device | str = "cpu") -> Path:
    """Append ``result`` with its environment to ``bench/results/<script>.jsonl``; returns that path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{script}.jsonl"
    with path.open("a") as file:
        file.write(json.dumps({**environment(device), **result}) + "\n")
    return path


def emit(
    script: str, row: dict[str, Any], device: torch.device | str = "cpu", indent: int | None = None
) -> str:
    """``row`` recorded (:func:`record`) and returned as JSON text, for the script to print."""
    record(script, row, device)
    return json.dumps(row, indent=indent)
