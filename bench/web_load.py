"""Many people at once: N concurrent browser sessions against ``impasto serve`` on 127.0.0.1.

    python bench/web_load.py                    # 20 sessions, 64 px, 20 iterations each
    python bench/web_load.py --sessions 20 --size 96 --iterations 30 --max-waiting 16
    python bench/web_load.py --max-waiting 20 --attacker   # the same, while a hostile page floods it

Starts the server as a subprocess (the real command, its own process, so its memory is its own), then
each session — its own cookie jar, in its own thread — uploads its own content image (a random pattern
nobody else has), starts a job, polls it to the end and downloads the result. Checked for every
session: the job finished or was refused with a message; the result has the size asked for and is
its own image (it correlates best with its own content, not another's); another session's job and
result answer 404. The server's
resident memory is sampled throughout. Every loop is bounded in count and time. Not a test: a report.

``--attacker``: meanwhile, threads do what a hostile web page open in the user's browser can make it
send — cross-site job and upload POSTs (text/plain, no token), cookieless page loads in a loop (each a
new session), requests under a rebinding Host name — and one holds hundreds of connections open
without a word. Reported: what the attacker got (every answer's status), and whether every real
session was still served.
"""

from __future__ import annotations

import argparse
import colorsys
import http.cookiejar
import io
import json
import os
import socket
import subprocess
import sys
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
    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.token = ""  # the page's token, which every POST carries (as the page does)
        self.token = json.loads(self.call("GET", "/api/setup")[1])["token"]

    def call(
        self, method: str, path: str, body: bytes | None = None, kind: str = "application/json"
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": kind, "X-Impasto-Token": self.token}
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def one_session(
    index: int, count: int, base: str, args: argparse.Namespace, jobs: dict[int, str], outcome: Outcome
) -> None:
    session = Session(base)
    start = time.monotonic()
    try:
        buffer = io.BytesIO()
        content_image(index, count).save(buffer, format="PNG")
        status, body = session.call("POST", "/api/uploads", buffer.getvalue(), "image/png")
        if status != 200:
            outcome.state, outcome.message = "upload refused", json.loads(body)["error"]
            return
        upload = json.loads(body)["id"]
        request = {
            "content": upload,
            "styles": [{"image": "example:swirls.png", "weight": 1}],
            # A light style: the result keeps its content's pattern, which tells whose image it is.
            "options": {"size": args.size, "iterations": args.iterations, "style_weight": 0.05},
        }
        status, body = session.call("POST", "/api/jobs", json.dumps(request).encode())
        if status != 202:
            outcome.state, outcome.message = "refused", json.loads(body)["error"]
            return
        job = outcome.job = json.loads(body)["id"]
        jobs[index] = job
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            status, body = session.call("GET", f"/api/jobs/{job}")
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
        outcome.errors.append(repr(error))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--max-waiting", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=900, help="seconds a session waits at most")
    parser.add_argument("--attacker", action="store_true", help="a hostile page floods the server meanwhile")
    parser.add_argument("--idle-connections", type=int, default=300, help="held open by the attacker")
    args = parser.parse_args()

    port = free_port()
    command = [sys.executable, "-m", "impasto.cli", "serve", "--port", str(port), "--device", "cpu"]
    command += ["--max-waiting", str(args.max_waiting)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        idle = rss_mb(server.pid)
        samples: list[float] = []
        outcomes = [Outcome(i) for i in range(args.sessions)]
        jobs: dict[int, str] = {}
        threads = [
            threading.Thread(target=one_session, args=(i, args.sessions, base, args, jobs, outcomes[i]))
            for i in range(args.sessions)
        ]
        stop = threading.Event()
        attack_statuses: dict[str, int] = {}
        attack_lock = threading.Lock()
        held: list[int] = []
        attackers = []
        if args.attacker:
            attackers = [
                threading.Thread(target=attacker_page, args=(port, stop, attack_statuses, attack_lock))
                for _ in range(4)
            ] + [threading.Thread(target=attacker_idle, args=(port, stop, args.idle_connections, held))]
            for attacker in attackers:
                attacker.start()
            time.sleep(2)  # the flood is on before the first real visit
        start = time.monotonic()
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads) and time.monotonic() - start < args.timeout + 60:
            samples.append(rss_mb(server.pid))
            time.sleep(0.25)
        for thread in threads:
            thread.join(timeout=5)
        wall = time.monotonic() - start
        stop.set()
        for attacker in attackers:
            attacker.join(timeout=60)
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    finished = [o for o in outcomes if o.state == "done"]
    print(f"# {line.strip()}; {common.machine()}")
    result = {
        "sessions": args.sessions,
        "size": args.size,
        "iterations": args.iterations,
        "max_waiting": args.max_waiting,
        "states": states,
        "refusal_messages": sorted({o.message for o in outcomes if "refused" in o.state}),
        "all_finished_or_refused_with_a_message": all(
            o.state == "done" or (o.state == "refused" and o.message) for o in outcomes
        ),
        "results_of_the_right_size": sum(o.right_size for o in finished),
        "results_that_are_their_own_image": sum(o.own_image for o in finished),
        "sessions_that_could_see_another_job": sum(not o.others_hidden for o in finished),
        "deepest_queue_position": max(o.queue_position for o in outcomes),
        "wall_seconds": round(wall, 1),
        "jobs_per_minute": round(len(finished) / wall * 60, 1),
        "server_rss_mb": {
            "idle": round(idle),
            "peak": round(max(samples, default=0)),
            "after": round(after),
        },
        "client_errors": [e for o in outcomes for e in o.errors],
        "attacker": {
            "answers": dict(sorted(attack_statuses.items())),
            "idle_connections_held": max(held, default=0),
        }
        if args.attacker
        else None,
    }
    print(json.dumps(result, indent=1))
    print(f"# kept in {common.record('web_load', result)}")


if __name__ == "__main__":
    main()
