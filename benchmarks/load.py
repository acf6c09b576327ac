"""Load test of the web app (loopback only, bounded): N concurrent uploads of real clips of mixed sizes
to a real ``microlens serve`` (gunicorn + embedded Huey worker, real pipeline), then wait for every
result; then a second wave of M more, to see whether the server's memory creeps up with the number of
jobs.

The clips (``--clips real``, the default): every real clip the project has (``make clips`` into
.cache/clips, and $MICROLENS_SHARED/videos and /realclips where present) plus a generated multi-MB
clip (tests/media.py make_large_face), each uploaded at least once, cycled to fill the waves.
``--clips synthetic`` uploads one generated 2 s face clip (``--seconds``) instead.

Records: all accepted, none lost, upload latency, time to result (p50/p95/max) of the first wave, the
server's RSS (master + worker, sampled every 0.25 s), its settled RSS when idle, after N and after N+M
jobs and the growth between the last two (acceptance: under --max-growth-mb), and the machine's load
average (the machine is shared) -> benchmarks/results/load.json. Exit 1 when a job failed or was lost
or the memory grew too much. All traffic goes to 127.0.0.1; at most 600 uploads and --timeout seconds.

    .venv/bin/python benchmarks/load.py [--clips real|synthetic] [--uploads 20] [--more 40] [--workers 1]
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
sys.path.insert(0, str(REPO / "benchmarks"))


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


def settled_rss_mb(pid: int, seconds: float = 2.0) -> float:
    """The server's RSS once the queue is idle: the median of samples over ``seconds``."""
    xs = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        xs.append(tree_rss_mb(pid))
        time.sleep(0.25)
    return percentile(xs, 0.5)


def pick_clips(kind: str, work: Path, seconds: float) -> list[Path]:
    """The clips to upload (see the module docstring), smallest first."""
    from media import make_large_face
    from test_web_clips import face_clip

    if kind == "synthetic":
        return [face_clip(work / "clip.mp4", seconds=seconds, fps=30.0, size=(320, 240), micro_at=(0.8,))]
    from realclips import CACHE

    shared = Path(os.environ.get("MICROLENS_SHARED", REPO.parent / "shared" / "data"))
    videos = (".mp4", ".mov", ".avi", ".webm", ".mkv")
    found = [p for folder in (CACHE, shared / "videos", shared / "realclips") if folder.is_dir()
             for p in sorted(folder.iterdir()) if p.suffix.lower() in videos]
    return sorted([*found, make_large_face(work)], key=lambda p: p.stat().st_size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20, help="first wave: concurrent uploads")
    ap.add_argument("--more", type=int, default=40,
                    help="second wave, sent once the first is done: the RSS after it shows creep")
    ap.add_argument("--clips", choices=("real", "synthetic"), default="real",
                    help="real: every real clip found plus a generated multi-MB one; synthetic: one 2 s clip")
    ap.add_argument("--seconds", type=float, default=2.0, help="synthetic clip length")
    ap.add_argument("--workers", type=int, default=1, help="embedded queue worker threads")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    ap.add_argument("--max-growth-mb", type=float, default=50.0,
                    help="acceptance: RSS growth from the first wave's end to the second's")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "load.json"))
    args = ap.parse_args(argv)
    if not (1 <= args.uploads <= 200 and 0 <= args.more <= 400):
        raise SystemExit("--uploads must be in 1..200 and --more in 0..400")

    load_before = os.getloadavg()[0]  # other work on the machine slows the jobs: recorded
    work = Path(tempfile.mkdtemp(prefix="microlens-load-"))
    clips = pick_clips(args.clips, work, args.seconds)
    if args.clips == "real":
        args.uploads = max(args.uploads, len(clips))  # every real clip at least once
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    total = args.uploads + args.more
    env = {**os.environ, "MICROLENS_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO),
           "MICROLENS_WORKERS": str(args.workers), "MICROLENS_MAX_QUEUE": str(max(50, total))}
    log = (work / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "microlens", "serve", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    rss: list[float] = []
    loads: list[float] = []
    stop = threading.Event()
    end = time.monotonic() + args.timeout  # one budget for both waves
    finished: dict[str, tuple[str, float]] = {}
    names: dict[str, str] = {}  # analysis id -> uploaded file name
    rss_by_done: dict[int, float] = {}  # jobs finished -> server RSS then: flat means bounded

    def wave(first: int, n: int) -> tuple[dict[str, float], list[float], list[Any]]:
        """Upload ``n`` clips at once; wait until each is done, failed or cancelled (or the budget ends)."""
        sent: dict[str, float] = {}
        upload_s: list[float] = []
        rejected: list[Any] = []

        def one(i: int) -> None:
            a = time.monotonic()
            path = clips[i % len(clips)]
            status, body = upload(base, path.read_bytes(), f"{i}-{path.name}")
            upload_s.append(time.monotonic() - a)
            if status == 202:
                sent[body["id"]] = a
            else:
                rejected.append((status, body))

        with ThreadPoolExecutor(max_workers=min(n, 20)) as pool:
            list(pool.map(one, range(first, first + n)))
        while any(aid not in finished for aid in sent) and time.monotonic() < end:
            for aid in sent:
                if aid in finished:
                    continue
                _, s = request(f"{base}/api/analyses/{aid}")
                if s.get("status") in ("done", "failed", "cancelled"):
                    finished[aid] = (s["status"], time.monotonic() - sent[aid])
                    names[aid] = s.get("filename", "")
                    if len(finished) % 5 == 0 or len(finished) == 1:
                        rss_by_done[len(finished)] = round(tree_rss_mb(server.pid), 1)
            time.sleep(0.5)
        return sent, upload_s, rejected

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
        time.sleep(5)  # the model and face tracker warm up in the background after the health check
        idle_rss = settled_rss_mb(server.pid)

        def sample() -> None:
            while not stop.is_set():
                rss.append(tree_rss_mb(server.pid))
                loads.append(os.getloadavg()[0])
                stop.wait(0.25)

        threading.Thread(target=sample, daemon=True).start()
        t0 = time.monotonic()
        sent, upload_s, rejected = wave(0, args.uploads)
        wall = time.monotonic() - t0
        after_first = settled_rss_mb(server.pid)
        t1 = time.monotonic()
        sent2, upload2_s, rejected2 = wave(args.uploads, args.more) if args.more else ({}, [], [])
        wall2 = time.monotonic() - t1
        after_second = settled_rss_mb(server.pid) if args.more else None
        _, listing = request(f"{base}/api/analyses?limit=1000")
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    def tally(ids: dict[str, float]) -> tuple[int, int, int]:
        done = sum(1 for a in ids if a in finished and finished[a][0] == "done")
        lost = sum(1 for a in ids if a not in finished)
        return done, len(ids) - done - lost, lost

    times = [finished[a][1] for a in sent if a in finished and finished[a][0] == "done"]
    done1, failed1, lost1 = tally(sent)
    done2, failed2, lost2 = tally(sent2)
    growth = round(after_second - after_first, 1) if after_second is not None else None
    result = {
        "uploads": args.uploads,
        "clips": [{"name": p.name, "bytes": p.stat().st_size} for p in clips],
        "clips_over_1_mb": sum(p.stat().st_size > 2**20 for p in clips),
        "queue_workers": args.workers,
        "accepted": len(sent),
        "rejected": len(rejected),
        "completed": done1,
        "failed": failed1,
        "lost": lost1,
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
        # memory creep: RSS with the queue idle after the first wave and after the second one
        "rss_mb": {"idle": round(idle_rss, 1), f"after_{args.uploads}": round(after_first, 1),
                   f"after_{total}": round(after_second, 1) if after_second is not None else None,
                   f"growth_{args.uploads}_{total}": growth, "max_growth": args.max_growth_mb,
                   "note": "server tree (master + worker), median over 2 s with the queue idle"},
        "second_wave": {"uploads": args.more, "accepted": len(sent2), "rejected": len(rejected2),
                        "completed": done2, "failed": failed2, "lost": lost2, "wall_s": round(wall2, 1),
                        "upload_s_p95": round(percentile(upload2_s, 0.95), 3) if upload2_s else None},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_during": {"median": round(percentile(loads, 0.5), 2),
                                                 "max": round(max(loads), 2)} if loads else None,
                    "load_average_1min_after": round(os.getloadavg()[0], 2)},
        "errors": [b.get("error") for _, b in rejected + rejected2][:5] +
                  [f"{names.get(aid, aid)}: {st}" for aid, (st, _) in finished.items() if st != "done"][:5],
    }
    # a clip without a face (realclips: no emotions listed) must fail with "no face"; nothing else may
    from realclips import CLIPS

    faceless = {c.name for c in CLIPS if not c.emotions}
    not_done = [(names.get(a, a), st) for a, (st, _) in finished.items() if st != "done"]
    result["expected_failures"] = sorted(n for n, _ in not_done if n.split("-", 1)[-1] in faceless)
    unexpected = [f"{n}: {st}" for n, st in not_done if n.split("-", 1)[-1] not in faceless]
    result["unexpected_failures"] = unexpected
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = not unexpected and lost1 + lost2 == 0 and len(sent) == args.uploads and len(sent2) == args.more
    if growth is not None and growth >= args.max_growth_mb:
        print(f"RSS grew {growth} MB from job {args.uploads} to job {total} (limit {args.max_growth_mb})",
              file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
