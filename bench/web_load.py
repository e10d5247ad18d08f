"""Many people at once: N concurrent browser sessions against ``impasto serve`` on 127.0.0.1.

    python bench/web_load.py                    # 20 sessions, 64 px, 20 iterations each
    python bench/web_load.py --sessions 20 --size 96 --iterations 30 --max-waiting 16
    python bench/web_load.py --max-waiting 20 --attacker   # the same, while a hostile page floods it
    python bench/web_load.py --trickle 600      # the same, while 600 slow clients trickle their headers
    python bench/web_load.py --trickle-body 16  # ... or send whole headers and trickle a long body
    python bench/web_load.py --hold-alive 512   # ... or hold 512 kept-alive connections, each idle

Starts the server as a subprocess (the real command, its own process, so its memory is its own; it is
whichever ``impasto`` this Python imports, so ``PYTHONPATH=/elsewhere/src`` measures another version,
and the report names the one it ran), then each session — its own cookie jar, in its own thread —
uploads its own content image (a random pattern nobody else has), starts a job, polls it to the end and
downloads the result. Checked for every session: the job finished or was refused with a message; the
result has the size asked for and is its own image (it correlates best with its own content, not
another's); another session's job and result answer 404. Every real request is timed (the report:
median, 90th percentile and longest). The server's resident memory and its open sockets are sampled
throughout. Every loop is bounded in count and time (``--timeout``, ``--request-timeout``). Not a test:
a report.

``--attacker``: meanwhile, threads do what a hostile web page open in the user's browser can make it
send — cross-site job and upload POSTs (text/plain, no token), cookieless page loads in a loop (each a
new session), requests under a rebinding Host name — and one holds hundreds of connections open
without a word. Reported: what the attacker got (every answer's status), and whether every real
session was still served.

Floods of slow or idle clients (any combination; each is one thread watching all its connections, and
reopens every connection the server closes or refuses, so the pressure stays on for the whole run; one
refused with a 503 or not accepted waits a second first):

- ``--trickle N``: N connections that each send a request's headers one byte every ``--trickle-every``
  seconds (10 by default), the first byte at once.
- ``--trickle-body N``: N connections that each send an upload's headers whole, with the page's token
  and a Content-Length of ``--trickle-length`` bytes (25 MiB, the largest upload, by default), then its
  body one byte every ``--trickle-every`` seconds.
- ``--hold-alive N``: N kept-alive connections, each having made one GET and then idle (one client
  holding all of the server's connections).

The floods come from 127.0.0.1, the real sessions' own address, unless ``--flood-source`` names another
(``127.0.0.2``: on Linux any 127.x address reaches the server), which makes them another client's, or
several, comma-separated (``127.0.0.2,127.0.0.3``): each address then floods with N connections of
its own (one machine with many addresses, or many machines of one network).

Reported per flood: connections opened; how many the server refused (503) and how many it closed
(without a word, or after answering); the other answers; connection attempts that failed; how many it
held open (sampled); how long a closed one had lived and how old the oldest still open was at the end.
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import dataclasses
import http.cookiejar
import io
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

import common


@dataclass
class Outcome:
    session: int
    state: str = "not started"
    message: str = ""
    seconds: float = 0.0
    queue_position: int = 0
    own_image: bool = False
    right_size: bool = False
    others_hidden: bool = False
    job: str = ""
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, every request that was answered
    statuses: dict[int, int] = field(default_factory=dict)  # every answer's status, counted


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def open_sockets(pid: int) -> int:
    """How many sockets the process has open (its listening socket among them)."""
    count = 0
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:")
    except OSError:
        pass
    return count


def colour(index: int, count: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(index / count, 0.7, 0.8)
    return round(r * 255), round(g * 255), round(b * 255)


def content_image(index: int, count: int) -> Image.Image:
    """Session ``index``'s own picture: its colour, with a coarse random pattern nobody else has."""
    pattern = np.random.default_rng(index).normal(0, 40, (12, 16, 3))
    pixels = np.clip(np.array(colour(index, count)) + pattern, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").resize((128, 96), Image.Resampling.NEAREST)


def whose(image: Image.Image, count: int) -> int:
    """The session whose content image ``image`` correlates with best."""
    result = np.asarray(image.convert("RGB"), dtype=np.float64).ravel()
    result = result - result.mean()
    scores = []
    for index in range(count):
        own = content_image(index, count).resize(image.size, Image.Resampling.BILINEAR)
        pixels = np.asarray(own, dtype=np.float64).ravel()
        pixels = pixels - pixels.mean()
        scores.append(float(result @ pixels / (np.linalg.norm(result) * np.linalg.norm(pixels) + 1e-9)))
    return int(np.argmax(scores))


class Session:
    def __init__(self, base: str, outcome: Outcome, timeout: float) -> None:
        self.base = base
        self.outcome = outcome
        self.timeout = timeout
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.token = ""  # the page's token, which every POST carries (as the page does)

    def setup(self) -> tuple[int, bytes]:
        status, body = self.call("GET", "/api/setup")
        if status == 200:
            self.token = json.loads(body)["token"]
        return status, body

    def call(
        self, method: str, path: str, body: bytes | None = None, kind: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": kind, "X-Impasto-Token": self.token}
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        start = time.monotonic()
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, answer = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        self.outcome.latencies.append(time.monotonic() - start)
        self.outcome.statuses[status] = self.outcome.statuses.get(status, 0) + 1
        return status, answer


def _error(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:80].decode("latin-1")


def one_session(
    index: int, count: int, base: str, args: argparse.Namespace, jobs: dict[int, str], outcome: Outcome
) -> None:
    session = Session(base, outcome, args.request_timeout)
    start = time.monotonic()
    try:
        outcome.state = "setting up"
        status, body = session.setup()
        if status != 200:
            outcome.state, outcome.message = "refused", _error(body)
            return
        outcome.state = "uploading"
        buffer = io.BytesIO()
        content_image(index, count).save(buffer, format="PNG")
        status, body = session.call("POST", "/api/uploads", buffer.getvalue(), "image/png")
        if status != 200:
            outcome.state, outcome.message = "upload refused", _error(body)
            return
        upload = json.loads(body)["id"]
        request = {
            "content": upload,
            "styles": [{"image": "example:swirls.png", "weight": 1}],
            # A light style: the result keeps its content's pattern, which tells whose image it is.
            "options": {"size": args.size, "iterations": args.iterations, "style_weight": 0.05},
        }
        outcome.state = "starting"
        status, body = session.call("POST", "/api/jobs", json.dumps(request).encode())
        if status != 202:
            outcome.state, outcome.message = "refused", _error(body)
            return
        job = outcome.job = json.loads(body)["id"]
        jobs[index] = job
        outcome.state = "polling"
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            status, body = session.call("GET", f"/api/jobs/{job}")
            if status == 200:  # a busy server's 503 is asked again, as the page does
                answer = json.loads(body)
                outcome.queue_position = max(outcome.queue_position, answer.get("position", 0))
                if answer["state"] in ("done", "stopped", "failed"):
                    outcome.state, outcome.message = answer["state"], answer["message"]
                    break
            time.sleep(0.5)
        else:
            outcome.state = "timed out"
            return
        status, png = session.call("GET", f"/api/jobs/{job}/result")
        if status == 200:
            image = Image.open(io.BytesIO(png)).convert("RGB")
            outcome.right_size = max(image.size) == args.size
            outcome.own_image = whose(image, count) == index
        # Everybody else's jobs must be invisible to this session.
        others = [j for i, j in list(jobs.items()) if i != index]
        outcome.others_hidden = all(
            session.call("GET", f"/api/jobs/{other}{suffix}")[0] == 404
            for other in others
            for suffix in ("", "/result")
        )
    except Exception as error:
        outcome.errors.append(f"{outcome.state}: {error!r}")
        outcome.state = f"failed while {outcome.state}"
    finally:
        outcome.seconds = time.monotonic() - start


ATTACK_JOB = json.dumps(
    {"content": "example:chelsea.png", "styles": [{"image": "example:swirls.png"}], "options": {"size": 64}}
).encode()


def attacker_page(port: int, stop: threading.Event, statuses: dict[str, int], lock: threading.Lock) -> None:
    """What a hostile page can make a browser send, in a loop until ``stop``."""
    import http.client

    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    requests = [
        ("POST", "/api/jobs", ATTACK_JOB, {"Host": f"127.0.0.1:{port}", **evil}),
        ("POST", "/api/uploads", os.urandom(2**20), {"Host": f"127.0.0.1:{port}", **evil}),
        ("GET", "/", b"", {"Host": f"127.0.0.1:{port}"}),  # a cookieless visit: a new session
        ("GET", "/api/setup", b"", {"Host": f"evil.example:{port}"}),  # DNS rebinding
        ("POST", "/api/jobs", ATTACK_JOB, {"Host": f"evil.example:{port}", "Content-Type": "text/plain"}),
    ]
    index = 0
    while not stop.is_set():
        method, path, body, headers = requests[index % len(requests)]
        index += 1
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            kind = (
                "rebound" if "evil" in headers["Host"] else "cross-site" if "Origin" in headers else "plain"
            )
            key = f"{method} {path} {kind}: {response.status}"
            connection.close()
        except OSError as error:
            key = f"{method} {path}: {type(error).__name__}"
        with lock:
            statuses[key] = statuses.get(key, 0) + 1


def attacker_idle(port: int, stop: threading.Event, count: int, held: list[int]) -> None:
    """``count`` connections held open without a word, reopened as the server closes them."""
    connections: list[socket.socket] = []
    while not stop.is_set():
        connections = [c for c in connections if not _closed(c)]
        while len(connections) < count and not stop.is_set():
            try:
                connections.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        held.append(len(connections))
        time.sleep(0.5)
    for connection in connections:
        connection.close()


def _closed(connection: socket.socket) -> bool:
    connection.setblocking(False)
    try:
        data = connection.recv(1, socket.MSG_PEEK)
        return data == b"" or data.startswith(b"H")  # closed, or a 503 before closing
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        connection.setblocking(True)


# -- floods of slow and idle clients ---------------------------------------------------------------------

TICK = 0.2  # seconds between a flood's looks at its connections
RETRY = 1.0  # seconds a slot waits after a 503 or a failed connection attempt


@dataclass
class Flood:
    """One kind of slow or idle client (``kind``: trickle, trickle-body, hold-alive), ``count`` of them,
    and what the server did to their connections."""

    kind: str
    count: int
    source: str  # the address its connections come from
    opened: int = 0
    refused_503: int = 0  # answered 503 (busy), then closed
    closed_silently: int = 0  # closed before any answer: a deadline, or room made for another
    closed_after_answer: int = 0  # closed after answering its request (idle, or an error status)
    completed: int = 0  # trickled requests sent whole (then closed here and reopened)
    connect_failures: int = 0  # the connection could not be made (refused, timed out)
    answers: dict[str, int] = field(default_factory=dict)  # every status it answered with
    lifetimes: list[float] = field(default_factory=list)  # seconds each closed connection had lived
    held: list[int] = field(default_factory=list)  # connections open, sampled every tick
    oldest_open: float = 0.0  # age of the oldest connection still open at the end

    def report(self) -> dict[str, object]:
        lives = sorted(self.lifetimes)
        return {
            "connections": self.count,
            "opened": self.opened,
            "refused_503": self.refused_503,
            "closed_silently": self.closed_silently,
            "closed_after_answer": self.closed_after_answer,
            "answers": dict(sorted(self.answers.items())),
            "completed_requests": self.completed,
            "connect_failures": self.connect_failures,
            "held": {
                "median": statistics.median(self.held) if self.held else 0,
                "min": min(self.held, default=0),
                "max": max(self.held, default=0),
            },
            "closed_after_s": {
                "median": round(statistics.median(lives), 1) if lives else None,
                "max": round(lives[-1], 1) if lives else None,
            },
            "oldest_open_at_end_s": round(self.oldest_open, 1),
        }


@dataclass
class Slot:
    """One of a flood's connections."""

    sock: socket.socket
    opened: float
    request: bytes  # what it sends, a byte at a time (trickle) or at once
    body: int = 0  # body bytes to trickle after ``request`` (trickle-body)
    sent: int = 0
    next_send: float = 0.0
    status: str = ""  # the status line's code, once an answer has come


def flood(
    flood_: Flood, port: int, token: str, args: argparse.Namespace, stop: threading.Event, until: float
) -> None:
    """Keep ``flood_.count`` connections of its kind open (from ``--flood-source``) until ``stop`` (or
    ``until``, a monotonic time), reopening each one the server closes."""
    source, every, length = flood_.source, args.trickle_every, args.trickle_length
    host = f"Host: 127.0.0.1:{port}\r\n"
    if flood_.kind == "trickle":
        request = (
            f"GET /api/setup HTTP/1.1\r\n{host}User-Agent: trickle\r\nX-Pad: {'a' * 200}\r\n\r\n"
        ).encode()
    elif flood_.kind == "trickle-body":
        request = (
            f"POST /api/uploads HTTP/1.1\r\n{host}Content-Type: image/png\r\nX-Impasto-Token: {token}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
    else:
        request = f"GET /api/setup HTTP/1.1\r\n{host}Connection: keep-alive\r\n\r\n".encode()
    slots: list[Slot | float] = [0.0] * flood_.count  # a connection, or when to open one
    selector = selectors.DefaultSelector()

    def hang_up(index: int, slot: Slot, now: float, retry: float) -> None:
        selector.unregister(slot.sock)
        slot.sock.close()
        slots[index] = retry
        flood_.lifetimes.append(now - slot.opened)

    while not stop.is_set() and time.monotonic() < until:
        for key, _ in selector.select(TICK):
            index = key.data
            slot = slots[index]
            assert isinstance(slot, Slot)
            try:
                data = slot.sock.recv(2**16)
            except OSError:
                data = b""
            now = time.monotonic()
            if data and not slot.status:
                slot.status = data[9:12].decode("latin-1") if data.startswith(b"HTTP/") else "?"
                flood_.answers[slot.status] = flood_.answers.get(slot.status, 0) + 1
            if not data:  # the server closed it
                if slot.status == "503":
                    flood_.refused_503 += 1
                elif slot.status:
                    flood_.closed_after_answer += 1
                else:
                    flood_.closed_silently += 1
                hang_up(index, slot, now, now + (RETRY if slot.status == "503" else 0.0))
        now = time.monotonic()
        for index, slot in enumerate(slots):  # the trickles: a byte each, when its time has come
            if not isinstance(slot, Slot) or flood_.kind == "hold-alive" or slot.next_send > now:
                continue
            if slot.sent >= len(slot.request) + slot.body:
                flood_.completed += 1
                hang_up(index, slot, now, now)
                continue
            byte = slot.request[slot.sent : slot.sent + 1] if slot.sent < len(slot.request) else b"\0"
            with contextlib.suppress(OSError):  # closed by the server: the selector says so
                slot.sock.send(byte)
                slot.sent += 1
            slot.next_send = now + every
        for index, slot in enumerate(slots):  # reopen, within the tick
            if isinstance(slot, Slot) or slot > now:
                continue
            if stop.is_set() or time.monotonic() - now > TICK:
                break
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2, source_address=(source, 0))
            except OSError:
                flood_.connect_failures += 1
                slots[index] = time.monotonic() + RETRY
                continue
            sock.setblocking(False)
            flood_.opened += 1
            opened = Slot(sock, time.monotonic(), request)
            if flood_.kind == "trickle-body":
                opened.body = length
            if flood_.kind != "trickle":  # the headers (hold-alive: the whole request) at once
                with contextlib.suppress(OSError):  # closed at once: a 503 is read above
                    opened.sent = sock.send(request)
            opened.next_send = time.monotonic()
            slots[index] = opened
            selector.register(sock, selectors.EVENT_READ, index)
        flood_.held.append(sum(isinstance(slot, Slot) for slot in slots))
    now = time.monotonic()
    for slot in slots:
        if isinstance(slot, Slot):
            flood_.oldest_open = max(flood_.oldest_open, now - slot.opened)
            slot.sock.close()
    selector.close()


def which_impasto() -> tuple[str, str]:
    """The file of the ``impasto`` package the server's command imports (this environment's), and the
    commit of the checkout it is in."""
    command = [sys.executable, "-c", "import impasto; print(impasto.__file__)"]
    try:
        where = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout.strip()
        commit = subprocess.run(
            ["git", "-C", os.path.dirname(where) or ".", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        return repr(error), ""
    return where, commit


def spread(values: list[float]) -> dict[str, float | None]:
    """Median, 90th percentile and the largest of ``values`` (seconds), rounded."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--max-waiting", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=900, help="seconds a session waits at most")
    parser.add_argument(
        "--request-timeout", type=float, default=60, help="seconds one real request waits for its answer"
    )
    parser.add_argument("--attacker", action="store_true", help="a hostile page floods the server meanwhile")
    parser.add_argument("--idle-connections", type=int, default=300, help="held open by the attacker")
    parser.add_argument("--trickle", type=int, default=0, metavar="N", help="slow clients trickling headers")
    parser.add_argument(
        "--trickle-body", type=int, default=0, metavar="N", help="slow clients trickling an upload's body"
    )
    parser.add_argument("--trickle-every", type=float, default=10.0, help="seconds between trickled bytes")
    parser.add_argument(
        "--trickle-length", type=int, default=25 * 2**20, help="the Content-Length --trickle-body declares"
    )
    parser.add_argument("--hold-alive", type=int, default=0, metavar="N", help="idle kept-alive connections")
    parser.add_argument(
        "--flood-source",
        default="127.0.0.1",
        help="the floods' address (127.0.0.2: another client than the real sessions; Linux loopback), "
        "or several, comma-separated, each flooding with as many connections",
    )
    args = parser.parse_args()

    port = free_port()
    impasto_file, impasto_commit = which_impasto()
    ended = threading.Event()  # SIGTERM (from ``timeout``, say): stop waiting, report what there is
    signal.signal(signal.SIGTERM, lambda signum, frame: ended.set())
    command = [sys.executable, "-m", "impasto.cli", "serve", "--port", str(port), "--device", "cpu"]
    command += ["--max-waiting", str(args.max_waiting), "--no-outputs"]  # no results left behind
    with tempfile.TemporaryFile(mode="w+") as errors:  # what the server says there, read after
        # Its own session: a signal to this process group (``timeout``, Ctrl-C) reaches only this script,
        # which stops the server itself once it has taken its figures.
        server = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=errors, text=True, start_new_session=True
        )
        stop = threading.Event()
        attackers: list[threading.Thread] = []
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            # Whatever else it prints is read, so that a full pipe never stops it.
            threading.Thread(target=server.stdout.read, daemon=True).start()
            base = f"http://127.0.0.1:{port}"
            idle = rss_mb(server.pid)
            samples: list[float] = []
            sockets: list[int] = []
            outcomes = [Outcome(i) for i in range(args.sessions)]
            jobs: dict[int, str] = {}
            threads = [
                threading.Thread(
                    target=one_session, args=(i, args.sessions, base, args, jobs, outcomes[i]), daemon=True
                )
                for i in range(args.sessions)
            ]
            attack_statuses: dict[str, int] = {}
            attack_lock = threading.Lock()
            held: list[int] = []
            if args.attacker:
                attackers = [
                    threading.Thread(
                        target=attacker_page, args=(port, stop, attack_statuses, attack_lock), daemon=True
                    )
                    for _ in range(4)
                ] + [
                    threading.Thread(
                        target=attacker_idle, args=(port, stop, args.idle_connections, held), daemon=True
                    )
                ]
            floods = [
                Flood(kind, count, source)
                for kind, count in (
                    ("trickle", args.trickle),
                    ("trickle-body", args.trickle_body),
                    ("hold-alive", args.hold_alive),
                )
                if count > 0
                for source in args.flood_source.split(",")
            ]
            if floods:
                with urllib.request.urlopen(base + "/api/setup", timeout=30) as response:
                    token = json.loads(response.read())["token"]  # what a script on this machine can read
                until = time.monotonic() + args.timeout + 120
                attackers += [
                    threading.Thread(
                        target=flood,
                        args=(f, port, token, args, stop, until),
                        daemon=True,
                    )
                    for f in floods
                ]
            for attacker in attackers:
                attacker.start()
            if attackers:
                time.sleep(2)  # the flood is on before the first real visit
            start = time.monotonic()
            for thread in threads:
                thread.start()
            while (
                any(t.is_alive() for t in threads)
                and time.monotonic() - start < args.timeout + 60
                and not ended.is_set()
            ):
                samples.append(rss_mb(server.pid))
                sockets.append(open_sockets(server.pid))
                ended.wait(0.25)
            last = time.monotonic() + 5
            for thread in threads:
                thread.join(timeout=max(0.0, last - time.monotonic()))
            # As they are now: a session still running must not be reported as failing once the server stops.
            outcomes = [
                dataclasses.replace(
                    o, errors=list(o.errors), latencies=list(o.latencies), statuses=dict(o.statuses)
                )
                for o in outcomes
            ]
            wall = time.monotonic() - start
            stop.set()
            for attacker in attackers:
                attacker.join(timeout=60)
            after = rss_mb(server.pid)
            alive = server.poll() is None
        finally:
            stop.set()
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=30)
        errors.seek(0)
        stderr_lines = errors.read().splitlines()
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    finished = [o for o in outcomes if o.state == "done"]
    statuses: dict[int, int] = {}
    for outcome in outcomes:
        for status, count in outcome.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    print(f"# {line.strip()}; {common.machine()}")
    print(f"# impasto imported from {impasto_file} (commit {impasto_commit})")
    result = {
        "impasto": impasto_file,
        "impasto_commit": impasto_commit,
        "command": " ".join(sys.argv[1:]),
        "sessions": args.sessions,
        "size": args.size,
        "iterations": args.iterations,
        "max_waiting": args.max_waiting,
        "states": states,
        "refusal_messages": sorted({o.message for o in outcomes if "refused" in o.state}),
        "all_finished_or_refused_with_a_message": all(
            o.state == "done" or ("refused" in o.state and o.message) for o in outcomes
        ),
        "results_of_the_right_size": sum(o.right_size for o in finished),
        "results_that_are_their_own_image": sum(o.own_image for o in finished),
        "sessions_that_could_see_another_job": sum(not o.others_hidden for o in finished),
        "deepest_queue_position": max(o.queue_position for o in outcomes),
        "wall_seconds": round(wall, 1),
        "jobs_per_minute": round(len(finished) / wall * 60, 1),
        "real_requests": {
            "answered": sum(len(o.latencies) for o in outcomes),
            "statuses": dict(sorted(statuses.items())),
            "latency_s": spread([s for o in outcomes for s in o.latencies]),
        },
        "server_rss_mb": {
            "idle": round(idle),
            "peak": round(max(samples, default=0)),
            "after": round(after),
        },
        "server_sockets": {
            "median": statistics.median(sockets) if sockets else 0,
            "peak": max(sockets, default=0),
        },
        "server_alive_at_end": alive,
        "ended_by_sigterm": ended.is_set(),
        "server_stderr": {"lines": len(stderr_lines), "last": stderr_lines[-3:]},
        "client_errors": [e for o in outcomes for e in o.errors],
        "attacker": {
            "answers": dict(sorted(attack_statuses.items())),
            "idle_connections_held": max(held, default=0),
        }
        if args.attacker
        else None,
        "floods": {f"{f.kind} from {f.source}": f.report() for f in floods} or None,
    }
    print(json.dumps(result, indent=1))
    print(f"# kept in {common.record('web_load', result)}")


if __name__ == "__main__":
    main()
