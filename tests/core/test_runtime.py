"""runtime.py: precision choice, the fast runner's agreement with the plain network, compile fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import impasto
import impasto.core.optimize
import impasto.core.targets
import impasto.pipeline
from impasto.core import losses, runtime, style
from impasto.core.backbone import FeatureExtractor
from impasto.core.weights import load_params
from impasto.errors import ConfigError
from impasto.io import images

CPU = torch.device("cpu")
LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    entry, params = load_params("vgg16", None)
    return FeatureExtractor(entry.architecture, params, entry.preprocessing, LAYERS)


def loss_and_grad(network: Any, x: torch.Tensor, targets: losses.Targets) -> tuple[float, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    weights = losses.Weights(1.0, 5.0, 0.0, {"relu4_2": 1.0}, {n: 0.2 for n in LAYERS if n != "relu4_2"})
    total, _ = losses.objective(x, network(x), targets, weights)
    total.backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    return total.item(), x.grad


def make_targets(extractor: FeatureExtractor, size: int = 48) -> losses.Targets:
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        features = extractor(torch.rand(1, 3, size, size, generator=generator))
    style_layers = [n for n in LAYERS if n != "relu4_2"]
    return losses.Targets(
        content={"relu4_2": features["relu4_2"]},
        loss=style.make("gram", dict.fromkeys(style_layers, 0.2)),
        style={n: losses.gram(features[n]) for n in style_layers},
    )


def cpuinfo(*flags: str) -> str:
    """/proc/cpuinfo's text for a two-processor CPU with these flags."""
    return "".join(f"processor\t: {n}\nmodel name\t: A CPU\nflags\t\t: {' '.join(flags)}\n\n" for n in (0, 1))


def fake_cpu(monkeypatch: pytest.MonkeyPatch, *flags: str) -> None:
    """Make this machine's CPU read as one with ``flags``."""
    parse = runtime.cpu_flags
    monkeypatch.setattr(
        runtime, "cpu_flags", lambda text=None: parse(cpuinfo(*flags) if text is None else text)
    )


BF16 = runtime.Precision("bf16", torch.bfloat16)
FP32 = runtime.Precision("fp32", None)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("sse4_2", "avx2", "avx512f", "avx512_bf16"), BF16),
        (("sse4_2", "avx2", "amx_tile", "amx_bf16"), BF16),
        (("sse4_2", "avx2", "fma"), FP32),
        (("avx2", "avx512f", "avx512_vnni"), FP32),  # AVX-512 without its bf16 instructions
        ((), FP32),
    ],
)
def test_auto_precision_on_a_cpu_follows_its_bf16_units(
    monkeypatch: pytest.MonkeyPatch, flags: tuple[str, ...], expected: runtime.Precision
) -> None:
    fake_cpu(monkeypatch, *flags)
    assert runtime.cpu_has_fast_bf16() == (expected == BF16)
    assert runtime.resolve_precision("auto", CPU) == expected
    assert runtime.resolve_precision("auto", torch.device("mps")) == FP32  # whatever the CPU has
    # Explicit names are taken as they are, whatever the CPU has.
    assert runtime.resolve_precision("fp32", CPU) == FP32
    assert runtime.resolve_precision("bf16", CPU) == BF16
    assert runtime.resolve_precision("tf32", CPU) == FP32


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16"), (False, "tf32")])
def test_auto_precision_on_cuda_follows_the_gpu(
    monkeypatch: pytest.MonkeyPatch, bf16: bool, expected: str
) -> None:
    fake_cpu(monkeypatch, "avx2")  # the host CPU does not matter
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    assert runtime.resolve_precision("auto", torch.device("cuda")).name == expected


def test_cpu_flags_are_read_from_cpuinfo() -> None:
    assert runtime.cpu_flags(cpuinfo("fpu", "avx2", "amx_bf16")) == {"fpu", "avx2", "amx_bf16"}
    assert runtime.cpu_has_fast_bf16(cpuinfo("avx2", "avx512_bf16"))
    assert not runtime.cpu_has_fast_bf16(cpuinfo("avx2", "avx512f"))
    assert runtime.cpu_flags("processor\t: 0\n") == frozenset()  # no flags line (some ARM kernels)
    # This machine's own answer is its /proc/cpuinfo's.
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    assert runtime.cpu_has_fast_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_a_bf16_cpu_runs_channels_last_and_an_fp32_one_contiguous(
    monkeypatch: pytest.MonkeyPatch, extractor: FeatureExtractor
) -> None:
    """auto's layout follows its precision: oneDNN's bf16 kernels want channels-last, fp32 does not."""
    fake_cpu(monkeypatch, "avx2", "avx512_bf16")
    assert (
        runtime.Runner(extractor, runtime.resolve_precision("auto", CPU)).description == "bf16, channels-last"
    )
    fake_cpu(monkeypatch, "avx2")
    assert runtime.Runner(extractor, runtime.resolve_precision("auto", CPU)).description == "fp32"


@pytest.mark.slow
def test_auto_precision_gives_the_picture_of_the_precision_it_names(
    content_path: Path, style_path: Path
) -> None:
    """``auto`` is only a choice: its picture is that of the precision it resolves to on this machine
    (bf16 on a CPU with bf16 units, fp32 on others). That each precision keeps the look is tested apart,
    by name (the colour tests in test_pipeline_controls.py, and the bf16 quality bar below)."""
    options: dict[str, Any] = {"size": 48, "iterations": 10, "device": "cpu"}
    named = runtime.resolve_precision("auto", CPU).name
    auto = np.asarray(impasto.stylize(content_path, style_path, precision="auto", **options), dtype=float)
    same = np.asarray(impasto.stylize(content_path, style_path, precision=named, **options), dtype=float)
    assert np.abs(auto - same).mean() < 1.0


def test_explicit_precisions() -> None:
    assert runtime.resolve_precision("fp16", CPU).autocast == torch.float16
    assert runtime.resolve_precision("bf16", CPU).autocast == torch.bfloat16
    assert runtime.resolve_precision("tf32", CPU).name == "fp32"  # TF32 exists on GPUs only
    with pytest.raises(ConfigError, match="unknown precision 'fp8'"):
        runtime.resolve_precision("fp8", CPU)


def test_compile_is_automatic_on_cuda_only() -> None:
    assert not runtime.compile_wanted("auto", CPU)
    assert runtime.compile_wanted("auto", torch.device("cuda"))
    assert runtime.compile_wanted("on", CPU)
    assert not runtime.compile_wanted("off", torch.device("cuda"))
    with pytest.raises(ConfigError):
        runtime.compile_wanted("sometimes", CPU)


def test_fp32_runner_matches_the_plain_network(extractor: FeatureExtractor) -> None:
    targets = make_targets(extractor)
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(2))
    plain_loss, plain_grad = loss_and_grad(extractor, x, targets)
    runner = runtime.Runner(extractor, runtime.resolve_precision("fp32", CPU))
    assert not runner.channels_last and runner.description == "fp32"
    features = runner(x)
    assert all(f.dtype == torch.float32 for f in features.values())
    fast_loss, fast_grad = loss_and_grad(runner, x, targets)
    assert fast_loss == pytest.approx(plain_loss, rel=1e-4)
    torch.testing.assert_close(fast_grad, plain_grad, rtol=1e-3, atol=1e-7)


def test_channels_last_gives_the_same_loss_and_gradient(extractor: FeatureExtractor) -> None:
    targets = make_targets(extractor)
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(4))
    plain_loss, plain_grad = loss_and_grad(extractor, x, targets)
    runner = runtime.Runner(extractor, runtime.resolve_precision("fp32", CPU), channels_last=True)
    assert runner.description == "fp32, channels-last"
    conv = runner.extractor.net.get_submodule("conv1_1")
    assert isinstance(conv, torch.nn.Conv2d) and conv.weight.is_contiguous(memory_format=torch.channels_last)
    loss, grad = loss_and_grad(runner, x, targets)
    assert loss == pytest.approx(plain_loss, rel=1e-4)
    torch.testing.assert_close(grad, plain_grad, rtol=1e-3, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bf16", "fp16"])
def test_reduced_precision_keeps_loss_and_gradient(extractor: FeatureExtractor, name: str) -> None:
    """Features come back as fp32, the loss is within a few percent, and the gradient points the same
    way at the same size (for fp16: the gradient scaling is undone exactly)."""
    targets = make_targets(extractor)
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    plain_loss, plain_grad = loss_and_grad(extractor, x, targets)
    runner = runtime.Runner(extractor, runtime.resolve_precision(name, CPU))
    assert all(f.dtype == torch.float32 for f in runner(x).values())
    loss, grad = loss_and_grad(runner, x, targets)
    assert loss == pytest.approx(plain_loss, rel=0.05)
    cosine = torch.nn.functional.cosine_similarity(grad.flatten(), plain_grad.flatten(), dim=0)
    assert cosine > 0.98
    assert grad.norm() / plain_grad.norm() == pytest.approx(1.0, rel=0.1)


def test_scale_grad_scales_only_the_gradient() -> None:
    x = torch.randn(5, dtype=torch.float64, requires_grad=True)
    y = runtime.scale_grad(x, 8.0)
    torch.testing.assert_close(y, x)
    y.sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    torch.testing.assert_close(x.grad, torch.full_like(x, 8.0))


def objective_of(runner: runtime.Runner, targets: losses.Targets) -> Any:
    weights = losses.Weights(1.0, 5.0, 0.1, {"relu4_2": 1.0}, {n: 0.2 for n in LAYERS if n != "relu4_2"})
    return runner.objective(impasto.pipeline.total_loss, targets, weights, None)


@pytest.mark.slow
def test_a_failing_compiler_falls_back_to_eager(extractor: FeatureExtractor) -> None:
    def broken_backend(graph: Any, inputs: Any) -> Any:
        raise RuntimeError("no compiler here")

    runner = runtime.Runner(
        extractor, runtime.resolve_precision("fp32", CPU), compile=True, backend=broken_backend
    )
    targets = make_targets(extractor, 40)
    x = torch.rand(1, 3, 40, 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loss, _ = objective_of(runner, targets)(x)
    assert any("running uncompiled" in str(w.message) for w in caught)
    assert not runner.compiled
    plain, _ = objective_of(runtime.Runner(extractor, runtime.resolve_precision("fp32", CPU)), targets)(x)
    assert loss.item() == pytest.approx(plain.item(), rel=1e-5)


@pytest.mark.slow
def test_the_whole_objective_compiles_once_for_every_size(extractor: FeatureExtractor) -> None:
    """Network, Gram matrices and loss terms trace as one graph without breaks, and a coarse-to-fine
    run's later sizes reuse it (dynamic shapes) with the same loss and gradient as eager code. The
    ``aot_eager`` backend traces exactly what inductor would compile, in a fraction of the time."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()  # counters outlive reset(): other tests compile too
    compiled = runtime.Runner(
        extractor, runtime.resolve_precision("fp32", CPU), compile=True, backend="aot_eager"
    )
    eager = runtime.Runner(extractor, runtime.resolve_precision("fp32", CPU))
    # Sizes from 112 up: on a CPU torch picks a convolution's memory layout by its size (a guard at
    # 20480 elements, met by every layer from 112 px), and crossing it recompiles for that reason alone.
    for size in (112, 128, 144):
        targets = make_targets(extractor, size)
        x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size), requires_grad=True)
        (grad,) = torch.autograd.grad(objective_of(compiled, targets)(x)[0], x)
        (expected,) = torch.autograd.grad(objective_of(eager, targets)(x)[0], x)
        torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-9)
    # A whole optimization on it, final scoring included, compiles nothing more.
    impasto.core.optimize.run(torch.rand(1, 3, 144, 144), objective_of(compiled, targets), 3, "lbfgs-device")
    counters = torch._dynamo.utils.counters
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["graph_break"]
    assert compiled.compiled
    torch._dynamo.reset()


def test_the_compile_cache_goes_to_the_users_cache_unless_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    assert runtime.use_persistent_compile_cache() == tmp_path / "impasto" / "torch-compile"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert runtime.use_persistent_compile_cache() == tmp_path / "mine"


@pytest.mark.slow
def test_the_compile_cache_outlives_the_process(tmp_path: Path) -> None:
    """The second process compiling the same objective loads inductor's artefacts from the cache in the
    user's cache folder instead of compiling (a one-convolution network keeps this quick)."""
    script = """
import sys, torch, torch._dynamo
from impasto.core import losses, runtime, style
from impasto.core.backbone import FeatureExtractor
from impasto.core.weights import load_params

entry, params = load_params("vgg19", None)  # installed as a package: found whatever XDG_CACHE_HOME says
extractor = FeatureExtractor(entry.architecture, params, entry.preprocessing, ["relu1_1"])
runner = runtime.Runner(extractor, runtime.resolve_precision("fp32", torch.device("cpu")), compile=True)
target = losses.gram(extractor(torch.rand(1, 3, 32, 32))["relu1_1"]).detach()
weights = losses.Weights(0.0, 1.0, 0.0, {}, {"relu1_1": 1.0})
objective = runner.objective(
    lambda x, f, t, w: losses.objective(x, f, t, w),
    losses.Targets({}, style.make("gram", {"relu1_1": 1.0}), {"relu1_1": target}),
    weights,
)
x = torch.rand(1, 3, 32, 32, requires_grad=True)
objective(x)[0].backward()
counters = torch._dynamo.utils.counters["inductor"]
print(runtime.use_persistent_compile_cache(), counters["fxgraph_cache_hit"], counters["fxgraph_cache_miss"])
"""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)

    def run() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.split()

    folder, hits, misses = run()
    assert folder == str(tmp_path / "impasto" / "torch-compile") and int(misses) > 0 and int(hits) == 0
    folder, hits, misses = run()
    assert int(hits) > 0 and int(misses) == 0


@pytest.mark.slow
def test_a_bf16_stylization_ends_near_the_fp32_one(content_path: Path, style_path: Path) -> None:
    """The quality bar: the fp32-evaluated final loss of a reduced-precision run within 5% of the
    fp32 run's (here at a tiny size, on the CPU)."""
    # Gram matrices, whose target stays fixed through a run: both pictures are judged by the objective
    # both runs descended (a kind that matches again as the picture changes ends on another one).
    options: dict[str, Any] = {"size": 48, "iterations": 8, "device": "cpu", "style_loss": "gram"}
    fp32 = impasto.stylize_detailed(content_path, style_path, precision="fp32", **options)
    bf16 = impasto.stylize_detailed(content_path, style_path, precision="bf16", **options)
    assert fp32.runtime == "fp32" and bf16.runtime == "bf16, channels-last"
    assert bf16.image.size == fp32.image.size

    entry, params = load_params(fp32.config.model, None)
    plain = FeatureExtractor(entry.architecture, params, entry.preprocessing, LAYERS)
    content = images.to_tensor(images.fit(images.load(content_path, 10**8).image, 48))
    style = images.to_tensor(images.fit(images.load(style_path, 10**8).image, 48))
    weights = impasto.pipeline.loss_weights(fp32.config)
    targets = impasto.core.targets.make_targets(plain, content, [style], [1.0], weights)

    def fp32_loss(image: Image.Image) -> float:
        x = images.to_tensor(image)
        with torch.no_grad():
            return losses.objective(x, plain(x), targets, weights)[0].item()

    assert fp32_loss(bf16.image) <= 1.05 * fp32_loss(fp32.image)


def test_a_runner_leaves_the_extractor_it_was_given_as_it_was(extractor: FeatureExtractor) -> None:
    weight = next(extractor.parameters())
    runner = runtime.Runner(
        extractor, runtime.resolve_precision("fp32", torch.device("cpu")), channels_last=True
    )
    assert weight.is_contiguous()  # not turned channels-last under whoever else holds it
    inner = next(runner.extractor.parameters())
    assert inner.is_contiguous(memory_format=torch.channels_last) and inner is not weight
    x = torch.rand(1, 3, 32, 32)
    for name, feature in runner(x).items():
        torch.testing.assert_close(feature, extractor(x)[name], rtol=1e-3, atol=1e-4)  # another kernel
