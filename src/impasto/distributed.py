"""The one Ray adapter (``--ray ADDRESS``; ``pip install impasto[ray]``): :func:`connect` and
:func:`map_remote`, used by batches (an image per task) and videos (a shot per task).

The default path never imports Ray. With ``--ray``, the driver (the process you started) plans the
work as usual — keys, what is up to date — and sends the rest to the cluster as tasks: files travel as
bytes, results come back as bytes, and the driver writes every output and record itself, so the
workers need no shared file system. Each worker process keeps the network's weights after its first
task (weights.load_params_cached), tasks take one GPU each where the cluster has GPUs and one CPU
otherwise, and a task whose worker dies is retried.

``local`` starts a private cluster on this machine with all its CPUs, ``local:N`` with N; any other
address joins an existing cluster (``ray start --head`` prints one). Ray's usage statistics stay off
unless the user turned them on, and its dashboard is not started.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.config import StyleConfig
from impasto.errors import ConfigError, ImpastoError

MAX_RETRIES = 3  # times a task is rerun when its worker dies (user errors are not retried)


@dataclass(frozen=True)
class RemoteResult:
    png: bytes | None  # the result as PNG (colour profile embedded), None when it failed
    size: tuple[int, int]
    message: str  # why it failed, or ""
    worker: str  # node and process that made it, for reports


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'impasto[ray]'") from None
    return ray


def connect(address: str) -> Any:
    """Join (or start, for ``local`` / ``local:N``) a Ray cluster; returns the ray module."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # off unless the user turned it on
    ray = _ray()
    if ray.is_initialized():
        return ray
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
    if address == "local" or address.startswith("local:"):
        count = address.partition(":")[2]
        if count and (not count.isdigit() or int(count) < 1):
            raise ConfigError(f"--ray local:N needs a number of CPUs ≥ 1, got {count!r}")
        ray.init(num_cpus=int(count) if count else None, **options)
    else:
        try:
            ray.init(address=address, **{k: v for k, v in options.items() if k != "include_dashboard"})
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ImpastoError(f"cannot join the Ray cluster at {address}: {error}") from None
    return ray


def _stylize_bytes(
    content: bytes, content_name: str, styles: list[tuple[str, bytes]], config: StyleConfig
) -> RemoteResult:
    """Runs on a worker: the files arrive as bytes, the result leaves as PNG bytes."""
    import socket

    from impasto.io.images import png_bytes
    from impasto.pipeline import stylize_detailed

    worker = f"{socket.gethostname()}:{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="impasto-ray-") as tmp:
        folder = Path(tmp)
        content_path = folder / f"content{Path(content_name).suffix}"
        content_path.write_bytes(content)
        style_paths = []
        for index, (name, data) in enumerate(styles):
            path = folder / f"style{index}{Path(name).suffix}"
            path.write_bytes(data)
            style_paths.append(path)
        try:
            made = stylize_detailed(content_path, style_paths, config=config)
        except ImpastoError as error:
            return RemoteResult(None, (0, 0), str(error).replace(str(content_path), content_name), worker)
        if made.ended != "made":
            return RemoteResult(
                None, (0, 0), made.result.message or "the optimization did not finish", worker
            )
        return RemoteResult(png_bytes(made.image, made.icc_profile), made.image.size, "", worker)


def map_remote(
    ray: Any,
    function: Callable[..., Any],
    calls: Sequence[tuple[Any, tuple[Any, ...]]],
    on_result: Callable[[Any, Any], None],
    on_failure: Callable[[Any, Exception], None],
) -> None:
    """``function(*arguments)`` on the cluster for each ``(token, arguments)`` of ``calls``, one task
    each; on the driver, as tasks finish (in that order), ``on_result(token, value)``, or
    ``on_failure(token, error)`` for a task that failed past its retries."""
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    task = ray.remote(max_retries=MAX_RETRIES, **resources)(function)
    pending = {task.remote(*arguments): token for token, arguments in calls}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for reference in ready:
            token = pending.pop(reference)
            try:
                value = ray.get(reference)
            except Exception as error:
                on_failure(token, error)
                continue
            on_result(token, value)


def run_remote(
    ray: Any,
    jobs: Sequence[tuple[Any, Path]],
    styles: Sequence[Path],
    config: StyleConfig,
    on_result: Callable[[Any, RemoteResult], None],
) -> None:
    """Stylize each ``(token, source path)`` of ``jobs`` on the cluster; ``on_result(token, result)`` is
    called on the driver as results arrive (in completion order); a task the cluster could not run is
    a failed result, and the batch goes on."""
    style_bytes = ray.put([(path.name, path.read_bytes()) for path in styles])
    calls = [(token, (source.read_bytes(), source.name, style_bytes, config)) for token, source in jobs]

    def on_failure(token: Any, error: Exception) -> None:
        on_result(
            token, RemoteResult(None, (0, 0), f"the cluster could not run it ({type(error).__name__})", "")
        )

    map_remote(ray, _stylize_bytes, calls, on_result, on_failure)
