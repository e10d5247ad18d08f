"""Many people at once: N concurrent browser sessions against ``impasto serve`` on 127.0.0.1.

    python bench/web_load.py                    # 20 sessions, 64 px, 20 iterations each
    python bench/web_load.py --sessions 20 --size 96 --iterations 30 --max-waiting 16

Starts the server as a subprocess (the real command, its own process, so its memory is its own), then
each session — its own cookie jar, in its own thread — uploads its own content image (a random pattern
nobody else has), starts a job, polls it to the end and downloads the result. Checked for every
session: the job finished or was refused with a message; the result has the size asked for and is
its own image (it correlates best with its own content, not another's); another session's job and
result answer 404. The server's
resident memory is sampled throughout. Every loop is bounded in count and time. Not a test: a report.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--max-waiting", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=900, help="seconds a session waits at most")
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
        start = time.monotonic()
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads) and time.monotonic() - start < args.timeout + 60:
            samples.append(rss_mb(server.pid))
            time.sleep(0.25)
        for thread in threads:
            thread.join(timeout=5)
        wall = time.monotonic() - start
        after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    states: dict[str, int] = {}
    for outcome in outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    finished = [o for o in outcomes if o.state == "done"]
    print(f"# {line.strip()}; {os.cpu_count()} cpus")
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "size": args.size,
                "iterations": args.iterations,
                "max_waiting": args.max_waiting,
                "states": states,
                "refusal_messages": sorted({o.message for o in outcomes if o.state == "refused"}),
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
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
