from __future__ import annotations

import pytest
import torch

from impasto.core.color import (
    color_stats,
    combine_luminance,
    luminance,
    match_chroma,
    match_histogram,
    match_luminance,
    rgb_to_yiq,
    yiq_to_rgb,
)


def colourful(seed: int, shape: tuple[int, int] = (24, 32)) -> torch.Tensor:
    """A smooth random colour field (1, 3, H, W) in [0, 1] with correlated channels."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 4, 4, generator=generator)
    mix = torch.rand(3, 3, generator=generator) + torch.eye(3)
    image = torch.nn.functional.interpolate(base, size=shape, mode="bilinear", align_corners=False)
    image = torch.einsum("ij,bjhw->bihw", mix / mix.sum(1, keepdim=True), image)
    return (image - image.min()) / (image.max() - image.min()) * 0.8 + 0.1


def test_yiq_round_trip_and_grey_has_no_chroma() -> None:
    image = colourful(0)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(image)), image, atol=1e-5)
    grey = torch.full((1, 3, 2, 2), 0.4)
    yiq = rgb_to_yiq(grey)
    assert torch.allclose(yiq[:, 0], torch.full((1, 2, 2), 0.4), atol=1e-6)
    assert yiq[:, 1:].abs().max() < 1e-6


def test_combine_luminance_keeps_the_chroma_and_takes_the_luminance() -> None:
    content, other = colourful(1), colourful(2)
    combined = combine_luminance(luminance(other), content)
    assert torch.allclose(luminance(combined), luminance(other), atol=2e-2)
    assert torch.allclose(rgb_to_yiq(combined)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=2e-2)


def test_match_luminance_takes_mean_and_std() -> None:
    style, content = luminance(colourful(3)), luminance(colourful(4)) * 0.5
    matched = match_luminance(style, content)
    assert matched.mean().item() == pytest.approx(content.mean().item(), abs=1e-5)
    assert matched.std().item() == pytest.approx(content.std().item(), rel=1e-4)


@pytest.mark.parametrize("method", ["sym", "chol", "pca"])
def test_histogram_matching_takes_the_reference_mean_and_covariance(method: str) -> None:
    source, reference = colourful(5), colourful(6, (40, 30))
    matched = match_histogram(source, reference, method)  # type: ignore[arg-type]
    mean_m, cov_m = color_stats(matched)
    mean_r, cov_r = color_stats(reference)
    mean_s, _ = color_stats(source)
    assert torch.allclose(mean_m, mean_r, atol=0.01)
    assert torch.allclose(cov_m, cov_r, atol=2e-3)
    assert not torch.allclose(mean_s, mean_r, atol=0.01)  # the test means something


def test_chroma_matching_takes_the_reference_chroma_statistics_and_keeps_the_luminance() -> None:
    image, reference = colourful(7), colourful(8, (40, 30))
    matched = match_chroma(image, reference)

    def chroma_stats(picture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chroma = rgb_to_yiq(picture)[0, 1:].reshape(2, -1).double()
        centred = chroma - chroma.mean(dim=1, keepdim=True)
        return chroma.mean(dim=1), centred @ centred.T / chroma.shape[1]

    (mean_m, cov_m), (mean_r, cov_r) = chroma_stats(matched), chroma_stats(reference)
    assert torch.allclose(mean_m, mean_r, atol=0.01) and torch.allclose(cov_m, cov_r, atol=2e-3)
    assert torch.allclose(luminance(matched), luminance(image), atol=0.02)  # within [0, 1]: untouched
    assert not torch.allclose(chroma_stats(image)[0], mean_r, atol=0.01)  # the test means something


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        rgb_to_yiq(torch.rand(1, 4, 2, 2))
    with pytest.raises(ValueError, match="unknown method"):
        match_histogram(colourful(0), colourful(1), "lab")  # type: ignore[arg-type]
