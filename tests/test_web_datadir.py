"""The web app writes only inside its data directory: the analyses' work folders go to
DATA_DIR/tmp/work-<host>, matplotlib's cache to DATA_DIR/cache, and onnxruntime's telemetry files
are not written at all. The real-pipeline test runs one analysis in a fresh process whose HOME,
TMPDIR and working directory are empty folders, and checks that they stay empty."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_web import drain, make_app, upload
from test_web_clips import clip, face_clip, quick_analyzer  # noqa: F401  (clip is a fixture)

from microlens.web.context import runtime

REPO = Path(__file__).resolve().parents[1]


def isolated_env(tmp_path: Path) -> tuple[dict[str, str], list[Path]]:
    """An environment whose HOME, TMPDIR and working directory are fresh empty folders (and no
    XDG or MPLCONFIGDIR variables that would point elsewhere)."""
    folders = [tmp_path / "home", tmp_path / "tmp", tmp_path / "cwd"]
    for f in folders:
        f.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "MPLCONFIGDIR", "ORT_", "MICROLENS_"))}
    env.update(HOME=str(folders[0]), TMPDIR=str(folders[1]), PYTHONPATH=str(REPO))
    return env, folders


def written(folders: list[Path]) -> list[str]:
    return sorted(str(p) for f in folders for p in f.rglob("*"))


def test_the_job_gives_the_analysis_a_work_dir_inside_data_dir(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    seen: list[str] = []
    inner = quick_analyzer()

    def analyzer(path: str, work_dir: str | None = None, **kw: Any) -> Any:
        assert work_dir is not None
        seen.append(work_dir)
        return inner(path, **kw)

    app = make_app(tmp_path, ANALYZER=analyzer)
    c = app.test_client()
    aid = upload(c, clip).get_json()["id"]
    drain(app)
    assert c.get(f"/api/analyses/{aid}").get_json()["status"] == "done"
    root = runtime(app).store.root
    assert len(seen) == 1 and Path(seen[0]).parent == root / "tmp"
    assert Path(seen[0]).name.startswith("work-") and Path(seen[0]).is_dir()


def test_scratch_work_folder_goes_in_work_dir_and_is_removed(tmp_path: Path) -> None:
    from microlens.face.store import WORK_PREFIX, Scratch

    work = tmp_path / "work"
    work.mkdir()
    s = Scratch(None, 30.0, 20, 0, str(work))
    assert Path(s.folder).parent == work and Path(s.folder).name.startswith(f"{WORK_PREFIX}{os.getpid()}-")
    s.close(False)
    assert list(work.iterdir()) == []


def test_purge_keeps_running_work_folders_and_sweeps_dead_ones(tmp_path: Path) -> None:
    from microlens.face.store import WORK_PREFIX
    from microlens.web.storage import Store

    store = Store(tmp_path / "data")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = store.work_dir() / f"{WORK_PREFIX}{os.getpid()}-abc"
    gone = store.work_dir() / f"{WORK_PREFIX}{dead.pid}-abc"
    stray = store.tmp_dir() / "old-upload.part"
    for d in (mine, gone):
        d.mkdir()
        (d / "crops.bin").write_bytes(b"x")
    stray.write_bytes(b"x")
    old = time.time() - 3 * 86400
    for p in (mine, gone, store.work_dir(), stray):
        os.utime(p, (old, old))
    store.purge(86400.0)
    assert mine.is_dir() and not gone.exists() and not stray.exists()


def test_onnxruntime_sessions_write_no_telemetry(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    env, folders = isolated_env(tmp_path)
    onnx = sorted((REPO / "microlens" / "assets").glob("*.onnx"))
    if not onnx:
        pytest.skip("no shipped ONNX model")
    code = f"from microlens.recognize.ortsession import session; session({str(onnx[0])!r}); print('ok')"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=folders[2], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert written(folders) == []


_JOB = """
import io, sys
from pathlib import Path
from microlens.web import create_app
from microlens.web.context import runtime
app = create_app({"DATA_DIR": sys.argv[1], "TESTING": True})
c = app.test_client()
r = c.post("/api/analyses", data={"file": (io.BytesIO(Path(sys.argv[2]).read_bytes()), "face.mp4")},
           content_type="multipart/form-data")
aid = r.get_json()["id"]
runtime(app).queue.drain()
s = c.get(f"/api/analyses/{aid}").get_json()
print(s["status"], s.get("error"))
"""


@pytest.mark.slow
def test_a_real_web_analysis_writes_nothing_outside_data_dir(tmp_path: Path) -> None:
    """One real analysis job (default model, face tracker, H.264 face video) in a fresh process:
    HOME, TMPDIR and the working directory stay empty; DATA_DIR/tmp holds no file afterwards."""
    video = face_clip(tmp_path / "face.mp4", seconds=2.0)
    env, folders = isolated_env(tmp_path)
    data = tmp_path / "data"
    out = subprocess.run([sys.executable, "-c", _JOB, str(data), str(video)], env=env, cwd=folders[2],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[0] == "done", out.stdout + out.stderr[-2000:]
    assert written(folders) == []
    assert [p for p in (data / "tmp").rglob("*") if p.is_file()] == []
    assert (data / "cache" / "matplotlib").is_dir()  # the font cache mediapipe's import makes
