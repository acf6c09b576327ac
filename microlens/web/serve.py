"""Serve the web app on gunicorn (WebSockets included) with the embedded Huey queue worker.

``microlens serve`` runs gunicorn's gthread worker (flask-sock WebSockets work on it) and the Huey
consumer in one process tree that stops cleanly on SIGTERM.

    microlens serve [--host 127.0.0.1] [--port 5000]      # what `make serve` runs
    microlens serve --worker-only                          # an extra queue worker (same data dir)

The HTTP worker process also runs the queue consumer (threads), so the recognition model is loaded
once for both the jobs and the live webcam page. On start, analyses that a killed server left
queued or running are put back on the queue. On SIGTERM the running job is handed back to the
queue, and the next start finishes it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from typing import Any

log = logging.getLogger("microlens.web.serve")
_CONSUMERS: dict[int, Any] = {}  # pid -> running consumer


def register(subparsers: Any) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser("serve", help="run the web app and its embedded queue worker",
                              description=__doc__.splitlines()[0])
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The serve flags."""
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    p.add_argument("--threads", type=int, default=16,
                   help="HTTP threads: concurrent requests, uploads and webcam sessions (default: 16)")
    p.add_argument("--workers", type=int, default=None,
                   help="queue worker threads, i.e. analyses run at once (default: $MICROLENS_WORKERS or 1)")
    p.add_argument("--data-dir", default=None, help="data directory (default: $MICROLENS_DATA_DIR or ./data)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--worker-only", action="store_true",
                       help="run only a queue worker (extra workers; use a shared data dir and Redis)")
    group.add_argument("--no-worker", action="store_true",
                       help="serve HTTP only; analyses are run by separate --worker-only processes")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    cfg: dict[str, Any] = {"BIND_HOST": args.host}  # the Host check accepts its name
    if args.data_dir:
        cfg["DATA_DIR"] = args.data_dir
    if args.workers:
        cfg["WORKERS"] = args.workers
    return cfg


def run(args: argparse.Namespace) -> int:
    """Run the server (or a worker) until SIGTERM/SIGINT; exit code 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = _config(args)
    if args.worker_only:
        return run_worker(cfg)
    from gunicorn.app.base import BaseApplication

    from microlens.web.settings import load_settings

    settings = load_settings(cfg)
    embedded = not args.no_worker

    class Server(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}",
                "worker_class": "gthread", "workers": 1, "threads": max(2, args.threads),
                "timeout": 120, "graceful_timeout": 20, "keepalive": 5,
                "accesslog": None, "errorlog": "-", "loglevel": "info",
                "post_worker_init": _start_consumer if embedded else None,
                "worker_exit": _stop_consumer if embedded else None,
                "proc_name": "microlens",
                "control_socket_disable": True,  # no ~/.gunicorn socket shared between servers
            }
            for k, v in options.items():
                if v is not None:
                    self.cfg.set(k, v)

        def load(self) -> Any:
            from microlens.web import create_app

            return create_app(cfg)

    print(f"microlens: serving http://{args.host}:{args.port}  data: {settings.data_dir}  queue: "
          f"{settings.queue_url or 'sqlite'}{'' if embedded else ' (no embedded worker)'}", file=sys.stderr,
          flush=True)
    Server().run()
    return 0


def _start_consumer(worker: Any) -> None:
    """gunicorn hook, in the HTTP worker process: recover lost jobs, start the queue consumer."""
    from microlens.web.context import runtime

    rt = runtime(worker.wsgi)
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))  # leave a core for HTTP and the webcam
    purged = rt.store.purge(rt.settings.retention_s)
    if purged:
        log.info("retention: deleted %d analyses older than %g days", purged, rt.settings.retention_days)
    redo = rt.queue.recover()
    consumer = rt.queue.consumer()
    consumer.start()
    threading.Thread(target=_warm_up, args=(rt,), name="warm-up", daemon=True).start()
    _CONSUMERS[os.getpid()] = (consumer, rt.queue)
    log.info("queue worker started (%s, %d thread(s)); %d analyses resumed", rt.queue.kind,
             rt.settings.workers, len(redo))


def _warm_up(rt: Any) -> None:
    """Load the model and the face tracker in the background, so the first webcam frame and the
    first job do not wait for them."""
    try:
        rt.queue.loader(rt.settings.model)
        import numpy as np

        from microlens.face.track import FaceTracker
        from microlens.video.decode import Frame

        tracker = FaceTracker()
        tracker(Frame(index=0, time_s=0.0, image=np.zeros((120, 160, 3), np.uint8)))
        tracker.close()
    except Exception as e:  # noqa: BLE001 - jobs will report the reason themselves
        log.warning("warm-up failed: %s", e)


def _stop_consumer(server: Any, worker: Any) -> None:
    """gunicorn hook: hand running jobs back to the queue and stop the consumer."""
    got = _CONSUMERS.pop(os.getpid(), None)
    if got is None:
        return
    consumer, queue = got
    queue.stopping.set()
    consumer.shutdown_timeout = 10
    consumer.stop(graceful=True)
    log.info("queue worker stopped")


def run_worker(cfg: dict[str, Any]) -> int:
    """A standalone queue worker (Huey consumer in the main thread, its own signal handling)."""
    from huey.consumer import Consumer

    from microlens.web.queue import Queue
    from microlens.web.settings import load_settings
    from microlens.web.storage import Store, keep_caches_inside

    settings = load_settings(cfg)
    keep_caches_inside(settings.data_dir)
    queue = Queue(settings, Store(settings.data_dir))
    queue.recover()
    print(f"microlens: queue worker on {settings.queue_url or 'sqlite'}  data: {settings.data_dir}  "
          f"threads: {settings.workers}", file=sys.stderr, flush=True)
    consumer = Consumer(queue.huey, workers=settings.workers, worker_type="thread", periodic=True,
                        max_delay=1.0)
    consumer.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m microlens.web.serve``: the same as ``microlens serve``."""
    p = argparse.ArgumentParser(prog="microlens serve", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
