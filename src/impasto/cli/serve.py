"""``impasto serve``: the web app."""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from impasto.cli.common import EXIT_FAILED, EXIT_USAGE, Parser, fail, failed, printable
from impasto.config import StyleConfig
from impasto.errors import ConfigError


def build_serve_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="impasto serve",
        description="Start the web app: choose images, move sliders, watch the painting appear. It listens "
        "on this computer only unless --host says otherwise.",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 exposes it to the network"
    )
    p.add_argument("--port", type=int, default=8000, help="(default: 8000; 0 picks a free one)")
    p.add_argument("--device", metavar="{auto,cpu,cuda,cuda:N,mps}", default="auto", help="(default: auto)")
    p.add_argument(
        "--max-size", type=int, default=1024, metavar="PX", help="largest output allowed (default: 1024)"
    )
    p.add_argument(
        "--max-upload-mb", type=float, default=25, metavar="MB", help="largest upload (default: 25)"
    )
    p.add_argument(
        "--max-waiting", type=int, default=16, metavar="N", help="queued jobs allowed (default: 16)"
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        metavar="N",
        help="refuse uploads of more pixels than this, a guard against decompression bombs (default: "
        "40,000,000: the web.Limits default)",
    )
    p.add_argument(
        "--token",
        nargs="?",
        const="new",
        metavar="TOKEN",
        help="require this access token of every request (alone: make one up); for --host 0.0.0.0. "
        "Open the address printed at start, which carries it; scripts send it as X-Impasto-Access",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the server answers to besides its addresses and localhost (e.g. the name "
        "this computer has on the network); other names are refused, as a DNS-rebinding page would be",
    )
    p.add_argument(
        "--outputs",
        type=Path,
        default=default_outputs(),
        metavar="DIR",
        help="keep every finished or stopped result in DIR too, under its download's name with the "
        f"options that made it (default: {default_outputs()})",
    )
    p.add_argument(
        "--no-outputs", action="store_true", help="keep results in the page only, for as long as it runs"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def default_outputs() -> Path:
    """Where ``impasto serve`` keeps its results unless told otherwise: the user's data folder
    ($XDG_DATA_HOME, else ~/.local/share), impasto/outputs."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "impasto" / "outputs"


def _bad_number(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers ``impasto serve`` was given, or None."""
    if not 0 <= args.port <= 65535:
        return f"port must be from 0 to 65535, got {args.port}"
    if args.max_size < 32:
        return f"--max-size must be at least 32, got {args.max_size}"
    if not (math.isfinite(args.max_upload_mb) and 0 < args.max_upload_mb <= 2**20):
        return f"--max-upload-mb must be a number of megabytes above 0, got {args.max_upload_mb:g}"
    if args.max_pixels is not None and not 1 <= args.max_pixels <= 2**40:
        return f"--max-pixels must be from 1 to {2**40:,}, got {args.max_pixels}"
    if args.max_waiting < 1:
        return f"--max-waiting must be at least 1 (jobs wait their turn), got {args.max_waiting}"
    return None


def _bad_name(args: argparse.Namespace) -> str | None:
    """What is wrong with the access token or the host names ``impasto serve`` was given, or None."""
    if args.token not in (None, "new") and not re.fullmatch(r"[A-Za-z0-9._~-]{8,128}", args.token):
        return "--token must be 8 to 128 letters, digits or . _ ~ -"
    for name in args.allow_host:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", name):
            return f"--allow-host takes a host name, got {name!r}"
    return None


def serve_main(argv: Sequence[str]) -> int:
    """``impasto serve``: the web app on 127.0.0.1 until Ctrl-C."""
    args = build_serve_parser().parse_args(argv)
    problem = _bad_number(args)
    if problem is not None:
        return fail(problem, EXIT_USAGE)
    try:
        StyleConfig(device=args.device)
    except ConfigError as error:
        return failed(error)
    problem = _bad_name(args)
    if problem is not None:
        return fail(problem, EXIT_USAGE)
    token = secrets.token_urlsafe(16) if args.token == "new" else args.token
    from impasto.web import BindError, Limits, make_server
    from impasto.web.server import is_loopback

    limits = Limits(
        max_size=args.max_size,
        max_upload_bytes=int(args.max_upload_mb * 2**20),
        max_waiting=args.max_waiting,
    )
    if args.max_pixels is not None:
        limits = dataclasses.replace(limits, max_upload_pixels=args.max_pixels)
    try:
        server = make_server(
            args.host,
            args.port,
            limits,
            args.device,
            verbose=args.verbose,
            access_token=token,
            names=args.allow_host,
            outputs=None if args.no_outputs else args.outputs,
        )
    except BindError as error:
        return fail(str(error), EXIT_FAILED)

    def announce() -> None:  # once stop signals are handled: from here on they clean up
        address = server.url + (f"?token={token}" if token else "")
        print(f"impasto is running at {address} (Ctrl-C stops it)", flush=True)
        if not args.no_outputs:
            print(f"results are kept in {printable(args.outputs)}", flush=True)
        host = server.server_address[0]
        if not is_loopback(host) and token is None:
            audience = "this computer" if host in ("0.0.0.0", "::") else host
            print(
                f"impasto: warning: listening on {args.host}: anyone who can reach {audience} on port "
                f"{server.server_address[1]} can upload images and run jobs; --token lets in only those "
                "given the address",
                file=sys.stderr,
                flush=True,
            )

    return server.run(announce)
