from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch

import impasto
from impasto.core.optimize import Interrupted, Progress, run

TARGET = torch.linspace(0.1, 0.9, 3 * 4 * 5).view(1, 3, 4, 5)


def quadratic(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    loss = (x - TARGET).pow(2).sum()
    return loss, {"content": loss}


@pytest.mark.parametrize(("optimizer", "lr"), [("lbfgs", 1.0), ("adam", 0.05)])
def test_converges_and_reports_each_iteration(optimizer: str, lr: float) -> None:
    reports: list[Progress] = []
    result = run(torch.zeros(1, 3, 4, 5), quadratic, 60, optimizer, lr, reports.append)  # type: ignore[arg-type]
    assert result.stopped == "done" and result.iterations == 60
    assert torch.allclose(result.image, TARGET, atol=0.05)
    assert [r.iteration for r in reports] == list(range(1, 61))
    assert all(r.total == 60 for r in reports)
    assert reports[-1].loss < reports[0].loss
    assert reports[0].terms["content"] == pytest.approx(reports[0].loss)
    assert all(b.elapsed >= a.elapsed for a, b in itertools.pairwise(reports))


def test_pixels_stay_in_range() -> None:
    outside = torch.full((1, 3, 4, 5), 2.0)

    def objective(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = (x - outside).pow(2).sum()
        return loss, {"content": loss}

    result = run(torch.rand(1, 3, 4, 5), objective, 20, "adam", 0.5)
    assert result.image.max() <= 1.0 and result.image.min() >= 0.0


def test_recovers_from_a_non_finite_loss() -> None:
    calls = {"n": 0}

    def flaky(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        calls["n"] += 1
        loss, terms = quadratic(x)
        if calls["n"] in (5, 6):
            loss = loss * math.nan
        return loss, terms

    result = run(torch.zeros(1, 3, 4, 5), flaky, 40, "lbfgs", 1.0)
    assert result.stopped == "done" and result.iterations == 40
    assert torch.isfinite(result.image).all()
    assert torch.allclose(result.image, TARGET, atol=0.05)


def test_stops_with_the_best_image_when_it_keeps_diverging() -> None:
    calls = {"n": 0}

    def breaks(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        calls["n"] += 1
        loss, terms = quadratic(x)
        if calls["n"] > 10:
            loss = loss + math.inf
        return loss, terms

    result = run(torch.zeros(1, 3, 4, 5), breaks, 100, "adam", 0.05)
    assert result.stopped == "diverged"
    assert "NaN or infinite" in result.message
    assert 0 < result.iterations < 100
    assert math.isfinite(result.loss)
    assert result.loss == pytest.approx(quadratic(result.image)[0].item(), rel=1e-5)
    assert result.loss < quadratic(torch.zeros(1, 3, 4, 5))[0].item()


def test_ctrl_c_raises_interrupted_with_the_best_image() -> None:
    def stop_at_seven(progress: Progress) -> None:
        if progress.iteration == 7:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as caught:
        run(torch.zeros(1, 3, 4, 5), quadratic, 50, "adam", 0.05, stop_at_seven)
    result = caught.value.result
    assert result.stopped == "interrupted" and result.iterations == 7
    assert result.image.shape == (1, 3, 4, 5)
    assert result.loss < quadratic(torch.zeros(1, 3, 4, 5))[0].item()


def test_looking_every_few_iterations_changes_nothing() -> None:
    """The loop that reads the device's results every N iterations (a GPU's) reports the same
    iterations with the same losses and ends at the same image as the one that reads them every time."""
    each: list[Progress] = []
    bursts: list[Progress] = []
    every_time = run(torch.zeros(1, 3, 4, 5), quadratic, 23, "lbfgs-device", 1.0, each.append, report_every=1)
    in_bursts = run(
        torch.zeros(1, 3, 4, 5), quadratic, 23, "lbfgs-device", 1.0, bursts.append, report_every=5
    )
    assert [r.iteration for r in bursts] == list(range(1, 24))
    assert [r.loss for r in bursts] == pytest.approx([r.loss for r in each])
    torch.testing.assert_close(in_bursts.image, every_time.image)
    assert in_bursts.loss == pytest.approx(every_time.loss)


@pytest.mark.parametrize("every", [1, 4])
def test_recovers_from_a_non_finite_loss_between_looks(every: int) -> None:
    calls = {"n": 0}

    def flaky(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        calls["n"] += 1
        loss, terms = quadratic(x)
        return (loss * math.nan if calls["n"] in (6, 7) else loss), terms

    reports: list[Progress] = []
    result = run(torch.zeros(1, 3, 4, 5), flaky, 30, "lbfgs-device", 1.0, reports.append, report_every=every)
    assert result.stopped == "done" and result.iterations == 30
    assert [r.iteration for r in reports] == list(range(1, 31))
    assert all(math.isfinite(r.loss) for r in reports)
    assert torch.allclose(result.image, TARGET, atol=0.05)


@pytest.mark.slow
def test_both_lbfgs_take_the_same_steps_through_a_stylization(content_path: Path, style_path: Path) -> None:
    """The same iterates on the real network in fp32, up to rounding: equal losses for the first
    iterations, then the usual drift of two orders of summation (under 1% after 12)."""
    options: dict[str, Any] = {"size": 40, "iterations": 12, "device": "cpu", "precision": "fp32"}
    ours: list[Progress] = []
    torchs: list[Progress] = []
    impasto.stylize(content_path, style_path, optimizer="lbfgs-device", callback=ours.append, **options)
    impasto.stylize(content_path, style_path, optimizer="lbfgs-torch", callback=torchs.append, **options)
    assert [r.loss for r in ours[:6]] == pytest.approx([r.loss for r in torchs[:6]], rel=1e-4)
    assert ours[-1].loss == pytest.approx(torchs[-1].loss, rel=0.01)


def test_lbfgs_means_the_faster_implementation_for_the_device() -> None:
    from impasto.core.optimize import resolve_optimizer

    assert resolve_optimizer("lbfgs", torch.device("cuda")) == "lbfgs-device"
    assert resolve_optimizer("lbfgs", torch.device("cpu")) == "lbfgs-torch"
    assert resolve_optimizer("lbfgs-device", torch.device("cpu")) == "lbfgs-device"
    with pytest.raises(ValueError, match="unknown optimizer"):
        resolve_optimizer("sgd", torch.device("cpu"))  # type: ignore[arg-type]


def test_should_stop_ends_the_loop_with_the_best_image_so_far() -> None:
    heard: list[int] = []
    result = run(
        torch.zeros(1, 3, 4, 5),
        quadratic,
        50,
        "adam",
        0.05,
        lambda progress: heard.append(progress.iteration),
        should_stop=lambda: len(heard) >= 7,
    )
    assert result.stopped == "stopped" and result.iterations == 7 and heard == list(range(1, 8))
    assert result.loss < quadratic(torch.zeros(1, 3, 4, 5))[0].item()
