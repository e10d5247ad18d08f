"""lbfgs.py: impasto's L-BFGS takes torch's steps, without reading anything back from the device."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from impasto.core.lbfgs import LBFGS

Function = Callable[[torch.Tensor], torch.Tensor]


def quartic(n: int) -> Function:
    """A convex quadratic plus a quartic: curved differently everywhere."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator, dtype=torch.float64)
    a = a @ a.T / n + 0.1 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=generator, dtype=torch.float64)
    return lambda x: 0.5 * x @ a @ x - b @ x + 0.1 * x.pow(4).sum()


def wavy(x: torch.Tensor) -> torch.Tensor:
    """Not convex: some steps see negative curvature, and L-BFGS must skip those pairs."""
    return torch.sin(3 * x).sum() + 0.05 * x.pow(2).sum()


def gradient(f: Function, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(x), x)
    return grad


def torch_iterates(
    f: Function, start: torch.Tensor, steps: int, history: int, lr: float
) -> list[torch.Tensor]:
    x = start.clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [x], lr=lr, max_iter=1, history_size=history, tolerance_grad=0.0, tolerance_change=0.0
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = f(x)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    iterates = []
    for _ in range(steps):
        optimizer.step(closure)  # type: ignore[no-untyped-call]
        iterates.append(x.detach().clone())
    return iterates


def our_iterates(f: Function, start: torch.Tensor, steps: int, history: int, lr: float) -> list[torch.Tensor]:
    x = start.clone()
    optimizer = LBFGS(x.numel(), lr, history, dtype=x.dtype)
    iterates = []
    for _ in range(steps):
        optimizer.step(x, gradient(f, x))
        iterates.append(x.clone())
    return iterates


@pytest.mark.parametrize(
    ("name", "history", "lr"), [("quartic", 5, 1.0), ("quartic", 50, 0.5), ("wavy", 4, 1.0)]
)
def test_takes_torchs_steps_iterate_by_iterate(name: str, history: int, lr: float) -> None:
    f = quartic(40) if name == "quartic" else wavy
    start = torch.linspace(-1, 1, 40, dtype=torch.float64)
    theirs = torch_iterates(f, start, 40, history, lr)  # 40 steps: the ring buffer wraps around
    ours = our_iterates(f, start, 40, history, lr)
    for step, (a, b) in enumerate(zip(theirs, ours, strict=True)):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6, msg=f"step {step}")
    assert f(ours[-1]) < f(start) - 1


def test_skips_pairs_without_positive_curvature() -> None:
    start = torch.linspace(-1, 1, 40, dtype=torch.float64)
    x = start.clone()
    optimizer = LBFGS(x.numel(), 1.0, 4, dtype=x.dtype)
    for _ in range(40):
        optimizer.step(x, gradient(wavy, x))
    # Fewer pairs stored than steps taken: the iterate-by-iterate match above includes skipped pairs.
    assert int(optimizer.clock) < 39


def test_a_step_never_reads_the_device() -> None:
    """On the meta device every tensor is a shape without values: any Python decision on a value
    (``.item()``, ``if tensor``) raises. So this passing means the step never waits for a GPU."""
    x = torch.zeros(30, device="meta")
    optimizer = LBFGS(30, 1.0, 4, device="meta")
    for _ in range(6):
        optimizer.step(x, torch.ones(30, device="meta"))
    assert optimizer.steps == 6


def test_a_step_compiles_to_one_graph_without_breaks() -> None:
    """Fixed shapes and no data-dependent Python: torch.compile traces a whole step (fullgraph), the
    precondition for capturing it in a CUDA graph. One graph for the first step, one for the rest."""
    import torch._dynamo

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()  # counters outlive reset(): other tests compile too
    x = torch.zeros(30)
    optimizer = LBFGS(30, 1.0, 4)
    step = torch.compile(optimizer.step, fullgraph=True, backend="eager")
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        step(x, torch.randn(30, generator=generator))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] <= 2
    torch._dynamo.reset()
