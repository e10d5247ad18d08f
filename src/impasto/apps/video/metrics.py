"""How much a stylized video flickers: the warping error (``impasto metrics temporal``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from impasto.apps.video import flow
from impasto.errors import ImpastoError
from impasto.io import video_io


def warping_error(output_path: str | Path, input_path: str | Path) -> dict[str, Any]:
    """Temporal consistency of a stylized video (Lai et al., ECCV 2018): the mean over consecutive frame
    pairs of Σ M · ‖O_t − warp(O_{t−1})‖² / Σ M, with the flow and the mask M computed on the input
    frames (resized to the output's size), pixels in [0, 1]. Lower flickers less."""
    outputs = list(video_io.read_frames(Path(output_path)))
    inputs = list(video_io.read_frames(Path(input_path)))
    if len(outputs) != len(inputs):
        raise ImpastoError(f"{output_path} has {len(outputs)} frames, {input_path} {len(inputs)}")
    if len(outputs) < 2:
        raise ImpastoError("the warping error needs at least two frames")
    h, w = outputs[0].shape[:2]
    inputs = [np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.LANCZOS)) for f in inputs]
    errors = []
    for t in range(1, len(outputs)):
        forward, backward = flow.flow(inputs[t - 1], inputs[t]), flow.flow(inputs[t], inputs[t - 1])
        mask = flow.consistency(forward, backward, soften=False)
        warped = flow.warp(outputs[t - 1].astype(np.float32) / 255.0, backward)
        difference = np.sum((outputs[t].astype(np.float32) / 255.0 - warped) ** 2, axis=-1)
        errors.append(float(np.sum(mask * difference) / max(float(mask.sum()), 1.0)))
    return {"warping_error": float(np.mean(errors)), "pairs": float(len(errors)), "per_pair": errors}
