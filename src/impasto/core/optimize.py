"""The optimization loop: pixels of the image descend the objective, progress goes to a callback.

Library code never prints; whoever calls :func:`run` decides how to show :class:`Progress`.

Pixels are clamped to [0, 1] after every step. The loop never waits for the device between two
reports: losses go into a tensor, the best image so far is kept with ``torch.where``. At a report, a
non-finite loss or gradient since the last one sends the image back to the best one so far and
restarts the optimizer with half the step; after MAX_RECOVERIES in a row the loop stops and returns the
best image. The callback hears about every iteration, in bursts; ``Progress.image`` is the image at the
time of the burst. ``should_stop`` is asked after each iteration is reported: when it says so, the loop
returns the best image so far. Ctrl-C raises :class:`Interrupted` carrying the best image so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from impasto.choices import OPTIMIZERS, Optimizer
from impasto.core.lbfgs import HISTORY, LBFGS

if TYPE_CHECKING:
    from PIL import Image

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
MAX_RECOVERIES = 3  # consecutive non-finite losses survived (by stepping back and halving the step)
REPORT_EVERY = 10  # iterations between looks at a GPU's results (see report_interval)


@dataclass(frozen=True)
class Progress:
    """Sent to the callback after each iteration."""

    iteration: int  # iterations completed, 1 … total
    total: int
    loss: float  # the objective at the start of this iteration
    terms: dict[str, float]  # each weighted term of it ("content", "style", "tv")
    elapsed: float  # seconds since the loop started
    image: torch.Tensor  # the current image (1, 3, H, W), detached: read it, don't change it
    scale: int = 1  # which scale of a multi-scale run, 1 … scales (smallest first)
    scales: int = 1
    tile: int = 1  # which tile of a tiled scale, 1 … tiles
    tiles: int = 1
    # Work done and to do over the whole run, in iterations at the output size (a multi-scale run's
    # small scales cost less per iteration): what a progress bar and its time estimate should show.
    work_done: float = 0.0
    work_total: float = 0.0


# How a loop ended (RunResult.stopped).
Stopped = Literal["done", "diverged", "stopped", "interrupted"]


@dataclass(frozen=True)
class RunResult:
    """The best image the loop saw and how the loop ended."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    loss: float
    iterations: int
    # done: every iteration ran; diverged: the loss went non-finite too often; stopped: should_stop
    # said so; interrupted: Ctrl-C (carried by :class:`Interrupted`).
    stopped: Stopped
    message: str = ""


class Interrupted(KeyboardInterrupt):
    """The optimization was interrupted (Ctrl-C).

    A KeyboardInterrupt, not an ImpastoError: code that handles a failed item (a batch, a figure's
    cell) must not mistake the user's Ctrl-C for one and carry on; it stops everything, as Ctrl-C does.

    ``result`` holds the best image found so far as a tensor; ``image``, where the API could finish it,
    the same as a PIL image ready to save, with the content's colour profile in ``icc_profile``.
    """

    def __init__(
        self, result: RunResult, image: Image.Image | None = None, icc_profile: bytes | None = None
    ) -> None:
        super().__init__(f"interrupted after {result.iterations} iterations")
        self.result = result
        self.image = image
        self.icc_profile = icc_profile


def report_interval(device: torch.device) -> int:
    """Iterations between two looks at the device's results (losses, the non-finite check, the
    callback). On a CPU every result is there at once; on a GPU each look waits for the queue to drain,
    so the loop looks every REPORT_EVERY iterations and keeps the device's queue full in between."""
    return 1 if device.type == "cpu" else REPORT_EVERY


def resolve_optimizer(name: Optimizer, device: torch.device) -> Optimizer:
    """ "lbfgs" → the faster of the two L-BFGS implementations (same steps) on ``device``: impasto's on
    CUDA, where torch's waits for the GPU about four times a step; torch's elsewhere: on a CPU host syncs
    cost nothing and its two-loop recursion is cheaper than the compact form's skinny matrix products
    (20 against 140 ms a step at 512², 2-core AVX2, bench/throughput.py), and Apple GPUs are untested."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}")
    if name == "lbfgs":
        return "lbfgs-device" if device.type == "cuda" else "lbfgs-torch"
    return name


class _Stepper:
    """One optimizer behind one call: ``step(loss, grad)`` moves ``x`` (a leaf (1, 3, H, W)) in place."""

    def __init__(self, name: Optimizer, x: torch.Tensor, lr: float) -> None:
        self.name, self.x = name, x
        self.lbfgs: LBFGS | None = None
        self.torch_optimizer: torch.optim.Optimizer | None = None
        if name == "lbfgs-device":
            self.lbfgs = LBFGS(x.numel(), lr, device=x.device, dtype=x.dtype)
        elif name == "lbfgs-torch":
            # One iteration per step() and no line search: torch then evaluates the closure once per
            # step, so it can be handed the loss and gradient this loop already computed. Tolerances
            # are off: the relative losses are small numbers and must not stop the run early.
            self.torch_optimizer = torch.optim.LBFGS(
                [x], lr=lr, max_iter=1, history_size=HISTORY, tolerance_grad=0.0, tolerance_change=0.0
            )
        elif name == "adam":
            self.torch_optimizer = torch.optim.Adam([x], lr=lr)
        else:
            raise ValueError(f"unknown optimizer {name!r}")

    def step(self, loss: torch.Tensor, grad: torch.Tensor) -> None:
        if self.lbfgs is not None:
            self.lbfgs.step(self.x.detach().view(-1), grad.view(-1))
            return
        assert self.torch_optimizer is not None
        self.x.grad = grad

        def closure() -> torch.Tensor:
            return loss

        self.torch_optimizer.step(closure)  # type: ignore[arg-type]  # LBFGS takes a tensor loss


def run(
    init: torch.Tensor,
    objective: Objective,
    iterations: int,
    optimizer: Optimizer = "lbfgs",
    lr: float = 1.0,
    callback: Callable[[Progress], None] | None = None,
    report_every: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Minimize ``objective`` over the pixels of ``init`` (1, 3, H, W) in [0, 1], as the module's
    docstring tells: reports every ``report_every`` iterations (default :func:`report_interval`), the
    callback told of each iteration then, ``should_stop`` asked after each (``stopped="stopped"``), a
    non-finite step undone (``"diverged"`` after MAX_RECOVERIES in a row), Ctrl-C raising
    :class:`Interrupted`; each with the best image so far."""
    device = init.device
    every = report_every or report_interval(device)
    method = resolve_optimizer(optimizer, device)
    # Contiguous whatever the caller's strides: L-BFGS views the gradient as one flat vector.
    x = init.detach().clone(memory_format=torch.contiguous_format).clamp_(0, 1).requires_grad_(True)
    stepper = _Stepper(method, x, lr)
    best = _Best(x)
    record: torch.Tensor | None = None  # (iterations, 2 + terms): loss, finite, each term
    recoveries, done, queued = 0, 0, 0  # queued: iterations run since the last report
    start = time.perf_counter()
    try:
        while done < iterations:
            row, names = _step(objective, x, stepper, best)
            if record is None:
                record = torch.zeros(iterations, len(row), device=device)
            record[done + queued].copy_(row)
            queued += 1
            if queued < every and done + queued < iterations:
                continue
            rows, queued = record[done : done + queued].tolist(), 0  # the one wait for the device
            healthy = next((i for i, values in enumerate(rows) if not values[1]), len(rows))
            elapsed = time.perf_counter() - start
            for values in rows[:healthy]:
                done, recoveries = done + 1, 0
                if callback is not None:
                    callback(_progress(values, done, iterations, names, elapsed, x))
                if should_stop is not None and should_stop():
                    return best.result(done, "stopped", f"stopped after {done} iterations")
            if healthy == len(rows):
                continue
            # A non-finite loss or gradient: what came after it was computed from NaNs and is dropped.
            recoveries += 1
            if recoveries > MAX_RECOVERIES:
                why = f"the loss or gradient became NaN or infinite {recoveries} times in a row"
                return best.result(done, "diverged", f"{why}; {_kept(done)}")
            lr /= 2
            best.restore(x)
            stepper = _Stepper(method, x, lr)
        # The last step's result has not been scored yet. Scored with gradients enabled (and unused):
        # under no_grad a compiled objective would compile a second time, for inference.
        final = objective(x)[0].detach().float()
        best.offer(x, final, torch.isfinite(final))
    except KeyboardInterrupt:
        raise Interrupted(best.result(done, "interrupted", f"interrupted after {done} iterations")) from None
    return best.result(done, "done")


def _kept(done: int) -> str:
    return f"stopped after {done} iterations with the best image so far"


def _step(
    objective: Objective, x: torch.Tensor, stepper: _Stepper, best: _Best
) -> tuple[torch.Tensor, list[str]]:
    """One iteration: the objective and its gradient at ``x``, ``x`` offered to ``best``, one step of
    ``stepper`` and the pixels clamped → (the row the loop records: loss, finite (1 or 0), each
    term; the terms' names)."""
    total, terms = objective(x)
    (grad,) = torch.autograd.grad(total, x)
    total = total.detach().float()
    finite = torch.isfinite(total) & torch.isfinite(grad).all()
    row = torch.stack([total, finite.float(), *(t.detach().float() for t in terms.values())])
    best.offer(x, total, finite)
    stepper.step(total, grad)
    with torch.no_grad():
        x.clamp_(0, 1)
    return row, list(terms)


def _progress(
    values: list[float], done: int, iterations: int, names: list[str], elapsed: float, x: torch.Tensor
) -> Progress:
    """What the callback hears of iteration ``done``, recorded as ``values`` by :func:`_step`."""
    terms = dict(zip(names, values[2:], strict=True))
    return Progress(
        done, iterations, values[0], terms, elapsed, x.detach(), work_done=done, work_total=iterations
    )


class _Best:
    """The best image the loop has seen and its loss, kept on the device: choosing it
    (``torch.where``) never waits for the device."""

    def __init__(self, x: torch.Tensor) -> None:
        self.image = x.detach().clone()  # (1, 3, H, W)
        self.loss = torch.full((), math.inf, device=x.device)

    def offer(self, x: torch.Tensor, loss: torch.Tensor, finite: torch.Tensor) -> None:
        """``x`` becomes the best image if its ``loss`` (a scalar tensor) is ``finite`` and lower."""
        with torch.no_grad():
            better = finite & (loss < self.loss)
            torch.where(better, x, self.image, out=self.image)
            torch.where(better, loss, self.loss, out=self.loss)

    def restore(self, x: torch.Tensor) -> None:
        """``x`` set back to the best image."""
        with torch.no_grad():
            x.copy_(self.image)

    def result(self, done: int, stopped: Stopped, message: str = "") -> RunResult:
        return RunResult(self.image, self.loss.item(), done, stopped, message)
