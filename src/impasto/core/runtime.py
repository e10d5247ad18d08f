"""How the network is run on a device: numeric precision, memory layout and compilation.

The optimization evaluates the same objective on the same shape hundreds of times, so everything that
makes one evaluation cheaper is decided once, here, and applied by :class:`Runner`:

- precision: the convolutions run in bf16/fp16 under autocast where the hardware has fast units for
  them (or in TF32 on a GPU); features come out of the network as fp32, so Gram matrices and loss sums
  are always fp32 — reduced precision would otherwise cost quality (an earlier measurement: a bf16
  run's loss was 13% worse with bf16 Grams). ``auto`` is bf16 on a GPU that has it and on a CPU with
  bf16 instructions (AVX512_BF16 or AMX), fp32 on any other CPU (see :func:`resolve_precision`).
- memory layout: channels-last (NHWC), the layout GPU tensor cores and oneDNN's bf16 kernels prefer.
- compilation: ``torch.compile`` of the whole objective (network, statistics, loss terms) as one
  region, with dynamic image sizes so a coarse-to-fine run compiles once, and a persistent cache so a
  second run loads instead of compiling. Any compiler failure falls back to eager with a warning.
"""

from __future__ import annotations

import contextlib
import copy
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from impasto.choices import COMPILE_MODES, PRECISIONS
from impasto.core.backbone import FeatureExtractor
from impasto.errors import ConfigError

# fp16 has 5 exponent bits: gradients of relative losses (~1e-6 per activation at a megapixel) would
# underflow. The backward pass through the fp16 part is scaled by this factor and unscaled at the input.
FP16_GRAD_SCALE = 2.0**12


@dataclass(frozen=True)
class Precision:
    """What ``--precision`` resolved to on a device."""

    name: Literal["fp32", "tf32", "bf16", "fp16"]
    autocast: torch.dtype | None  # the dtype convolutions run in, None: fp32 (or TF32)

    @property
    def tf32(self) -> bool:
        return self.name == "tf32"


# The /proc/cpuinfo flags of bf16 arithmetic: AVX512_BF16's dot products, or AMX's bf16 tiles.
FAST_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags, from the first ``flags`` line of ``cpuinfo`` (the text of /proc/cpuinfo;
    read from the file where None). Empty where there is no such file or line (any system but Linux)."""
    if cpuinfo is None:
        if sys.platform != "linux":
            return frozenset()
        try:
            with open("/proc/cpuinfo") as file:
                cpuinfo = file.read()
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split())
    return frozenset()


def cpu_has_fast_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has bf16 arithmetic (AVX512_BF16 or AMX), by :func:`cpu_flags` of ``cpuinfo``
    (this machine's where None). Without it bf16 is emulated: ~50× slower than fp32 on an AVX2 CPU,
    measured."""
    return bool(cpu_flags(cpuinfo) & FAST_BF16_FLAGS)


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``name`` (one of PRECISIONS) → what runs on ``device``.

    auto: bf16 on a GPU that has it (TF32 on an older one); on a CPU, bf16 where it has bf16
    arithmetic (:func:`cpu_has_fast_bf16`: AVX512_BF16 or AMX) and fp32 where it would be emulated;
    fp32 on any other device. tf32 is a GPU format; on a CPU it means fp32. An explicit name is taken
    as it is (bf16 on a CPU without bf16 arithmetic runs, emulated and slowly).

    On a CPU, bf16 keeps the picture (Gram matrices and losses stay fp32) and saves time. Measured on
    an AVX512_BF16 CPU against fp32 at 256 px and 60 iterations: 1.64× faster end to end, a style score
    0.96× fp32's (a little closer to the style), content 0.735 against 0.736, and the colours of a
    red/blue two-style blend within 1 (of 255) of fp32's. bf16 autocast on a CPU also brings the
    channels-last layout (see :class:`Runner`).
    """
    if name not in PRECISIONS:
        raise ConfigError(f"unknown precision {name!r}; choose from {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda":
            name = "bf16" if torch.cuda.is_bf16_supported() else "tf32"
        elif device.type == "cpu" and cpu_has_fast_bf16():
            name = "bf16"
        else:
            name = "fp32"
    if name == "bf16":
        return Precision("bf16", torch.bfloat16)
    if name == "fp16":
        return Precision("fp16", torch.float16)
    if name == "tf32" and device.type == "cuda":
        return Precision("tf32", None)
    return Precision("fp32", None)


# torch.compile costs 12–15 s for each new input shape on an H100 (measured by an earlier session, not
# this one); a coarse scale below this many pixels runs eagerly, where it finishes in less time than
# compiling would save. A guess until a GPU measures it: bench/throughput.py gives both sides.
COMPILE_MIN_PIXELS = 512 * 512


def compile_wanted(mode: str, device: torch.device) -> bool:
    """auto: on CUDA only. A CPU compile costs about a minute on two cores and gains little there: the
    convolutions already run in oneDNN and dominate."""
    if mode not in COMPILE_MODES:
        raise ConfigError(f"unknown compile mode {mode!r}; choose from {', '.join(COMPILE_MODES)}")
    if mode == "auto":
        return device.type == "cuda"
    return mode == "on"


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; the backward multiplies the incoming gradient by ``factor``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, factor: float) -> torch.Tensor:
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad * ctx.factor, None


def scale_grad(x: torch.Tensor, factor: float) -> torch.Tensor:
    """``x`` unchanged, with its gradient multiplied by ``factor`` on the way back."""
    out: torch.Tensor = _ScaleGrad.apply(x, factor)  # type: ignore[no-untyped-call]
    return out


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def use_persistent_compile_cache() -> Path:
    """Keep torch.compile's caches (inductor's FX graph and AOT-autograd caches, on by default) in the
    user's cache folder instead of /tmp, so a second run of the same shapes, even after a reboot, loads
    compiled kernels instead of compiling them. A TORCHINDUCTOR_CACHE_DIR the user chose wins; torch's
    own default (which importing torch._dynamo writes into the environment) does not."""
    ours = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "impasto" / "torch-compile"
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        torchs_default: str | None = default_cache_dir()
    except ImportError:  # another torch layout: only an unset variable is ours to set
        torchs_default = None
    if current is None or (torchs_default is not None and Path(current) == Path(torchs_default)):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = current = str(ours)
    return Path(current)


Evaluation = tuple[torch.Tensor, dict[str, torch.Tensor]]  # the objective's total and its terms
Loss = Callable[..., Evaluation]  # (x, features, *args) → total, terms


class Runner:
    """Runs a :class:`FeatureExtractor` the fast way.

    ``runner(x)`` takes RGB (B, 3, H, W) in [0, 1] and returns ``{layer: fp32 features}`` exactly like
    ``extractor(x)``, differentiable with respect to x (used for targets). ``runner.objective(loss,
    *args)`` is what the optimization calls: ``x → loss(x, features of x, *args)``, compiled as one
    region where compilation is on — the network, the Gram matrices and every loss term together, so
    inductor fuses them and nothing between the convolutions runs eagerly.
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        precision: Precision,
        compile: bool = False,
        backend: str | Callable[..., Any] = "inductor",
        channels_last: bool | None = None,
    ) -> None:
        self.extractor = extractor
        self.precision = precision
        self.device = extractor.input_scale.device
        # Channels-last where the convolutions want it: cuDNN's tensor-core kernels, and oneDNN's bf16
        # kernels on a CPU. Not for fp32 on a CPU: on a 2-core AVX2 CPU it was as fast or slower
        # (bench/throughput.py).
        if channels_last is None:
            channels_last = self.device.type == "cuda" or (
                self.device.type == "cpu" and precision.autocast is not None
            )
        self.channels_last = channels_last
        if self.channels_last:  # on a copy: the caller's extractor stays as it was given
            self.extractor = copy.deepcopy(extractor).to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self._compiled_evaluate: Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]] | None = None
        if compile:
            use_persistent_compile_cache()
            # dynamic: one compilation serves every scale of a coarse-to-fine run (and every size a
            # later run asks for, through the persistent cache), instead of one per shape.
            self._compiled_evaluate = torch.compile(self._evaluate, backend=backend, dynamic=True)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network at the chosen precision and layout; traceable (no global switches)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        fp16 = self.precision.name == "fp16"
        if fp16:
            x = scale_grad(x, 1 / FP16_GRAD_SCALE)
        with torch.autocast(
            self.device.type,
            dtype=self.precision.autocast or torch.float32,
            enabled=self.precision.autocast is not None,
        ):
            features: dict[str, torch.Tensor] = self.extractor(x)
        out = {name: f.float() for name, f in features.items()}
        if fp16:
            out = {name: scale_grad(f, FP16_GRAD_SCALE) for name, f in out.items()}
        return out

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        with _tf32(self.precision.tf32):
            return self.features(x)

    def _evaluate(
        self, x: torch.Tensor, loss: Loss, *args: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return loss(x, self.features(x), *args)

    def objective(
        self, loss: Loss, *args: Any, compiled: bool = True
    ) -> Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """``x → loss(x, self.features(x), *args)``: compiled when compilation is on and ``compiled``
        (the plan decides, scale by scale: :attr:`impasto.plan.Scale.compiled`). ``loss`` should be a
        module-level function and ``args`` plain data (targets, weights): the compiled code is reused
        for as long as they keep their types."""

        def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            with _tf32(self.precision.tf32):
                compiled_evaluate = self._compiled_evaluate
                if compiled_evaluate is None or not compiled:
                    return self._evaluate(x, loss, *args)
                try:
                    return compiled_evaluate(x, loss, *args)
                except Exception as error:  # any compiler failure: run eagerly instead
                    warnings.warn(
                        f"torch.compile failed ({type(error).__name__}: {error}); running uncompiled",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    self._compiled_evaluate = None
                    return self._evaluate(x, loss, *args)

        return evaluate

    @property
    def compiled(self) -> bool:
        """Whether the objective runs compiled (False after a compiler failure fell back to eager)."""
        return self._compiled_evaluate is not None

    @property
    def description(self) -> str:
        """What runs, for progress lines and benchmarks: "bf16, channels-last, compiled"."""
        parts: list[str] = [self.precision.name]
        if self.channels_last:
            parts.append("channels-last")
        if self.compiled:
            parts.append("compiled")
        return ", ".join(parts)
