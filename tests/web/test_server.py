"""The web app's HTTP API against a real server on 127.0.0.1: uploads, jobs, their quick sketches,
stop, sessions, limits."""

from __future__ import annotations

import http.cookiejar
import io
import json
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from serve_command import impasto_serve

from impasto.config import OPTIONS, StyleConfig
from impasto.core import style
from impasto.web import Limits, Server
from impasto.web.commands import command_line

FAST: dict[str, Any] = {"size": 48, "iterations": 4, "precision": "fp32"}


class Browser:
    """One browser session: its own cookie jar."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.token = ""  # the page's token, which every POST carries
        self.token = json.loads(self.request("GET", "/api/setup")[1])["token"]

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, Message]:
        headers = {"X-Impasto-Token": self.token, **(headers or {})} if method == "POST" else headers
        request = urllib.request.Request(
            self.base + path.lstrip("/"), data=body, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.read(), response.headers  # any case, as HTTP says
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers

    def json(self, method: str, path: str, value: Any = None) -> tuple[int, Any]:
        body = None if value is None else json.dumps(value).encode()
        status, data, _ = self.request(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(data)

    def upload(self, image: Image.Image | bytes, name: str = "photo.png") -> tuple[int, Any]:
        if isinstance(image, Image.Image):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            image = buffer.getvalue()
        status, data, _ = self.request("POST", "/api/uploads", image, {"X-Filename": name})
        return status, json.loads(data)

    def start(
        self, content: str, styles: list[str], sketch_only: bool = False, **options: Any
    ) -> tuple[int, Any]:
        request = {
            "content": content,
            "styles": [{"image": s, "weight": 1} for s in styles],
            "options": options,
            "sketch_only": sketch_only,
        }
        return self.json("POST", "/api/jobs", request)

    def wait(
        self, job: str, until: tuple[str, ...] = ("done", "stopped", "failed"), timeout: float = 120
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.json("GET", f"/api/jobs/{job}")
            assert status == 200, body
            if body["state"] in until:
                return body
            time.sleep(0.1)
        raise AssertionError(f"job {job} still {body['state']} after {timeout} s")


@pytest.fixture
def server(serve: Callable[[Limits], Server]) -> Server:
    return serve(Limits(max_upload_bytes=2**20, max_upload_pixels=10**6, max_waiting=2))


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_the_page_and_its_files_are_served(server: Server) -> None:
    with urllib.request.urlopen(server.url, timeout=30) as response:  # a first visit: no cookie yet
        cookie = response.headers.get("Set-Cookie", "")
    assert "impasto_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    browser = Browser(server.url)
    status, page, _ = browser.request("GET", "/")
    assert status == 200 and b"<title>impasto</title>" in page
    for name in ("app.js", "app.css"):
        assert browser.request("GET", f"/static/{name}")[0] == 200
    assert browser.request("GET", "/static/../server.py")[0] == 404
    status, setup = browser.json("GET", "/api/setup")
    assert setup["defaults"]["style_weight"] == StyleConfig().style_weight
    assert setup["choices"]["style_loss"] == list(style.NAMES)  # the registry's kinds, in its order
    assert {"name": "chelsea.png", "role": "content"} in setup["examples"]
    assert browser.request("GET", "/examples/chelsea.png")[0] == 200


def test_the_settings_form_is_drawn_from_the_option_table(server: Server) -> None:
    """Every option the table marks for the page is in /api/setup's settings, in the table's order,
    with its label and its control; the page names none of those it draws (a new row is a new
    control, with nothing to write in the page)."""
    browser = Browser(server.url)
    setup = browser.json("GET", "/api/setup")[1]
    settings = {setting["name"]: setting for setting in setup["settings"]}
    assert list(settings) == [o.name for o in OPTIONS if o.web]
    assert all(
        settings[o.name]["label"] == o.web and settings[o.name]["help"] == o.help for o in OPTIONS if o.web
    )
    assert settings["size"] == {**settings["size"], "control": "whole", "low": 32, "high": 1024, "main": True}
    assert settings["multiscale"]["control"] == "switch" and not settings["multiscale"]["main"]
    assert settings["style_loss"]["control"] == "menu"
    assert settings["style_loss"]["choices"] == setup["choices"]["style_loss"]
    assert settings["tv_weight"]["control"] == "number" and "high" not in settings["tv_weight"]  # no end
    assert settings["seed"]["low"] == 0 and "high" not in settings["seed"]  # 2**63 - 1: beyond JavaScript
    page = browser.request("GET", "/")[1].decode()
    own = set(re.findall(r'data-option="(\w+)"', page))
    assert own == {"size", "style_weight", "style_scale"}  # the sliders
    assert not [name for name in settings if name not in own and re.search(rf'id="{name}"', page)]


@pytest.mark.parametrize("bf16_units", [True, False])
def test_bf16_is_offered_on_a_cpu_only_where_it_has_bf16_units(
    monkeypatch: pytest.MonkeyPatch, bf16_units: bool
) -> None:
    from impasto.core import runtime
    from impasto.web.app import _precisions

    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda *args: bf16_units)
    assert ("bf16" in _precisions("cpu")) == bf16_units
    assert "bf16" in _precisions("cuda")


def test_a_job_runs_to_the_end_with_previews_and_a_download(server: Server) -> None:
    browser = Browser(server.url)
    status, upload = browser.upload(solid((200, 40, 40)), "my photo.png")
    assert status == 200 and upload["width"] == 64 and upload["name"] == "my photo.png"
    status, job = browser.start(upload["id"], ["example:swirls.png"], **FAST, style_weight=7)
    assert status == 202
    final = browser.wait(job["id"])
    assert final["state"] == "done", final
    assert final["iteration"] == final["total"] == 4 and final["progress"] == 1
    assert len(final["losses"]) == 4 and final["preview_version"] >= 1
    assert final["result_size"] == [48, 36]
    assert shlex.split(final["command"])[:2] == ["impasto", "my photo.png"]  # the file the user chose
    assert shlex.split(final["command"])[2] == "example:swirls.png"  # runnable as shown, no server path
    assert "--style-weight 7" in final["command"] and "--size 48" in final["command"]
    status, png, headers = browser.request("GET", f"/api/jobs/{job['id']}/result")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    assert Image.open(io.BytesIO(png)).size == (48, 36)
    assert browser.request("GET", f"/api/jobs/{job['id']}/preview")[0] == 200


def test_a_jobs_first_picture_is_the_sketch_before_the_first_step(server: Server) -> None:
    """The quick sketch is published first, and no step is reported before it; the run's first picture
    replaces it, and it stays at its own address."""
    browser = Browser(server.url)
    _, job = browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["state"] in ("queued", "running"):
        seen.append(browser.json("GET", f"/api/jobs/{job['id']}")[1])
        time.sleep(0.01)
    assert seen[-1]["state"] == "done", seen[-1]
    pictured = [s for s in seen if s["preview_version"] >= 1]
    assert pictured[0]["sketch_version"] == 1  # the first picture is the sketch …
    stepped = [s for s in seen if s["iteration"] >= 1]
    assert stepped and all(s["sketch_version"] == 1 for s in stepped)  # … published before any step
    assert [s["sketch"] for s in pictured] == sorted((s["sketch"] for s in pictured), reverse=True)
    final = seen[-1]
    assert not final["sketch"] and final["preview_version"] >= 2 and final["iteration"] == 4
    status, sketch, headers = browser.request("GET", f"/api/jobs/{job['id']}/sketch")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(sketch)).size == (48, 32)  # the output's size
    assert sketch != browser.request("GET", f"/api/jobs/{job['id']}/result")[1]


def test_sketch_only_makes_the_sketch_and_no_optimization(serve: Callable[..., Server]) -> None:
    from impasto.pipeline import stylize_detailed

    runs: list[Path] = []

    def stylize(content: Path, *args: Any, **kwargs: Any) -> Any:
        runs.append(content)
        return stylize_detailed(content, *args, **kwargs)

    server = serve(Limits(), stylize=stylize)
    browser = Browser(server.url)
    start = time.monotonic()
    status, job = browser.start("example:chelsea.png", ["example:swirls.png"], sketch_only=True, size=64)
    assert status == 202, job
    final = browser.wait(job["id"], timeout=60)
    took = time.monotonic() - start
    assert final["state"] == "done" and final["sketch"] and final["sketch_only"], final
    assert final["iteration"] == 0 and final["losses"] == []
    words = shlex.split(final["command"])  # the command that makes the same sketch, runnable as shown
    assert words[:2] == ["impasto", "preview"]
    assert words[-4:] == ["-o", "chelsea-in-swirls-sketch-64px.png", "--size", "64"]  # the download's name
    from impasto.cli.preview import build_parser

    assert build_parser().parse_args(words[2:]).size == 64
    assert final["result_size"] == [64, 43]
    status, png, headers = browser.request("GET", f"/api/jobs/{job['id']}/result")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    assert Image.open(io.BytesIO(png)).size == (64, 43)
    shown = browser.request("GET", f"/api/jobs/{job['id']}/sketch")[1]
    assert Image.open(io.BytesIO(shown)).tobytes() == Image.open(io.BytesIO(png)).tobytes()
    assert runs == []  # no optimization was started
    assert took < 30  # about a second; generous for a loaded machine
    request = {"content": "example:chelsea.png", "styles": [{"image": "example:swirls.png"}]}
    status, answer = browser.json("POST", "/api/jobs", {**request, "sketch_only": "yes"})
    assert status == 400 and answer["error"].startswith("sketch_only must be true or false")


@pytest.mark.slow
def test_without_the_sketch_network_the_app_works_as_before(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No onnxruntime: one line at start says so; jobs run without a sketch; "sketch only" says why."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled module imports as
    server = serve(Limits())
    logged = capsys.readouterr().err.splitlines()
    assert logged == [
        "impasto: warning: no quick sketch on this server: onnxruntime is not installed "
        "(pip install onnxruntime)"
    ]
    browser = Browser(server.url)
    assert browser.json("GET", "/api/setup")[1]["sketch"] is False
    _, job = browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    final = browser.wait(job["id"])
    assert final["state"] == "done" and final["sketch_version"] is None and final["preview_version"] >= 1
    assert browser.request("GET", f"/api/jobs/{job['id']}/sketch")[0] == 404
    status, answer = browser.start("example:chelsea.png", ["example:swirls.png"], sketch_only=True)
    assert status == 503
    assert answer["error"] == (
        "the quick sketch is not available on this server: onnxruntime is not installed "
        "(pip install onnxruntime)"
    )


def test_stop_keeps_the_best_image_so_far(server: Server) -> None:
    browser = Browser(server.url)
    status, job = browser.start("example:chelsea.png", ["example:swirls.png"], size=48, iterations=2000)
    assert status == 202
    running = browser.wait(job["id"], until=("running",))
    while running["iteration"] < 2:
        running = browser.wait(job["id"], until=("running",))
    assert browser.json("POST", f"/api/jobs/{job['id']}/stop")[0] == 200
    final = browser.wait(job["id"])
    assert final["state"] == "stopped" and 2 <= final["iteration"] < 2000
    # The page shows "Stopped after 3 s. " and this: no "stopped" said twice.
    assert final["message"] == "This is the best image it had."
    status, png, _ = browser.request("GET", f"/api/jobs/{job['id']}/result")
    assert status == 200 and Image.open(io.BytesIO(png)).size == (48, 32)


@pytest.mark.slow
def test_a_time_budget_ends_the_run_with_its_image(server: Server) -> None:
    browser = Browser(server.url)
    _, job = browser.start(
        "example:chelsea.png", ["example:swirls.png"], size=48, iterations=2000, time_budget=1
    )
    final = browser.wait(job["id"])
    assert final["state"] == "done" and "time budget" in final["message"] and final["iteration"] < 2000
    assert final["result_size"] == [48, 32]


def test_sessions_see_only_their_own_jobs_and_uploads(server: Server) -> None:
    alice, bob = Browser(server.url), Browser(server.url)
    _, upload = alice.upload(solid((10, 200, 10)))
    _, job = alice.start(upload["id"], ["example:swirls.png"], **FAST)
    alice.wait(job["id"])
    for action in ("", "/result", "/preview", "/sketch"):
        assert alice.request("GET", f"/api/jobs/{job['id']}{action}")[0] == 200, action
        assert bob.request("GET", f"/api/jobs/{job['id']}{action}")[0] == 404, action
    assert bob.json("POST", f"/api/jobs/{job['id']}/stop")[0] == 404
    status, body = bob.start(upload["id"], ["example:swirls.png"], **FAST)  # alice's upload id
    assert status == 400 and "upload the image again" in body["error"]


@pytest.mark.parametrize(
    ("body", "name", "status", "message"),
    [
        (b"this is not an image", "notes.png", 400, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "broken.png", 400, "notes.png"),
        (b"x" * (2**20 + 1), "huge.png", 413, "at most 1 MB"),
    ],
)
def test_bad_uploads_get_a_message(server: Server, body: bytes, name: str, status: int, message: str) -> None:
    browser = Browser(server.url)
    got, answer = browser.upload(body, name)
    assert got == status
    if message != "notes.png":
        assert message in answer["error"]
    assert "/tmp" not in answer["error"]  # the server's temporary paths are not shown
    assert browser.request("GET", "/")[0] == 200  # still serving


def test_too_many_pixels_are_refused(server: Server) -> None:
    got, answer = Browser(server.url).upload(solid((1, 2, 3), (1200, 1000)), "big.png")
    assert got == 400 and "decompression bomb" in answer["error"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 4096}, "at most 1024 px"),
        ({"size": 10}, "size must be"),
        ({"style_weight": "lots"}, "must be a number"),
        ({"preserve_colors": "sepia"}, "preserve_colors"),
        ({"init": "/etc/passwd"}, "init must be one of"),
        ({"sparkle": 1}, "unknown option"),
        ({"time_budget": -3}, "positive number"),
    ],
)
def test_bad_options_get_a_message(server: Server, options: dict[str, Any], message: str) -> None:
    status, body = Browser(server.url).start("example:chelsea.png", ["example:swirls.png"], **options)
    assert status == 400 and message in body["error"], body


def test_the_queue_reports_positions_and_refuses_beyond_its_limit(server: Server) -> None:
    browsers = [Browser(server.url) for _ in range(4)]
    jobs = []
    for browser in browsers[:3]:  # one runs, two wait (max_waiting=2)
        status, job = browser.start("example:chelsea.png", ["example:swirls.png"], size=48, iterations=2000)
        assert status == 202
        jobs.append(job["id"])
        if len(jobs) == 1:  # the first leaves the queue for the device before the others arrive
            browser.wait(job["id"], until=("running",))
    status, refused = browsers[3].start("example:chelsea.png", ["example:swirls.png"], **FAST)
    assert status == 429 and "already waiting" in refused["error"]
    positions = [browsers[i].json("GET", f"/api/jobs/{jobs[i]}")[1]["position"] for i in range(3)]
    assert positions == [0, 1, 2]
    # Quick sketches wait behind no one's optimization: the waiting jobs show theirs, and a sketch
    # alone is made while the queue is full.
    status, alone = browsers[3].start("example:chelsea.png", ["example:swirls.png"], sketch_only=True)
    assert status == 202, alone
    assert browsers[3].wait(alone["id"], timeout=60)["state"] == "done"
    for i in (1, 2):
        waiting = browsers[i].wait(jobs[i], until=("queued",))
        while not waiting["sketch"]:
            waiting = browsers[i].wait(jobs[i], until=("queued",), timeout=60)
        assert waiting["position"] == i
    # A second job from a browser with one waiting may wait too (a few variations), but not here: the
    # queue is full.
    assert browsers[1].start("example:chelsea.png", ["example:swirls.png"], **FAST)[0] == 429
    for browser, job in zip(browsers, jobs, strict=False):
        browser.json("POST", f"/api/jobs/{job}/stop")
    assert browsers[2].wait(jobs[2])["state"] == "stopped"
    assert browsers[0].wait(jobs[0])["state"] == "stopped"


def test_a_failing_run_is_reported_and_the_server_goes_on(server: Server) -> None:
    browser = Browser(server.url)
    _, upload = browser.upload(solid((9, 9, 9)), "gone.png")
    for file in server.app.folder.glob("*/*"):  # the upload vanishes before the run reads it
        file.unlink()
    _, job = browser.start(upload["id"], ["example:swirls.png"], **FAST)
    final = browser.wait(job["id"])
    assert final["state"] == "failed" and "no such file" in final["message"], final
    assert "Traceback" not in final["message"]
    _, job = browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    assert browser.wait(job["id"])["state"] == "done"


def test_command_line_lists_only_what_differs() -> None:
    config = StyleConfig(size=256, style_weight=12.5, preserve_colors="luminance", style_blend=(1.0, 3.0))
    line = command_line("a.png", ["b b.png", "c.png"], config, None)
    assert line == (
        "impasto a.png 'b b.png' c.png -o impasto.png --size 256 --style-weight 12.5 "
        "--style-blend 1,3 --preserve-colors luminance"
    )
    budgeted = command_line("a.png", ["b.png"], StyleConfig(device="cpu"), 30)
    assert budgeted.endswith("--device cpu --time-budget 30")
    # Runnable as shown: the command line's own parser takes every word of it.
    from impasto.cli import build_parser, config_from_args

    args = build_parser().parse_args(shlex.split(line)[1:])
    assert config_from_args(args).style_blend == (1.0, 3.0)
    assert build_parser().parse_args(shlex.split(budgeted)[1:]).time_budget == 30


def test_the_command_names_an_example_as_example_name_and_writes_the_download(server: Server) -> None:
    """The page's command runs as shown (the command line takes example:NAME), shows no path of the
    server's, and writes the file the page downloads."""
    browser = Browser(server.url)
    _, job = browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    final = browser.wait(job["id"])
    words = shlex.split(final["command"])
    assert words[1:3] == ["example:chelsea.png", "example:swirls.png"]
    assert words[words.index("-o") + 1] == final["download"] == "chelsea-in-swirls-48px.png"


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_impasto_serve_prints_its_url_serves_and_stops_cleanly(stop: signal.Signals, tmp_path: Path) -> None:
    """Ctrl-C, SIGTERM (a service manager, kill) and SIGHUP (the terminal closed) all stop it with exit
    0 and no upload folder left."""
    with impasto_serve(temp_dir=tmp_path) as child:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", child.url), child.url
        status, page, _ = Browser(child.url).request("GET", "/")
        assert status == 200 and b"impasto" in page
        assert list(tmp_path.iterdir())  # the upload folder, while it runs
        child.process.send_signal(stop)
        assert child.process.wait(timeout=120) == 0
    assert "Traceback" not in child.stderr
    assert list(tmp_path.iterdir()) == []


def test_impasto_serve_refuses_a_bad_port_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "impasto.cli", "serve", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        done.returncode == 2
        and done.stderr.strip() == "impasto: error: port must be from 0 to 65535, got 99999"
    )


def test_the_time_estimate_counts_iterations_not_loading(tmp_path: Path) -> None:
    """30 s of loading, then 20% of the work in 2 s: 7 s left, not the 70 the whole elapsed time says."""
    from impasto.web.jobs import Job

    job = Job(
        id="j", session="s", content=tmp_path / "c.png", styles=[tmp_path / "s.png"], config=StyleConfig()
    )
    now = time.monotonic()
    job.state, job.started = "running", now - 32
    assert job.eta() is None  # nothing iterated yet
    job.iterating_since, job.work = (now - 2, 0.1), 0.3
    assert job.eta() == pytest.approx(7.0, rel=0.05)


@pytest.mark.slow
def test_listening_beyond_this_computer_says_so() -> None:
    with impasto_serve("--host", "0.0.0.0") as child:
        assert child.process.stderr is not None
        warning = child.process.stderr.readline()
        assert warning.startswith("impasto: warning: listening on 0.0.0.0: anyone who can reach")
        child.process.send_signal(signal.SIGINT)
        assert child.process.wait(timeout=120) == 0


def test_masks_put_each_style_in_its_region(server: Server) -> None:
    """A mask per style (or one for two styles) reaches the run and its command; masks for some
    styles only are refused."""
    browser = Browser(server.url)
    left = Image.new("L", (64, 48), 0)
    left.paste(255, (0, 0, 32, 48))
    _, mask = browser.upload(left.convert("RGB"), "left.png")
    styles = [
        {"image": "example:swirls.png", "weight": 1, "mask": mask["id"]},
        {"image": "example:chelsea.png", "weight": 1},
    ]
    request = {"content": "example:chelsea.png", "styles": styles, "options": FAST}
    status, job = browser.json("POST", "/api/jobs", request)
    assert status == 202, job
    final = browser.wait(job["id"])
    assert final["state"] == "done", final
    assert "--content-mask left.png" in final["command"]
    three = {**request, "styles": [*styles, {"image": "example:swirls.png", "mask": mask["id"]}]}
    status, answer = browser.json("POST", "/api/jobs", three)
    assert status == 400 and "give every style a mask" in answer["error"]
    gone = {**request, "styles": [{"image": "example:swirls.png", "mask": "upload:nope"}]}
    assert browser.json("POST", "/api/jobs", gone)[0] == 400


def test_a_results_png_carries_the_options_that_make_it_again(server: Server, tmp_path: Path) -> None:
    """The downloaded PNG holds the options (impasto --config result.png): the same as the job's, the
    images named as the user knows them, no server path."""
    from impasto.config import from_toml
    from impasto.io.images import read_options

    browser = Browser(server.url)
    _, upload = browser.upload(solid((200, 40, 40)), "my photo.png")
    _, job = browser.start(
        upload["id"], ["example:swirls.png"], **FAST, style_weight=7, preserve_colors="luminance"
    )
    final = browser.wait(job["id"])
    assert final["state"] == "done", final
    saved = tmp_path / final["download"]
    saved.write_bytes(browser.request("GET", f"/api/jobs/{job['id']}/result")[1])
    text = read_options(saved)
    assert text is not None and 'from "my photo.png" in the style of "swirls.png"' in text
    assert str(server.app.folder) not in text
    config = from_toml(saved)
    assert (config.size, config.iterations, config.style_weight) == (48, 4, 7)
    assert config.preserve_colors == "luminance" and config.device == "cpu"


def test_a_sessions_upload_is_shown_to_it_again_and_to_no_other(server: Server) -> None:
    """The page shows a past job's photo again ("Use these settings") from GET /api/uploads/ID."""
    alice, bob = Browser(server.url), Browser(server.url)
    _, upload = alice.upload(solid((10, 200, 10)))
    path = f"/api/uploads/{upload['id'].removeprefix('upload:')}"
    status, data, headers = alice.request("GET", path)
    assert status == 200 and headers["Content-Type"] == "image/png" and headers["X-Frame-Options"] == "DENY"
    assert Image.open(io.BytesIO(data)).getpixel((0, 0)) == (10, 200, 10)
    assert bob.request("GET", path)[0] == 404
    assert alice.request("GET", "/api/uploads/nothing-such")[0] == 404


def test_an_upload_impasto_made_brings_the_settings_it_was_made_with(server: Server, tmp_path: Path) -> None:
    """Like a "PNG Info": the page is told the settings an impasto picture carries (those it may set)."""
    from impasto.config import to_png_text
    from impasto.io import images

    made = StyleConfig(style_weight=55.0, iterations=12, style_loss="gram", device="cpu", max_pixels=10**7)
    for suffix in (".png", ".jpg"):
        path = images.save(
            solid((10, 20, 30)), tmp_path / f"made{suffix}", options=to_png_text(made, "a.jpg")
        )
        status, answer = Browser(server.url).upload(path.read_bytes(), path.name)
        assert status == 200 and answer["made_with"]["style_weight"] == 55.0, answer
        assert answer["made_with"]["iterations"] == 12 and answer["made_with"]["style_loss"] == "gram"
        assert (
            "device" not in answer["made_with"] and "max_pixels" not in answer["made_with"]
        )  # not the page's
    assert "made_with" not in Browser(server.url).upload(solid((10, 20, 30)))[1]


def test_every_result_is_kept_in_the_outputs_folder_with_its_options(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """``serve --outputs DIR``: a result lives on after the server (named as its download, never over
    another), carrying the options that make it again."""
    from impasto.config import from_toml

    kept = tmp_path / "kept"
    server = serve(Limits(), outputs=kept)
    browser = Browser(server.url)
    for _ in range(2):
        _, job = browser.start("example:chelsea.png", ["example:swirls.png"], style_weight=9, **FAST)
        assert browser.wait(job["id"])["state"] == "done"
    names = sorted(p.name for p in kept.glob("*.png"))
    assert names == ["chelsea-in-swirls-48px-2.png", "chelsea-in-swirls-48px.png"]
    assert from_toml(kept / names[1]).style_weight == 9.0
    with Image.open(kept / names[1]) as picture:
        assert picture.size == (48, 32)


def test_a_restarted_server_shows_the_kept_results_and_makes_them_again(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """The history is read back from the outputs folder: after a restart a new browser on this
    computer sees the result, its picture and the photo it was made from (kept by content), makes it
    again from them, and deletes it (its file too; the photo stays while another result names it)."""
    kept = tmp_path / "kept"
    first = serve(Limits(), outputs=kept)
    photo = solid((200, 120, 40))
    browser = Browser(first.url)
    _, uploaded = browser.upload(photo, "holiday.png")
    _, job = browser.start(uploaded["id"], ["example:swirls.png"], style_weight=9, **FAST)
    assert browser.wait(job["id"])["state"] == "done"
    first.stop()

    second = serve(Limits(), outputs=kept)
    browser = Browser(second.url)
    status, history = browser.json("GET", "/api/jobs")
    assert status == 200 and len(history) == 1, history
    entry = history[0]
    assert entry["download"] == "holiday-in-swirls-48px.png" and entry["state"] == "done"
    assert (
        entry["names"] == ["holiday.png", ["swirls.png"]] and entry["request"]["options"]["style_weight"] == 9
    )
    status, picture, _ = browser.request("GET", entry["picture"])
    assert status == 200 and picture == (kept / "holiday-in-swirls-48px.png").read_bytes()
    photo_reference = entry["request"]["content"]
    assert re.fullmatch(r"kept:[0-9a-f]{64}", photo_reference), photo_reference
    status, shown, _ = browser.request("GET", f"/api/uploads/{urllib.parse.quote(photo_reference)}")
    assert status == 200
    with Image.open(io.BytesIO(shown)) as again:
        assert again.convert("RGB").tobytes() == photo.tobytes()

    request = {**entry["request"], "options": {**entry["request"]["options"], "style_weight": 3}}
    status, made = browser.json("POST", "/api/jobs", request)
    assert status == 202, made
    assert browser.wait(made["id"])["state"] == "done"
    history = browser.json("GET", "/api/jobs")[1]
    assert [h["download"] for h in history] == ["holiday-in-swirls-48px-2.png", "holiday-in-swirls-48px.png"]
    assert history[0]["request"]["content"] == photo_reference  # the same photo, kept once
    assert len(list((kept / ".impasto" / "inputs").iterdir())) == 1

    # Deleted from the history: gone from it and from the folder, for every browser of this computer.
    status, _ = browser.json("POST", f"/api/history/{history[1]['id']}/delete")
    assert status == 200
    assert not (kept / "holiday-in-swirls-48px.png").exists()
    assert [h["download"] for h in Browser(second.url).json("GET", "/api/jobs")[1]] == [
        "holiday-in-swirls-48px-2.png"
    ]
    assert browser.json("POST", f"/api/history/{history[1]['id']}/delete")[0] == 404
    assert len(list((kept / ".impasto" / "inputs").iterdir())) == 1  # the second result names it
    status, _ = browser.json("POST", f"/api/history/{history[0]['id']}/delete")  # this session's job
    assert status == 200 and browser.json("GET", "/api/jobs")[1] == []
    assert list(kept.glob("*.png")) == [] and list((kept / ".impasto" / "inputs").iterdir()) == []


def test_an_open_server_keeps_its_results_but_shows_them_to_no_one(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """Kept results are the history of whoever started the server: a server open to the network
    without an access token writes them but shows them, and their inputs, to no other browser."""
    kept = tmp_path / "kept"
    first = serve(Limits(), outputs=kept)
    browser = Browser(first.url)
    _, uploaded = browser.upload(solid((10, 200, 90)), "garden.png")
    _, job = browser.start(uploaded["id"], ["example:swirls.png"], **FAST)
    browser.wait(job["id"])
    first.stop()
    [record] = (kept / ".impasto" / "history").iterdir()
    reference = json.loads(record.read_text())["request"]["content"]

    open_server = serve(Limits(), host="0.0.0.0", outputs=kept)
    stranger = Browser(f"http://127.0.0.1:{open_server.server_address[1]}/")
    assert stranger.json("GET", "/api/jobs") == (200, [])
    assert stranger.request("GET", f"/api/uploads/{urllib.parse.quote(reference)}")[0] == 404
    status, refused = stranger.start(reference, ["example:swirls.png"], **FAST)
    assert status == 400 and "no longer kept" in refused["error"]
    _, job = stranger.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    stranger.wait(job["id"])
    assert len(stranger.json("GET", "/api/jobs")[1]) == 1  # its own job only
    assert len(list(kept.glob("*.png"))) == 2  # still kept


def test_a_result_past_the_outputs_cap_is_not_kept_and_its_job_says_so(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    kept = tmp_path / "kept"
    server = serve(Limits(max_kept_bytes=2000), outputs=kept)
    browser = Browser(server.url)
    _, job = browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)
    status = browser.wait(job["id"])
    assert status["state"] == "done"
    assert (
        "(not kept in the outputs folder: it would pass its limit (0 KB kept of 2 KB); delete"
        in status["message"]
    )
    assert list(kept.glob("*.png")) == [] and browser.json("GET", "/api/jobs")[1][0]["state"] == "done"


def test_one_browser_queues_a_few_variations(serve: Callable[..., Server]) -> None:
    """A browser (its tabs share the session) may have ``active_per_session`` jobs waiting or running;
    one more is refused until one ends (it was one job at a time)."""
    server = serve(Limits(max_waiting=8, active_per_session=3))
    browser = Browser(server.url)
    long: dict[str, Any] = {"size": 48, "iterations": 2000}
    jobs = [
        browser.start("example:chelsea.png", ["example:swirls.png"], style_weight=w, **long)
        for w in (5, 10, 20)
    ]
    assert [status for status, _ in jobs] == [202, 202, 202]
    status, refused = browser.start("example:chelsea.png", ["example:swirls.png"], **long)
    assert status == 409 and "already has 3 jobs waiting or running" in refused["error"]
    positions = [browser.json("GET", f"/api/jobs/{job['id']}")[1]["position"] for _, job in jobs]
    assert positions[1:] == [1, 2] or positions[1:] == [0, 1]  # in order behind the first
    browser.json("POST", f"/api/jobs/{jobs[2][1]['id']}/stop")
    browser.wait(jobs[2][1]["id"])
    assert browser.start("example:chelsea.png", ["example:swirls.png"], **FAST)[0] == 202
    for _, job in jobs[:2]:
        browser.json("POST", f"/api/jobs/{job['id']}/stop")
