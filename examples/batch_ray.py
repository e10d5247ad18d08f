"""A folder of photos on a Ray cluster: here a local one with two workers (``pip install
'impasto[ray]'``); give a cluster's address instead to spread the images over its machines.

    python examples/batch_ray.py PHOTOS_FOLDER OUT_FOLDER [RAY_ADDRESS]
"""

from __future__ import annotations

import sys

import impasto
from impasto import examples
from impasto.apps.batch import run_batch


def main() -> None:
    photos, out = sys.argv[1], sys.argv[2]
    address = sys.argv[3] if len(sys.argv) > 3 else "local:2"
    config = impasto.StyleConfig(size=256, iterations=100)
    summary = run_batch(photos, [examples.STYLE], out, config, recursive=True, ray_address=address)
    print(summary.line())


if __name__ == "__main__":
    main()
