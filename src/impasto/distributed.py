"""The one Ray adapter (``--ray ADDRESS``; ``pip install impasto[ray]``): :func:`connect`,
:func:`map_remote`, and files sent to the workers (:func:`put_files`, :func:`received`). Batches send an
image per task (apps/batch/remote.py), videos a shot per task (apps/video/remote.py); each app's task function
lives beside the app, this module knows nothing of what a task does.

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

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impasto.errors import ConfigError, ImpastoError

MAX_RETRIES = 3  # times a task is rerun when its worker dies (user errors are not retried)

Files = list[tuple[str, bytes]]  # files on their way to a worker: (name, contents) each


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


def put_files(ray: Any, paths: Sequence[str | os.PathLike[str]]) -> Any:
    """The files at ``paths`` as :data:`Files`, stored once in the cluster's object store for every
    task: pass the returned reference as a task's argument and the task receives the list itself."""
    return ray.put([(Path(path).name, Path(path).read_bytes()) for path in paths])


@dataclass(frozen=True)
class Received:
    """Files sent to a worker, written into its private temporary ``folder``."""

    folder: Path
    paths: list[Path]  # in the order sent
    names: list[str]  # the names they were sent under, one for each path

    def named(self, message: str) -> str:
        """``message`` with each path here replaced by its file's name, as the driver knows it."""
        for path, name in zip(self.paths, self.names, strict=True):
            message = message.replace(str(path), name)
        return message


@contextlib.contextmanager
def received(sent: Files) -> Iterator[Received]:
    """On a worker: ``sent`` written into a private temporary folder, removed on leaving. Each file
    keeps its suffix but not its name (two styles may share one), so messages for the driver go
    through :meth:`Received.named`."""
    with tempfile.TemporaryDirectory(prefix="impasto-ray-") as tmp:
        folder = Path(tmp)
        paths = [folder / f"file{index}{Path(name).suffix}" for index, (name, _) in enumerate(sent)]
        for path, (_, data) in zip(paths, sent, strict=True):
            path.write_bytes(data)
        yield Received(folder, paths, [name for name, _ in sent])


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
