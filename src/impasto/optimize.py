"""The optimization loop: pixels of the image descend the objective, progress goes to a callback.

Library code never prints; whoever calls :func:`run` decides how to show :class:`Progress`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from impasto.errors import Interrupted

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
Optimizer = Literal["lbfgs", "adam"]
MAX_RECOVERIES = 3  # consecutive non-finite losses survived (by stepping back and halving the step)


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


@dataclass(frozen=True)
class RunResult:
    """The best image the loop saw and how the loop ended."""

    image: torch.Tensor  # (1, 3, H, W) in [0, 1]
    loss: float
    iterations: int
    stopped: Literal["done", "diverged", "interrupted"]
    message: str = ""


class _NonFinite(Exception):
    pass


@dataclass(frozen=True)
class _Evaluation:
    loss: float
    terms: dict[str, float]
    image: torch.Tensor  # a copy of the point where it was taken


def make_optimizer(name: Optimizer, param: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    if name == "lbfgs":
        # One L-BFGS iteration per step() so progress is reported each iteration; the curvature
        # history lives in the optimizer's state and carries over between calls. Tolerances are off:
        # the relative losses are small numbers and must not stop the run early.
        return torch.optim.LBFGS(
            [param], lr=lr, max_iter=1, history_size=50, tolerance_grad=0.0, tolerance_change=0.0
        )
    if name == "adam":
        return torch.optim.Adam([param], lr=lr)
    raise ValueError(f"unknown optimizer {name!r}")


def run(
    init: torch.Tensor,
    objective: Objective,
    iterations: int,
    optimizer: Optimizer = "lbfgs",
    lr: float = 1.0,
    callback: Callable[[Progress], None] | None = None,
) -> RunResult:
    """Minimize ``objective`` over the pixels of ``init`` (1, 3, H, W) in [0, 1].

    Pixels are clamped to [0, 1] after every step. A non-finite loss or gradient sends the image back
    to the best one so far and restarts the optimizer with half the step; after MAX_RECOVERIES in a
    row the loop stops and returns the best image (``stopped="diverged"``). Ctrl-C raises
    :class:`Interrupted` carrying the best image so far.
    """
    # Contiguous whatever the caller's strides: L-BFGS views the gradient as one flat vector.
    x = init.detach().clone(memory_format=torch.contiguous_format).clamp_(0, 1).requires_grad_(True)
    opt = make_optimizer(optimizer, x, lr)
    best, best_loss = x.detach().clone(), math.inf
    recoveries, done = 0, 0
    start = time.perf_counter()
    # The first evaluation of each iteration, taken at the point the iteration starts from (L-BFGS
    # may evaluate again while searching along its direction).
    evaluated: list[_Evaluation] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        total, terms = objective(x)
        if not torch.isfinite(total):
            raise _NonFinite("loss")
        total.backward()  # type: ignore[no-untyped-call]
        assert x.grad is not None
        if not torch.isfinite(x.grad).all():
            raise _NonFinite("gradient")
        if not evaluated:
            loss_terms = {name: term.item() for name, term in terms.items()}
            evaluated.append(_Evaluation(total.item(), loss_terms, x.detach().clone()))
        return total

    try:
        while done < iterations:
            evaluated.clear()
            try:
                opt.step(closure)  # type: ignore[arg-type]  # LBFGS takes a tensor loss
            except _NonFinite as what:
                recoveries += 1
                if recoveries > MAX_RECOVERIES:
                    return RunResult(
                        best,
                        best_loss,
                        done,
                        "diverged",
                        f"the {what} became NaN or infinite {recoveries} times in a row; "
                        f"stopped after {done} iterations with the best image so far",
                    )
                lr /= 2
                with torch.no_grad():
                    x.copy_(best)
                opt = make_optimizer(optimizer, x, lr)
                continue
            recoveries = 0
            with torch.no_grad():
                x.clamp_(0, 1)
            done += 1
            start_point = evaluated[0]
            if start_point.loss < best_loss:
                best, best_loss = start_point.image, start_point.loss
            if callback is not None:
                callback(
                    Progress(
                        iteration=done,
                        total=iterations,
                        loss=start_point.loss,
                        terms=start_point.terms,
                        elapsed=time.perf_counter() - start,
                        image=x.detach(),
                        work_done=done,
                        work_total=iterations,
                    )
                )
        # The last step's result has not been scored yet.
        with torch.no_grad():
            final_loss = objective(x)[0].item()
        if final_loss < best_loss:
            best, best_loss = x.detach().clone(), final_loss
    except KeyboardInterrupt:
        raise Interrupted(
            RunResult(best, best_loss, done, "interrupted", f"interrupted after {done} iterations")
        ) from None
    return RunResult(best, best_loss, done, "done")
