"""The web app's second hardening pass (issue 1.3): each hole found by probing 1.0, against a real
server on 127.0.0.1 (or another loopback address), raw HTTP where a browser would not go."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from serve_command import impasto_serve

from impasto.web import BindError, Limits, Server, make_server
from impasto.web.server import is_loopback


def send(
    server: Server,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    host: str | None = None,
) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
    address, port = server.server_address
    connection = http.client.HTTPConnection(address, port, timeout=30)
    try:
        connection.request(
            method, path, body=body, headers={"Host": host or f"127.0.0.1:{port}", **(headers or {})}
        )
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    kind = response.getheader("Content-Type") or ""
    return response.status, json.loads(data) if kind == "application/json" else {}, response


def token(server: Server) -> str:
    return str(send(server, "GET", "/api/setup")[1]["token"])


def png(size: tuple[int, int] = (64, 48), noisy: bool = False) -> bytes:
    buffer = io.BytesIO()
    image = Image.effect_noise(size, 60).convert("RGB") if noisy else Image.new("RGB", size, (90, 30, 200))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload(server: Server, data: bytes, name: str = "p.png", cookie: str = "") -> tuple[int, dict[str, Any]]:
    headers = {"X-Impasto-Token": token(server), "X-Filename": name}
    if cookie:
        headers["Cookie"] = cookie
    status, answer, _ = send(server, "POST", "/api/uploads", data, headers)
    return status, answer


def session_cookie(response: http.client.HTTPResponse) -> str:
    for value in response.headers.get_all("Set-Cookie") or []:
        if value.startswith("impasto_session="):
            return value.split(";", 1)[0]
    raise AssertionError("no session cookie")


# -- connections -----------------------------------------------------------------------------------


def trickle(server: Server, payload: bytes, every: float, stop: threading.Event) -> float | None:
    """Send ``payload`` a byte at a time, one every ``every`` s → seconds until the server hung up
    (None if it never did before ``stop``)."""
    address, port = server.server_address
    start = time.monotonic()
    with socket.create_connection((address, port), timeout=30) as raw:
        for byte in payload:
            if stop.wait(every):
                return None
            try:
                raw.sendall(bytes([byte]))
            except OSError:
                return time.monotonic() - start
            raw.setblocking(False)
            try:
                if raw.recv(4096) == b"":
                    return time.monotonic() - start
            except BlockingIOError:
                pass
            except OSError:
                return time.monotonic() - start
            raw.setblocking(True)
    return None


@pytest.mark.slow
@pytest.mark.parametrize("access_token", [None, "s3cret-token"])
def test_clients_trickling_headers_or_bodies_are_cut_off_and_others_are_served(
    serve: Callable[..., Server], access_token: str | None
) -> None:
    """16 connections sending a byte every 0.2 s (a per-recv timeout never fires) lose their
    connection at the request's deadline (here 1 s), before authentication too; meanwhile every
    ordinary request is answered at once."""
    server = serve(Limits(request_timeout=1.0), access_token=access_token)
    port = server.server_address[1]
    head = f"GET /api/setup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Padding: {'x' * 200}\r\n\r\n".encode()
    body = (
        f"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 300\r\n\r\n".encode()
        + b"y" * 300
    )
    stop = threading.Event()
    cut: list[float | None] = []

    def one(payload: bytes) -> None:
        if payload is body:  # the headers at once, then the body a byte at a time
            address, port = server.server_address
            with socket.create_connection((address, port), timeout=30) as raw:
                raw.sendall(payload[: payload.index(b"\r\n\r\n") + 4])
                start = time.monotonic()
                raw.settimeout(0.2)
                for byte in payload[payload.index(b"\r\n\r\n") + 4 :]:
                    try:
                        raw.sendall(bytes([byte]))
                        if raw.recv(4096) == b"":
                            break
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if stop.is_set():
                        cut.append(None)
                        return
                cut.append(time.monotonic() - start)
                return
        cut.append(trickle(server, payload, 0.2, stop))

    threads = [threading.Thread(target=one, args=(head if i % 2 else body,)) for i in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        headers = {"X-Impasto-Access": access_token} if access_token else {}
        for _ in range(5):
            start = time.monotonic()
            assert send(server, "GET", "/api/setup", headers=headers)[0] == 200
            assert time.monotonic() - start < 2
        for thread in threads:
            thread.join(30)
    finally:
        stop.set()
    assert len(cut) == 16 and all(seconds is not None and seconds < 10 for seconds in cut), cut


@pytest.mark.slow
def test_one_client_holding_many_connections_does_not_lock_the_others_out(
    serve: Callable[[Limits], Server],
) -> None:
    """A client at its bound of connections (kept alive after a request, or sending half a request and
    then nothing) has its longest-stalled replaced by its newest: a fresh request is served, never a
    503 forever; connections that have had no time to speak are cut for none."""
    server = serve(Limits(per_client=8, idle_timeout=60, request_timeout=60))
    address, port = server.server_address
    held = []
    for _ in range(4):  # kept alive after a request
        connection = http.client.HTTPConnection(address, port, timeout=30)
        connection.request("GET", "/api/setup", headers={"Host": f"127.0.0.1:{port}"})
        connection.getresponse().read()
        held.append(connection)
    raws = []
    for _ in range(4):  # half a request's headers, then nothing
        raw = socket.create_connection((address, port), timeout=30)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: ")
        raws.append(raw)
    time.sleep(1.2)  # all of them quiet for longer than connections.QUIET
    newcomers = []
    try:
        for _ in range(8):  # each kept open too: the client stays at its bound
            connection = http.client.HTTPConnection(address, port, timeout=30)
            connection.request("GET", "/api/setup", headers={"Host": f"127.0.0.1:{port}"})
            response = connection.getresponse()
            assert response.status == 200 and response.read()
            newcomers.append(connection)
        for raw in raws:  # every one of the old connections gave way
            assert raw.recv(4096) == b""
        for connection in held:
            assert connection.sock is not None and connection.sock.recv(4096) == b""
        # The newcomers spoke a moment ago (their next request may be on its way): a ninth cuts none
        # of them, it comes in through the reserve.
        assert send(server, "GET", "/api/setup")[0] == 200
        for connection in newcomers:
            assert connection.sock is not None
            connection.sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # still open, nothing to read
                connection.sock.recv(4096)
    finally:
        for connection in held + newcomers:
            connection.close()
        for raw in raws:
            raw.close()


def test_a_session_is_made_only_by_the_pages_requests_and_work_is_never_evicted(
    serve: Callable[[Limits], Server],
) -> None:
    """Hundreds of cookieless GETs (what <img> tags on any page can send) make no session; when the
    server is full, the newest session with nothing under way gives way (a script's, never the one
    that came before it), and where every session has a job under way the newcomer hears 503."""
    server = serve(Limits(max_sessions=2))
    status, _, response = send(server, "GET", "/")
    alice = session_cookie(response)
    assert status == 200 and not server.app.sessions.sessions  # a cookie, but no session yet
    status, kept = upload(server, png(), cookie=alice)
    assert status == 200
    for _ in range(260):
        assert send(server, "GET", "/")[0] == 200
    assert send(server, "GET", "/api/setup")[0] == 200
    assert len(server.app.sessions.sessions) == 1
    assert upload(server, png())[0] == 200  # a second session (a script without a cookie)
    assert upload(server, png())[0] == 200  # a third: the second gives way, not alice's
    assert len(server.app.sessions.sessions) == 2
    headers = {"X-Impasto-Token": token(server), "Cookie": alice, "Content-Type": "application/json"}
    long = {"size": 48, "iterations": 2000, "precision": "fp32"}
    job = {"content": kept["id"], "styles": [{"image": "example:swirls.png"}], "options": long}
    status, answer, _ = send(server, "POST", "/api/jobs", json.dumps(job).encode(), headers)
    assert status == 202, answer  # alice's upload is still hers
    status, _, response = send(server, "GET", "/")
    bob = session_cookie(response)
    status, bobs = upload(server, png(), cookie=bob)
    assert status == 200
    job["content"] = bobs["id"]
    bob_headers = {**headers, "Cookie": bob}
    assert send(server, "POST", "/api/jobs", json.dumps(job).encode(), bob_headers)[0] == 202
    status, answer = upload(server, png())  # both have a job under way: no room
    assert status == 503 and "as many visitors" in answer["error"]


def test_a_patient_script_cannot_crowd_browsers_out_of_the_visitor_table(
    serve: Callable[[Limits], Server],
) -> None:
    """A script on another address making sessions with uploads, slowly enough for the per-minute
    bound, once filled the table for an hour (new browsers heard 503); now it pushes out its own."""
    server = serve(Limits(max_sessions=4))
    address, port = server.server_address

    def upload_from(source: str, cookie: str = "") -> tuple[int, str]:
        connection = http.client.HTTPConnection(address, port, timeout=30, source_address=(source, 0))
        headers = {"Host": f"127.0.0.1:{port}", "X-Impasto-Token": token(server), "X-Filename": "p.png"}
        connection.request(
            "POST", "/api/uploads", png(), {**headers, **({"Cookie": cookie} if cookie else {})}
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, cookie or session_cookie(response)

    status, alice = upload_from("127.0.0.1")
    assert status == 200
    assert [upload_from("127.0.0.2")[0] for _ in range(10)] == [200] * 10
    assert upload_from("127.0.0.3")[0] == 200  # a new browser elsewhere gets in
    assert upload_from("127.0.0.1", alice)[0] == 200
    hers = server.app.sessions.find(alice.split("=", 1)[1])
    assert hers is not None and len(hers.uploads) == 2  # her first upload is still there
    by_address = sorted(s.address for s in server.app.sessions.sessions.values())
    assert by_address == ["127.0.0.1", "127.0.0.2", "127.0.0.2", "127.0.0.3"]


def test_a_burst_of_cookieless_uploads_cannot_fill_the_visitor_table(
    serve: Callable[[Limits], Server],
) -> None:
    """An address makes at most ``new_sessions_per_minute`` sessions (a browser makes one and keeps
    its cookie): a script's burst of cookieless uploads is turned away with 429 before the table of
    visitors fills with sessions that are never pushed out, and a browser with its session goes on."""
    server = serve(Limits(new_sessions_per_minute=3))
    status, _, response = send(server, "GET", "/")
    alice = session_cookie(response)
    assert upload(server, png(), cookie=alice)[0] == 200  # her session: the first of the minute
    assert [upload(server, png())[0] for _ in range(5)] == [200, 200, 429, 429, 429]
    status, answer, response = send(
        server, "POST", "/api/uploads", png(), {"X-Impasto-Token": token(server), "X-Filename": "p.png"}
    )
    assert status == 429 and "too many new visitors" in answer["error"]
    assert 1 <= int(response.getheader("Retry-After") or 0) <= 61
    assert len(server.app.sessions.sessions) == 3
    assert upload(server, png(), cookie=alice)[0] == 200  # a session that exists is not new


@pytest.mark.slow
def test_sessions_uploading_at_once_get_no_internal_errors_and_stay_within_the_room(
    serve: Callable[[Limits], Server],
) -> None:
    """Several sessions uploading together: every answer is a 200 or a 507, and the uploads kept
    never pass the shared room (bytes are reserved before they are written)."""
    room = 600_000
    server = serve(Limits(max_disk_bytes=room, uploads_per_session=2, max_upload_pixels=10**6))
    data = png((200, 200), noisy=True)  # ~120 KB that does not compress
    statuses: list[int] = []
    peaks: list[int] = []

    def user() -> None:
        cookie = ""
        for _ in range(12):
            status, _, response = send(
                server,
                "POST",
                "/api/uploads",
                data,
                {
                    "X-Impasto-Token": server.app.token,
                    "X-Filename": "n.png",
                    **({"Cookie": cookie} if cookie else {}),
                },
            )
            statuses.append(status)
            cookie = cookie or next(
                (c.split(";")[0] for c in response.headers.get_all("Set-Cookie") or [] if "session" in c), ""
            )
            peaks.append(sum(f.stat().st_size for f in server.app.folder.glob("*/*") if f.is_file()))

    users = [threading.Thread(target=user) for _ in range(6)]
    for thread in users:
        thread.start()
    for thread in users:
        thread.join(120)
    assert set(statuses) <= {200, 507} and 200 in statuses and 507 in statuses, sorted(set(statuses))
    assert max(peaks) <= room and server.app.sessions.disk_used() <= room


# -- addresses -------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.2", "0.0.0.0"])
def test_the_host_is_checked_whatever_the_address(serve: Callable[..., Server], host: str) -> None:
    """Bound to another loopback address, or to every address: a request naming a foreign host (a
    DNS-rebinding page) is refused; the server's addresses, localhost and --allow-host names are not."""
    server = serve(host=host, names=["studio.lan"])
    port = server.server_address[1]
    for name, wanted in [
        ("evil.example", 403),
        ("127.0.0.2", 200),
        ("localhost", 200),
        ("studio.lan", 200),
        ("[::1]", 200),
        ("10.1.2.3", 403 if host.startswith("127.") else 200),
    ]:
        status, answer, _ = send(server, "GET", "/api/setup", host=f"{name}:{port}")
        assert status == wanted, (name, answer)
    assert send(server, "GET", "/api/setup", host=f"127.0.0.1:{port}x")[0] == 403  # not a port


def test_ipv6_loopback_is_served(serve: Callable[..., Server]) -> None:
    server = serve(host="::1")
    assert server.url.startswith("http://[::1]:")
    connection = http.client.HTTPConnection("::1", server.server_address[1], timeout=30)
    connection.request("GET", "/api/setup")  # Host: [::1]:port, as a browser sends it
    assert connection.getresponse().status == 200
    connection.close()
    assert is_loopback("::1") and is_loopback("127.9.9.9") and not is_loopback("0.0.0.0")


def test_an_address_that_cannot_be_listened_on_is_one_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BindError, match="the port is in use"):
            make_server("127.0.0.1", port)
    with pytest.raises(BindError, match="no such address"):
        make_server("no-such-host.invalid", 0)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--host", "no-such-host.invalid"],
            "impasto: error: cannot listen on no-such-host.invalid: no such address",
        ),
        (["--max-waiting", "0"], "impasto: error: --max-waiting must be at least 1"),
        (["--max-upload-mb", "nan"], "impasto: error: --max-upload-mb must be a number of megabytes above 0"),
        (["--max-upload-mb", "inf"], "impasto: error: --max-upload-mb must be a number of megabytes above 0"),
        (["--allow-host", "a b"], "impasto: error: --allow-host takes a host name"),
        (["--max-pixels", "0"], "impasto: error: --max-pixels must be from 1 to"),
    ],
)
def test_impasto_serve_refuses_what_cannot_work_in_one_line(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "impasto.cli", "serve", "--port", "0", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode != 0 and done.stderr.startswith(message), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_serve_max_pixels_sets_the_uploads_limit_and_says_its_default() -> None:
    """The limit a refused upload names (raise it with --max-pixels) is one ``serve`` takes."""
    from impasto.cli.serve import build_serve_parser

    parser = build_serve_parser()
    assert parser.parse_args(["--max-pixels", "1000"]).max_pixels == 1000
    (action,) = [a for a in parser._actions if a.dest == "max_pixels"]
    assert f"{Limits().max_upload_pixels:,}" in str(action.help)


@pytest.mark.slow
def test_ctrl_c_twice_during_a_job_stops_at_once_and_leaves_nothing(tmp_path: Path) -> None:
    with impasto_serve(temp_dir=tmp_path) as child:
        host, port = child.url.removeprefix("http://").strip("/").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.request("GET", "/api/setup")
        setup = json.loads(connection.getresponse().read())
        connection.request(
            "POST", "/api/uploads", png(), {"X-Impasto-Token": setup["token"], "X-Filename": "mine.png"}
        )
        response = connection.getresponse()
        uploaded, cookie = json.loads(response.read()), session_cookie(response)
        job = {
            "content": uploaded["id"],
            "styles": [{"image": "example:swirls.png"}],
            "options": {"size": 256, "iterations": 2000},
        }
        headers = {"X-Impasto-Token": setup["token"], "Cookie": cookie, "Content-Type": "application/json"}
        connection.request("POST", "/api/jobs", json.dumps(job), headers)
        job_id = json.loads(connection.getresponse().read())["id"]
        for _ in range(600):  # until it iterates
            connection.request("GET", f"/api/jobs/{job_id}", headers={"Cookie": cookie})
            if json.loads(connection.getresponse().read())["iteration"] >= 1:
                break
            time.sleep(0.1)
        connection.close()
        assert len(list(tmp_path.glob("*/*/*"))) == 1  # the upload, while it runs
        child.process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        child.process.send_signal(signal.SIGINT)
        assert child.process.wait(timeout=60) in (0, 130)
    assert "Traceback" not in child.stderr and "Abort" not in child.stderr, child.stderr
    assert [p for p in tmp_path.iterdir() if p.name.startswith("impasto-")] == []  # torch's caches stay


# -- requests --------------------------------------------------------------------------------------


def test_odd_headers_and_names_are_refused_not_crashed_on(serve: Callable[[Limits], Server]) -> None:
    server = serve(Limits())
    for headers in ({"X-Impasto-Token": "jeton-\u00e9t\u00e9"}, {"X-Impasto-Token": "\u00ff" * 40}):
        encoded = {k: v.encode("latin-1").decode("latin-1") for k, v in headers.items()}
        status, answer, _ = send(server, "POST", "/api/jobs", b"{}", encoded)
        assert status == 403 and "impasto's page" in answer["error"]
    status, answer, _ = send(server, "GET", "/static/" + "a" * 300 + ".js")
    assert status == 404 and answer["error"] == "no such page"
    status, answer, _ = send(server, "GET", "/api/jobs/x/" + "b" * 300)
    assert status == 404


def test_every_answer_forbids_framing_and_sniffing(serve: Callable[[Limits], Server]) -> None:
    server = serve(Limits())
    for method, path, headers in [
        ("GET", "/", {}),
        ("GET", "/static/app.js", {}),
        ("GET", "/api/setup", {}),
        ("GET", "/nothing-here", {}),
        ("POST", "/api/jobs", {"Origin": "http://evil.example"}),
    ]:
        _, _, response = send(server, method, path, headers=headers)
        policy = response.getheader("Content-Security-Policy") or ""
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, path
        assert response.getheader("X-Frame-Options") == "DENY", path
        assert response.getheader("X-Content-Type-Options") == "nosniff", path


@pytest.mark.parametrize(
    ("data", "accepted"),
    [
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", False),
        ("ppm", False),
        ("ico", False),
        ("png", True),
        ("jpeg", True),
        ("webp", True),
        ("tiff", True),
        ("bmp", True),
        ("gif", True),
    ],
)
def test_uploads_are_limited_to_common_formats_told_from_their_header(
    serve: Callable[[Limits], Server], data: bytes | str, accepted: bool
) -> None:
    server = serve(Limits())
    if isinstance(data, str):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 32), (10, 200, 90)).save(buffer, format=data.upper())
        data = buffer.getvalue()
    status, answer = upload(server, data, "picture.png")  # the name says PNG whatever it is
    if accepted:
        assert status == 200, answer
    else:
        assert status == 400 and "not an image impasto takes" in answer["error"], answer


def test_a_job_reads_its_images_within_the_decoding_limit(serve: Callable[[Limits], Server]) -> None:
    """The run decodes its images again: under the same limit as the upload (here the file changed
    on disk between the two, as nothing else could make it grow)."""
    server = serve(Limits(max_decode_bytes=2**27, max_upload_pixels=10**8))
    cookie = session_cookie(send(server, "GET", "/")[2])
    status, kept = upload(server, png(), cookie=cookie)
    assert status == 200
    big = io.BytesIO()
    Image.new("RGBA", (6000, 6000)).save(big, format="PNG")
    (path,) = server.app.folder.glob("*/*")
    path.write_bytes(big.getvalue())
    headers = {"X-Impasto-Token": token(server), "Cookie": cookie, "Content-Type": "application/json"}
    job = {"content": kept["id"], "styles": [{"image": "example:swirls.png"}], "options": {"size": 48}}
    status, answer, _ = send(server, "POST", "/api/jobs", json.dumps(job).encode(), headers)
    assert status == 202, answer
    for _ in range(300):
        state = send(server, "GET", f"/api/jobs/{answer['id']}", headers={"Cookie": cookie})[1]
        if state["state"] not in ("queued", "running"):
            break
        time.sleep(0.1)
    assert state["state"] == "failed" and "over the 128 MiB allowed" in state["message"], state


def test_progress_is_pushed_as_server_sent_events(serve: Callable[[Limits], Server]) -> None:
    server = serve(Limits())
    cookie = session_cookie(send(server, "GET", "/")[2])
    headers = {"X-Impasto-Token": token(server), "Cookie": cookie, "Content-Type": "application/json"}
    job = {
        "content": "example:chelsea.png",
        "styles": [{"image": "example:swirls.png"}],
        "options": {"size": 48, "iterations": 4, "precision": "fp32"},
    }
    status, answer, _ = send(server, "POST", "/api/jobs", json.dumps(job).encode(), headers)
    assert status == 202
    address, port = server.server_address
    connection = http.client.HTTPConnection(address, port, timeout=60)
    connection.request("GET", f"/api/jobs/{answer['id']}/events", headers={"Cookie": cookie})
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/event-stream")
    states = [
        json.loads(line[6:]) for line in response.read().decode().splitlines() if line.startswith("data: ")
    ]
    connection.close()
    assert states[-1]["state"] == "done" and states[-1]["iteration"] == 4
    assert len({json.dumps(s) for s in states}) == len(states)  # sent at each change only
    other = send(server, "GET", f"/api/jobs/{answer['id']}/events")  # another session's
    assert other[0] == 404


def test_style_weights_that_overflow_together_are_refused(serve: Callable[[Limits], Server]) -> None:
    """Two weights of 1e308 are each finite, but their sum is not: the blend would be no style."""
    server = serve(Limits())
    styles = [
        {"image": "example:swirls.png", "weight": 1e308},
        {"image": "example:chelsea.png", "weight": 1e308},
    ]
    job = {"content": "example:chelsea.png", "styles": styles, "options": {"size": 48}}
    headers = {"X-Impasto-Token": token(server), "Content-Type": "application/json"}
    status, answer, _ = send(server, "POST", "/api/jobs", json.dumps(job).encode(), headers)
    assert status == 400 and "style_blend" in answer["error"], answer


@pytest.mark.slow
def test_a_burst_of_connections_from_one_client_stays_within_its_bound(
    serve: Callable[[Limits], Server],
) -> None:
    """100 connections opened at once by one address, its bound 8: the replaced or refused ones are
    counted out as soon as they are closed, so at most 8 stay open; once those have been quiet a while,
    a request of the same address replaces one and is served."""
    server = serve(Limits(per_client=8, idle_timeout=60))
    address, port = server.server_address
    burst = [socket.create_connection((address, port), timeout=30) for _ in range(100)]
    try:
        time.sleep(1.5)  # those let in through the reserve, silent, are cut after connections.QUIET
        still_open = 0
        for connection in burst:  # closed at once (replaced, or refused with a 503), or still open
            connection.setblocking(False)
            try:
                answer = connection.recv(4096)
                if answer.startswith(b"HTTP/1.1 503"):
                    answer = b"" if connection.recv(4096) == b"" else answer
                if answer != b"":
                    still_open += 1
            except BlockingIOError:
                still_open += 1  # nothing to read and not closed
            except OSError:
                pass
        assert still_open <= 8, still_open
        time.sleep(0.5)
        assert send(server, "GET", "/api/setup")[0] == 200
    finally:
        for connection in burst:
            connection.close()


class Trickling:
    """``count`` connections from ``source`` that each send a request's headers a byte every
    ``every`` s (never quiet for a second), each reopened when the server closes it."""

    def __init__(self, server: Server, source: str, count: int, every: float = 0.2) -> None:
        self.server, self.source, self.count, self.every = server, source, count, every
        self.cut = 0  # connections the server closed
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self) -> socket.socket:
        return socket.create_connection(self.server.server_address, 10, source_address=(self.source, 0))

    def _run(self) -> None:
        port = self.server.server_address[1]
        head = f"GET /api/setup HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Pad: {'p' * 400}\r\n\r\n".encode()
        held = [self._open() for _ in range(self.count)]
        sent = [0] * self.count
        while not self.stop.wait(self.every):
            for i, raw in enumerate(held):
                try:
                    raw.setblocking(False)
                    closed = raw.recv(4096) == b""
                except BlockingIOError:
                    closed = False
                except OSError:
                    closed = True
                if not closed:
                    try:
                        raw.send(head[sent[i] % len(head) : sent[i] % len(head) + 1])
                        sent[i] += 1
                        continue
                    except OSError:
                        pass
                self.cut += 1
                raw.close()
                with contextlib.suppress(OSError):
                    held[i], sent[i] = self._open(), 0
        for raw in held:
            raw.close()

    def __enter__(self) -> Trickling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.slow
def test_connections_trickling_headers_never_lock_a_browser_out(serve: Callable[[Limits], Server]) -> None:
    """A client's connections at its bound, each sending a byte of its headers every 0.2 s (never
    quiet, so 1.5 let none be replaced: 42 of 43 GETs were 503), give way to its new requests: each
    is served at once, because headers that take over a second are no progress whatever their pace."""
    server = serve(Limits(per_client=8, request_timeout=60, idle_timeout=60))
    with Trickling(server, "127.0.0.1", 8) as flood:
        time.sleep(1.5)
        for _ in range(5):
            start = time.monotonic()
            assert send(server, "GET", "/api/setup")[0] == 200
            assert time.monotonic() - start < 1
            time.sleep(0.5)  # the flood sees its connection cut, and opens another: at its bound again
        assert flood.cut >= 5


@pytest.mark.slow
def test_many_addresses_of_one_network_share_one_bound_and_the_server_its_total(
    serve: Callable[[Limits], Server],
) -> None:
    """Four addresses of 127.0.0.0/24 trickling at their own bounds hold at most ``per_range`` together,
    and a browser of that network still gets in (1.5: from 8 addresses × 64 every GET was 503); an
    address of another network fills the server's total and a newcomer elsewhere replaces one of it."""
    server = serve(Limits(per_client=8, per_range=12, max_connections=20, request_timeout=60))
    floods = [Trickling(server, f"127.0.0.{i}", 8) for i in (2, 3, 4, 5)]
    try:
        time.sleep(2.0)
        assert sum(f.cut for f in floods) >= 32 - 12  # the range's bound cut the rest
        for _ in range(3):
            assert send(server, "GET", "/api/setup")[0] == 200
    finally:
        for flood in floods:
            flood.__exit__()
    idle = [
        socket.create_connection(server.server_address, 10, source_address=("127.0.1.2", 0)) for _ in range(8)
    ]
    try:
        with Trickling(server, "127.0.2.2", 8):  # another network: the server's total of 20 reached
            time.sleep(1.5)
            assert send(server, "GET", "/api/setup")[0] == 200
    finally:
        for raw in idle:
            raw.close()


@pytest.mark.slow
def test_a_newcomer_finds_a_reserve_where_no_connection_is_stalled(
    serve: Callable[..., Server],
) -> None:
    """A client whose every connection is being answered (here a progress stream of a long job)
    still gets a request in through the reserve; a newcomer that sends nothing there is cut after
    QUIET (not at the idle deadline), one whose first bytes are a trickle at once."""
    server = serve(Limits(per_client=1, idle_timeout=60))
    address, port = server.server_address
    headers = {"X-Impasto-Token": token(server), "Content-Type": "application/json"}
    job = {
        "content": "example:chelsea.png",
        "styles": [{"image": "example:swirls.png"}],
        "options": {"size": 48, "iterations": 2000, "precision": "fp32"},
    }
    status, answer, response = send(server, "POST", "/api/jobs", json.dumps(job).encode(), headers)
    assert status == 202, answer
    cookie = session_cookie(response)
    stream = http.client.HTTPConnection(address, port, timeout=30)
    try:
        stream.request("GET", f"/api/jobs/{answer['id']}/events", headers={"Cookie": cookie})
        assert stream.getresponse().status == 200  # being answered for as long as the job runs
        time.sleep(1.2)
        assert send(server, "GET", "/api/setup")[0] == 200
        silent = socket.create_connection((address, port), timeout=30)
        start = time.monotonic()
        assert silent.recv(4096) == b"" and time.monotonic() - start < 5
        silent.close()
        with socket.create_connection((address, port), timeout=30) as trickler:
            trickler.sendall(b"G")  # a trickle's first byte: cut at once, not after a second
            start = time.monotonic()
            assert trickler.recv(4096) == b"" and time.monotonic() - start < 0.5
    finally:
        stop = {"X-Impasto-Token": headers["X-Impasto-Token"], "Cookie": cookie}
        send(server, "POST", f"/api/jobs/{answer['id']}/stop", headers=stop)
        stream.close()


@pytest.mark.slow
def test_a_huge_content_length_buys_no_more_time_than_the_largest_body_read(
    serve: Callable[[Limits], Server],
) -> None:
    """Content-Length 2**40 and then silence: closed within the deadline of the largest body the server
    would read (here 1 s + 64 KiB at the slowest rate), not in 48 days."""
    server = serve(Limits(request_timeout=1.0, max_upload_bytes=2**16))
    address, port = server.server_address
    with socket.create_connection((address, port), timeout=30) as raw:
        raw.sendall(
            f"POST /api/uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {2**40}\r\n"
            f"X-Impasto-Token: {token(server)}\r\n\r\n0123".encode()
        )
        start = time.monotonic()
        data = raw.recv(4096)
        while data and not data.endswith(b"}"):  # a 413 may come first; then the close
            data = raw.recv(4096)
        assert raw.recv(4096) == b"" and time.monotonic() - start < 10


@pytest.mark.skipif(os.name != "posix", reason="process ids are asked after on POSIX")
def test_a_new_server_sweeps_the_folders_of_servers_that_were_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` leaves a server's uploads behind; the next server's start removes them, and never
    the folder of a server still running."""
    import tempfile

    from impasto.web.app import App

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = tmp_path / f"impasto-web-{int(ended.stdout)}-abc"
    alive = tmp_path / f"impasto-web-{os.getpid()}-def"
    for folder in (dead, alive):
        (folder / "uploads").mkdir(parents=True)
        (folder / "uploads" / "photo.png").write_bytes(b"a stranger's photo")
    app = App(lambda *args, **kwargs: None)
    try:
        assert not dead.exists() and (alive / "uploads" / "photo.png").is_file()
        assert app.folder.parent == tmp_path and app.folder.name.startswith(f"impasto-web-{os.getpid()}-")
    finally:
        app.close()
    assert not app.folder.exists()
