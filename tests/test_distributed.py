"""impasto batch --ray: a local 2-CPU cluster and a simulated two-node cluster give the local path's
outputs, and the driver writes every file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ray = pytest.importorskip("ray")

from impasto.apps import batch  # noqa: E402
from impasto.config import StyleConfig  # noqa: E402

FAST = StyleConfig(size=32, iterations=3, device="cpu")
pytestmark = pytest.mark.slow  # a Ray cluster starts for each test


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for index, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        path = folder / ("trip" if index == 2 else "") / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (48, 32), colour).save(path)
    (folder / "broken.png").write_text("not an image")
    return folder


@pytest.fixture
def no_cluster_left() -> Iterator[None]:
    yield
    ray.shutdown()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread, as each Ray worker does, so both paths add their sums in one order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def same_images(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a) for p in a.rglob("*.png"))
    assert names == sorted(p.relative_to(b) for p in b.rglob("*.png")) and names
    for name in names:
        x = np.asarray(Image.open(a / name), dtype=np.float64)
        y = np.asarray(Image.open(b / name), dtype=np.float64)
        assert x.shape == y.shape
        # The same arithmetic on one thread each: equal to within a rounding step.
        assert np.abs(x - y).mean() < 1.0, name


def test_a_local_cluster_gives_the_local_outputs(
    photos: Path, tmp_path: Path, style_path: Path, no_cluster_left: None
) -> None:
    with one_thread():
        local = batch.run_batch(photos, [style_path], tmp_path / "local", FAST, recursive=True)
    user_chose = "RAY_USAGE_STATS_ENABLED" in os.environ
    events: list[batch.Event] = []
    remote = batch.run_batch(
        photos,
        [style_path],
        tmp_path / "ray",
        FAST,
        recursive=True,
        ray_address="local:2",
        callback=events.append,
    )
    assert user_chose or os.environ["RAY_USAGE_STATS_ENABLED"] == "0"  # usage statistics off
    assert len(remote.done) == len(local.done) == 3
    assert [(i.relative.name, "not an image" in m) for i, m in remote.failed] == [("broken.png", True)]
    same_images(tmp_path / "local", tmp_path / "ray")
    keys = {o.name: r["key"] for o, r in batch.iter_outputs(tmp_path / "local")}
    assert keys == {o.name: r["key"] for o, r in batch.iter_outputs(tmp_path / "ray")}
    assert {e.kind for e in events} >= {"start", "done", "failed"}
    again = batch.run_batch(
        photos, [style_path], tmp_path / "ray", FAST, recursive=True, ray_address="local:2"
    )
    assert len(again.skipped) == 3 and not again.done


def test_a_two_node_cluster(photos: Path, tmp_path: Path, style_path: Path, no_cluster_left: None) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        summary = batch.run_batch(
            photos, [style_path], tmp_path / "two", FAST, recursive=True, ray_address=cluster.address
        )
        assert len(summary.done) == 3 and len(summary.failed) == 1
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        with one_thread():
            local = batch.run_batch(photos, [style_path], tmp_path / "local", FAST, recursive=True)
        assert len(local.done) == 3
        same_images(tmp_path / "local", tmp_path / "two")
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def test_video_shots_on_a_local_cluster_match_the_local_path(
    tmp_path: Path, content_path: Path, style_path: Path, no_cluster_left: None
) -> None:
    from clips import RATE, clip_with_a_cut
    from impasto.apps import video
    from impasto.io import video_io

    clip = clip_with_a_cut(tmp_path, content_path, style_path)
    config = StyleConfig(size=48, iterations=4, device="cpu")
    with one_thread():
        here = video.stylize_video(clip, [style_path], tmp_path / "here.mp4", config, frame_iterations=2)
    there = video.stylize_video(
        clip, [style_path], tmp_path / "there.mp4", config, frame_iterations=2, ray_address="local:2"
    )
    assert here.shots == there.shots == ((0, 3), (3, 6))
    info = video_io.probe(there.output)
    assert (info.frames, info.rate, info.audio) == (6, RATE, "aac")
    same_images(tmp_path / "here.mp4.work" / "stylized", tmp_path / "there.mp4.work" / "stylized")
