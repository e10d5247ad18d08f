"""A callback of your own: watch the loss, save a frame every 20 iterations, and stop early once the
loss has stopped improving — the run then returns its best image so far.

    python examples/callback.py [OUT_FOLDER]
"""

from __future__ import annotations

import sys
from pathlib import Path

import impasto
from impasto import examples
from impasto.io import images


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    best = [float("inf")]
    stalled = [0]

    def watch(progress: impasto.Progress) -> None:
        print(f"scale {progress.scale}/{progress.scales} iteration {progress.iteration}: {progress.loss:.4g}")
        if progress.iteration % 20 == 0:
            name = f"callback-{progress.scale}-{progress.iteration:04d}.png"
            images.to_pil(progress.image).save(out / name)
        if progress.loss < 0.999 * best[0]:
            best[0], stalled[0] = progress.loss, 0
        else:
            stalled[0] += 1
        if stalled[0] >= 10:  # ten iterations without 0.1% of progress: enough
            raise KeyboardInterrupt

    try:
        image = impasto.stylize(examples.CONTENT, examples.STYLE, size=192, iterations=300, callback=watch)
    except impasto.Interrupted as stop:  # stopped by the callback (or Ctrl-C): the best image so far
        assert stop.image is not None
        image = stop.image
    image.save(out / "callback-final.png")
    print(out / "callback-final.png")


if __name__ == "__main__":
    main()
