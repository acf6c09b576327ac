"""Load test of the web app (loopback only, bounded): N concurrent uploads of a short face clip to a
real ``microlens serve`` (gunicorn + embedded Huey worker, real pipeline), then wait for every result.

Records: all accepted, none lost, upload latency, time to result (p50/p95/max), and the server's RSS
(master + worker, sampled every 0.25 s) -> benchmarks/results/load.json.

    .venv/bin/python benchmarks/load.py [--uploads 20] [--seconds 2] [--workers 1] [--timeout 900]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
            method: str = "GET", timeout: float = 60) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def upload(base: str, clip: bytes, name: str) -> tuple[int, Any]:
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    body = head + clip + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return request(base + "/api/analyses", body, headers, "POST", timeout=120)


def tree_rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children (MB), from /proc."""
    total = 0
    pids = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(k) for k in kids]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=2.0, help="clip length")
    ap.add_argument("--workers", type=int, default=1, help="embedded queue worker threads")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "load.json"))
    args = ap.parse_args(argv)

    from test_web_clips import face_clip

    load_before = os.getloadavg()[0]  # other work on the machine slows the jobs: recorded
    work = Path(tempfile.mkdtemp(prefix="microlens-load-"))
    clip_path = face_clip(work / "clip.mp4", seconds=args.seconds, fps=30.0, size=(320, 240), micro_at=(0.8,))
    clip = clip_path.read_bytes()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MICROLENS_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO),
           "MICROLENS_WORKERS": str(args.workers), "MICROLENS_MAX_QUEUE": str(max(50, args.uploads))}
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "microlens", "serve", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rss: list[float] = []
    stop = threading.Event()
    try:
        deadline = time.time() + 60
        while True:
            try:
                if request(base + "/api/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not start; see " + str(work / "server.log"))
            time.sleep(0.2)
        idle_rss = tree_rss_mb(server.pid)

        def sample() -> None:
            while not stop.is_set():
                rss.append(tree_rss_mb(server.pid))
                stop.wait(0.25)

        threading.Thread(target=sample, daemon=True).start()
        t0 = time.monotonic()
        sent: dict[str, float] = {}
        upload_s: list[float] = []
        rejected: list[Any] = []

        def one(i: int) -> None:
            a = time.monotonic()
            status, body = upload(base, clip, f"load-{i}.mp4")
            upload_s.append(time.monotonic() - a)
            if status == 202:
                sent[body["id"]] = a
            else:
                rejected.append((status, body))

        with ThreadPoolExecutor(max_workers=args.uploads) as pool:
            list(pool.map(one, range(args.uploads)))
        finished: dict[str, tuple[str, float]] = {}
        rss_by_done: dict[int, float] = {}  # jobs finished -> server RSS then: flat means bounded
        end = time.monotonic() + args.timeout
        while len(finished) < len(sent) and time.monotonic() < end:
            for aid in sent:
                if aid in finished:
                    continue
                _, s = request(f"{base}/api/analyses/{aid}")
                if s.get("status") in ("done", "failed", "cancelled"):
                    finished[aid] = (s["status"], time.monotonic() - sent[aid])
                    if len(finished) % 5 == 0 or len(finished) == 1:
                        rss_by_done[len(finished)] = round(tree_rss_mb(server.pid), 1)
            time.sleep(0.5)
        wall = time.monotonic() - t0
        _, listing = request(f"{base}/api/analyses?limit=1000")
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    times = [t for st, t in finished.values() if st == "done"]
    result = {
        "uploads": args.uploads,
        "clip": {"seconds": args.seconds, "size": [320, 240], "fps": 30, "bytes": len(clip)},
        "queue_workers": args.workers,
        "accepted": len(sent),
        "rejected": len(rejected),
        "completed": sum(1 for st, _ in finished.values() if st == "done"),
        "failed": sum(1 for st, _ in finished.values() if st != "done"),
        "lost": len(sent) - len(finished),
        "listed": len(listing.get("analyses", [])),
        "upload_s": {"p50": round(percentile(upload_s, 0.5), 3), "p95": round(percentile(upload_s, 0.95), 3),
                     "max": round(max(upload_s), 3)},
        "time_to_result_s": {"p50": round(percentile(times, 0.5), 2),
                             "p95": round(percentile(times, 0.95), 2),
                             "max": round(max(times), 2) if times else None},
        "wall_s": round(wall, 1),
        "throughput_videos_per_min": round(60 * len(times) / wall, 2) if wall else None,
        "server_rss_mb": {"idle": round(idle_rss, 1), "max": round(max(rss), 1) if rss else None,
                          "last": round(rss[-1], 1) if rss else None, "by_jobs_finished": rss_by_done},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_after": round(os.getloadavg()[0], 2)},
        "errors": [b.get("error") for _, b in rejected][:5] +
                  [f"{aid}: {st}" for aid, (st, _) in finished.items() if st != "done"][:5],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = result["completed"] == args.uploads and result["lost"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
