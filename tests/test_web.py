"""Flask test-client tests: every route, every error status, bad uploads, security headers, i18n.

The job machinery is driven synchronously with ``Queue.drain()``. Most tests use the quick analyzer
from test_web_clips (a real Report from the clip's frames); ``test_real_pipeline_end_to_end`` runs
the real microlens.analyze on a synthetic face clip.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_web_clips import clip, face_clip, quick_analyzer  # noqa: F401  (clip is a fixture)

from microlens.report.types import SCHEMA_VERSION
from microlens.web import create_app
from microlens.web.context import runtime


def make_app(tmp_path: Path, **config: Any) -> Any:
    cfg = {"DATA_DIR": str(tmp_path / "data"), "TESTING": True, "ANALYZER": quick_analyzer(),
           "MODEL_LOADER": lambda name: name, "QUEUE_URL": ""}
    cfg.update(config)
    return create_app(cfg)


@pytest.fixture()
def app(tmp_path: Path) -> Any:
    return make_app(tmp_path)


@pytest.fixture()
def client(app: Any) -> Any:
    return app.test_client()


def upload(client: Any, path: Path | None = None, data: bytes | None = None, name: str = "face.mp4",
           **form: str) -> Any:
    body = data if data is not None else Path(path).read_bytes()  # type: ignore[arg-type]
    return client.post("/api/analyses", data={"file": (io.BytesIO(body), name), **form},
                       content_type="multipart/form-data")


def drain(app: Any) -> int:
    return runtime(app).queue.drain()


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# pages -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/", "/video", "/analyses", "/webcam"])
def test_pages_render_with_csp_and_no_inline_script(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    assert r.content_type.startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = r.data.decode()
    for tag in re.findall(r"<script[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "style=" not in html  # inline styles would be blocked by the CSP
    assert "not a lie detector" in html


def test_home_has_two_choices_and_notice(client: Any) -> None:
    html = client.get("/").data.decode()
    assert "Analyse a video" in html and "Analyse my webcam" in html
    assert "EU AI Act" in html and "micro-expression" in html.lower()


def test_korean_by_browser_language_and_switch(client: Any) -> None:
    html = client.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"}).data.decode()
    assert "내 웹캠 분석" in html and 'lang="ko"' in html
    r = client.get("/lang/en", headers={"Referer": "http://localhost/video"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/video")
    html = client.get("/", headers={"Accept-Language": "ko-KR"}).data.decode()
    assert "Analyse my webcam" in html  # the cookie wins over the browser
    client.get("/lang/ko")
    html = client.get("/webcam").data.decode()
    assert "현재 감정" in html and "준비 중" in html
    found = re.search(r'<script type="application/json" id="strings">(.*?)</script>', html, re.S)
    assert found is not None
    strings = json.loads(found[1])
    assert strings["labels"]["happiness"] == "행복"  # emotion labels for the page scripts
    assert client.get("/lang/xx").status_code == 404


def test_every_page_string_has_a_korean_translation() -> None:
    """Each string the templates and the web code mark for translation has a Korean msgstr (a new
    string without one would show in English on a Korean page)."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    web = Path(__file__).resolve().parents[1] / "microlens" / "web"
    methods = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
    marked = {m[2] if isinstance(m[2], str) else m[2][0] for m in extract_from_dir(str(web), methods)}
    with (web / "translations" / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        ko = {m.id: m.string for m in read_po(f, locale="ko") if m.id}
    assert len(marked) > 50
    assert not sorted(marked - set(ko)), "not in the Korean catalogue"
    assert not [m for m in marked if not ko[m]], "empty Korean translation"


def test_static_assets_are_local(client: Any) -> None:
    html = client.get("/webcam").data.decode()
    assert "http://" not in html.replace("http://localhost", "") and "https://" not in html
    for asset in ("app.css", "common.js", "upload.js", "analysis.js", "webcam.js", "list.js", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200


# API basics --------------------------------------------------------------------------------------
def test_health_and_openapi(client: Any) -> None:
    h = client.get("/api/health").get_json()
    assert h["status"] == "ok" and h["queue"] == "sqlite" and h["retention_days"] == 7
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for p in ("/api/analyses", "/api/analyses/{analysis_id}", "/api/analyses/{analysis_id}/report.{fmt}",
              "/api/health"):
        assert p in spec["paths"]
    post = spec["paths"]["/api/analyses"]["post"]["responses"]
    assert {"202", "400", "413", "415", "422", "429"} <= set(post)


def test_upload_job_results_reports_delete(app: Any, client: Any, clip: Path) -> None:  # noqa: F811
    r = upload(client, clip)
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    aid = body["id"]
    assert re.fullmatch(r"[0-9a-f]{24}", aid) and body["status_url"] == f"/api/analyses/{aid}"
    s = client.get(body["status_url"]).get_json()
    assert s["status"] == "queued" and s["progress"] == 0
    assert client.get(f"/analyses/{aid}").status_code == 200  # progress page
    assert drain(app) == 1
    s = client.get(body["status_url"]).get_json()
    assert s["status"] == "done", s
    assert s["progress"] == 1 and s["result"]["schema_version"] == SCHEMA_VERSION
    assert s["summary"]["micro_count"] == 1
    for fmt, ctype in (("json", "application/json"), ("csv", "text/csv"), ("vtt", "text/vtt"),
                       ("html", "text/html")):
        rr = client.get(f"/api/analyses/{aid}/report.{fmt}")
        assert rr.status_code == 200 and rr.content_type.startswith(ctype)
        assert "attachment" in rr.headers["Content-Disposition"]
    assert client.get(f"/api/analyses/{aid}/report.vtt").data.startswith(b"WEBVTT")
    tl = client.get(f"/api/analyses/{aid}/report.timeline")
    assert tl.status_code == 200 and tl.content_type.startswith("text/csv")
    assert ".microlens.timeline.csv" in tl.headers["Content-Disposition"]
    assert tl.data.decode().splitlines()[0].startswith("second,state,source,appearance")
    page = client.get(f"/analyses/{aid}").data.decode()
    assert "face.mp4" in page and "micro-0.jpg" in page and 'id="timeline"' in page
    video = client.get(f"/api/analyses/{aid}/media/face.mp4", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and video.content_type == "video/mp4" and len(video.data) == 100
    assert client.get(f"/api/analyses/{aid}/media/face.jpg").content_type == "image/jpeg"
    listed = client.get("/api/analyses").get_json()
    assert listed["count"] == 1 and listed["analyses"][0]["id"] == aid
    assert aid in client.get("/analyses").data.decode()
    root = runtime(app).store.root
    assert any(aid in f for f in files_under(root))
    assert client.delete(f"/api/analyses/{aid}").get_json() == {"deleted": aid}
    assert not any(aid in f for f in files_under(root))
    assert client.get(f"/api/analyses/{aid}").status_code == 404
    assert client.delete(f"/api/analyses/{aid}").status_code == 404


def test_cancel_queued_and_running(app: Any, client: Any, clip: Path) -> None:  # noqa: F811
    aid = upload(client, clip).get_json()["id"]
    r = client.post(f"/api/analyses/{aid}/cancel")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    drain(app)
    assert client.get(f"/api/analyses/{aid}").get_json()["status"] == "cancelled"
    assert client.post(f"/api/analyses/{aid}/cancel").status_code == 409
    # running: the analyzer sees the cancel flag at its next check
    rt = runtime(app)
    aid2 = upload(client, clip).get_json()["id"]
    quick = quick_analyzer(delay_s=0.01)

    def cancelled_while_running(*args: Any, **kw: Any) -> Any:
        assert rt.store.get(aid2).status == "running"
        client.post(f"/api/analyses/{aid2}/cancel")
        return quick(*args, **kw)

    rt.queue.analyzer = cancelled_while_running
    drain(app)
    assert client.get(f"/api/analyses/{aid2}").get_json()["status"] == "cancelled"


def test_failed_job_reports_reason(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    from microlens.errors import NoFaceError

    app = make_app(tmp_path, ANALYZER=quick_analyzer(fail=NoFaceError("no face was found in the video")))
    c = app.test_client()
    aid = upload(c, clip).get_json()["id"]
    drain(app)
    s = c.get(f"/api/analyses/{aid}").get_json()
    assert s["status"] == "failed" and s["error"] == "no face was found in the video"
    assert "no face was found" in c.get(f"/analyses/{aid}").data.decode()
    assert c.get(f"/api/analyses/{aid}/report.json").status_code == 409


def test_reports_and_errors_show_the_uploaded_name_not_server_paths(tmp_path: Path,
                                                                    clip: Path) -> None:  # noqa: F811
    """The real analysis of an upload: report.json's source, the HTML title and a failed job's error
    name the uploaded file, never DATA_DIR/uploads/<id>.video (issue 19)."""
    from microlens.analyze import analyze
    from microlens.science import synthetic

    app = make_app(tmp_path, ANALYZER=analyze)
    c = app.test_client()
    data_dir = str(runtime(app).store.root)
    aid = upload(c, clip, name="my interview.mp4").get_json()["id"]
    blank = tmp_path / "blank.mp4"
    synthetic.write_video(str(blank), [np.full((120, 160, 3), 90, np.uint8)] * 15, 15)
    bad = upload(c, blank, name="empty room.mp4").get_json()["id"]
    drain(app)
    report = c.get(f"/api/analyses/{aid}/report.json")
    assert report.status_code == 200, c.get(f"/api/analyses/{aid}").get_json()
    assert report.get_json()["source"] == "my interview.mp4"
    page = c.get(f"/api/analyses/{aid}/report.html").data.decode()
    assert "<title>microlens report: my interview.mp4</title>" in page
    for text in (report.data.decode(), page):
        assert data_dir not in text and ".video" not in text
    failed = c.get(f"/api/analyses/{bad}").get_json()
    assert failed["status"] == "failed" and failed["error"].startswith("empty room.mp4: no face found")
    assert data_dir not in failed["error"] and "uploads" not in failed["error"]


def test_a_job_error_never_shows_server_paths(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    """Whatever fails in a job, its message names the uploaded file, not the upload's path, and
    shows no other DATA_DIR path."""
    def analyzer(path: str, **kw: Any) -> Any:
        raise OSError(f"{path}: cannot read; scratch in {Path(path).parent.parent / 'tmp'} is full")

    app = make_app(tmp_path, ANALYZER=analyzer)
    c = app.test_client()
    aid = upload(c, clip, name="talk.mp4").get_json()["id"]
    drain(app)
    error = c.get(f"/api/analyses/{aid}").get_json()["error"]
    assert error == "internal error: OSError: talk.mp4: cannot read; scratch in DATA_DIR/tmp is full"


# errors ------------------------------------------------------------------------------------------
def test_400s(client: Any, clip: Path) -> None:  # noqa: F811
    assert client.post("/api/analyses", data=b"x", content_type="application/octet-stream").status_code == 400
    r = client.post("/api/analyses", data={"other": "1"}, content_type="multipart/form-data")
    assert r.status_code == 400 and "file" in r.get_json()["error"]
    r = upload(client, data=b"", name="empty.mp4")
    assert r.status_code == 400 and "empty" in r.get_json()["error"]
    r = upload(client, clip, model="../../etc/passwd")
    assert r.status_code == 400 and "unknown model" in r.get_json()["error"]
    assert client.get("/api/analyses?limit=abc").status_code == 400


def test_404_405_json_never_html(client: Any) -> None:
    for url in ("/api/analyses/0123456789abcdef01234567", "/api/analyses/..%2F..%2Fetc",
                "/api/analyses/0123456789abcdef01234567/report.json", "/api/nothing"):
        r = client.get(url)
        assert r.status_code == 404 and r.is_json and "error" in r.get_json(), url
    r = client.put("/api/analyses")
    assert r.status_code == 405 and r.is_json and "Allow" in r.headers
    r = client.get("/analyses/0123456789abcdef01234567")
    assert r.status_code == 404 and b"Traceback" not in r.data


def test_unknown_report_format_and_media(app: Any, client: Any, clip: Path) -> None:  # noqa: F811
    aid = upload(client, clip).get_json()["id"]
    assert client.get(f"/api/analyses/{aid}/report.json").status_code == 409  # not done yet
    drain(app)
    assert client.get(f"/api/analyses/{aid}/report.pdf").status_code == 404
    assert client.get(f"/api/analyses/{aid}/media/..%2Freport.json").status_code == 404
    assert client.get(f"/api/analyses/{aid}/media/report.json").status_code == 404


def test_500_is_json_without_traceback(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom() -> Any:
        raise RuntimeError("secret internals")

    app.add_url_rule("/api/boom", "boom", boom)
    app.add_url_rule("/boom", "boom_page", boom)
    c = app.test_client()
    r = c.get("/api/boom")
    assert r.status_code == 500 and r.get_json()["error"].startswith("internal error")
    assert b"secret internals" not in r.data and b"Traceback" not in r.data
    r = c.get("/boom")
    assert r.status_code == 500 and b"Traceback" not in r.data and b"secret internals" not in r.data


def test_413_too_large_and_huge_declared_size(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    app = make_app(tmp_path, MAX_UPLOAD_MB=0.05)
    c = app.test_client()
    r = upload(c, data=os.urandom(120_000), name="big.mp4")
    assert r.status_code == 413 and "limit" in r.get_json()["error"]
    r = c.post("/api/analyses", data=b"--x\r\n", content_type="multipart/form-data; boundary=x",
               environ_overrides={"CONTENT_LENGTH": str(10**13)})
    assert r.status_code == 413 and r.is_json
    assert files_under(runtime(app).store.root / "uploads") == set()


@pytest.mark.parametrize("kind", ["random", "truncated", "text"])
def test_415_not_a_video(client: Any, app: Any, clip: Path, kind: str) -> None:  # noqa: F811
    data = {"random": os.urandom(50_000), "truncated": clip.read_bytes()[:3000],
            "text": b"<html>hello</html>" * 100}[kind]
    r = upload(client, data=data, name="clip.mp4")
    assert r.status_code in (415, 422), r.get_json()
    err = r.get_json()["error"]
    assert str(runtime(app).store.root) not in err  # no server paths in messages
    assert files_under(runtime(app).store.root / "uploads") == set()
    assert client.get("/api/analyses").get_json()["count"] == 0


def test_422_too_long(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    c = make_app(tmp_path, MAX_DURATION_S=1.0).test_client()
    r = upload(c, clip)
    assert r.status_code == 422 and "limit" in r.get_json()["error"]


def test_429_queue_full_with_retry_after(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    app = make_app(tmp_path, MAX_QUEUE=2)
    c = app.test_client()
    assert upload(c, clip).status_code == 202
    assert upload(c, clip).status_code == 202
    r = upload(c, clip)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "queue" in r.get_json()["error"]
    drain(app)
    assert upload(c, clip).status_code == 202  # room again


def test_hostile_filename_is_never_a_path_and_is_escaped(app: Any, client: Any, clip: Path,  # noqa: F811
                                                         tmp_path: Path) -> None:
    outside_before = {p.name for p in tmp_path.iterdir()}
    name = "../../<script>alert(1)<!--.mp4"
    r = upload(client, clip, name=name)
    assert r.status_code == 202
    aid = r.get_json()["id"]
    root = runtime(app).store.root
    assert all(re.fullmatch(r"[0-9a-f]{24}\.video", p.name) for p in (root / "uploads").iterdir())
    assert {p.name for p in tmp_path.iterdir()} == outside_before
    drain(app)
    for url in ("/analyses", f"/analyses/{aid}", "/"):
        html = client.get(url).data.decode()
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<script>" not in client.get(f"/api/analyses/{aid}/report.csv").headers["Content-Disposition"]


def test_upload_options_reach_the_analysis(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    """Options given with an upload are checked, stored, passed to the analysis and shown; bad ones
    get a one-line 400 and store nothing."""
    seen: list[dict[str, Any]] = []
    inner = quick_analyzer()

    def analyzer(path: str, **kw: Any) -> Any:
        seen.append({k: v for k, v in kw.items()
                     if k not in ("model", "progress", "cancel", "face_video", "work_dir", "source_name")})
        return inner(path, **kw)

    app = make_app(tmp_path, ANALYZER=analyzer)
    c = app.test_client()
    opts = {"talking_abstain": False, "macro_recognizer": "micro", "peak_z": 7}
    r = upload(c, clip, options=json.dumps(opts))
    assert r.status_code == 202, r.get_json()
    aid = r.get_json()["id"]
    drain(app)
    assert seen == [{"talking_abstain": False, "macro_recognizer": "micro", "peak_z": 7.0}]
    got = c.get(f"/api/analyses/{aid}").get_json()
    assert got["status"] == "done" and got["options"] == seen[0]
    html = c.get(f"/analyses/{aid}").data.decode()
    assert 'id="options-used"' in html and "talking_abstain=false" in html
    assert upload(c, clip).status_code == 202  # no options: the defaults, nothing passed
    drain(app)
    assert seen[-1] == {}
    root = runtime(app).store.root
    before = files_under(root)
    for bad, why in [("{", "not valid JSON"), ("[1]", "must be a JSON object"),
                     ('{"talking": false}', "unknown option 'talking'"),
                     ('{"abstain": "no"}', "option 'abstain' takes a boolean, got string"),
                     ('{"peak_z": true}', "option 'peak_z' takes a number, got boolean"),
                     ('{"macro_recognizer": "gpt"}', "must be one of fer2013, micro"),
                     ('{"crf": 99}', "crf must be in 0..51"),
                     ('{"min_confidence": 2}', "min_confidence (--min-confidence) must be in 0..1"),
                     ('{"margin": -5}', "margin (--margin) must be in 0..1"),
                     ('{"face": "biggest"}', "--face must be largest, central or a number")]:
        r = upload(c, clip, options=bad)
        err = r.get_json()["error"]
        assert r.status_code == 400 and why in err and "\n" not in err, (bad, err)
    assert files_under(root) == before


def test_store_adds_the_options_column_to_an_old_database(tmp_path: Path) -> None:
    import sqlite3

    from microlens.web.storage import Store, new_id

    root = tmp_path / "data"
    root.mkdir()
    old = sqlite3.connect(root / "analyses.db")
    columns = ["id TEXT PRIMARY KEY", "status TEXT NOT NULL", "stage TEXT NOT NULL DEFAULT ''",
               "progress REAL NOT NULL DEFAULT 0", "error TEXT", "filename TEXT NOT NULL DEFAULT ''",
               "size INTEGER NOT NULL DEFAULT 0", "duration_s REAL NOT NULL DEFAULT 0",
               "model TEXT NOT NULL DEFAULT ''", "source TEXT NOT NULL DEFAULT 'upload'",
               "created REAL NOT NULL",
               "updated REAL NOT NULL", "started REAL", "finished REAL", "worker TEXT NOT NULL DEFAULT ''",
               "cancel INTEGER NOT NULL DEFAULT 0", "attempts INTEGER NOT NULL DEFAULT 0",
               "summary TEXT NOT NULL DEFAULT '{}'"]  # the table as it was before options were stored
    old.execute(f"CREATE TABLE analyses ({', '.join(columns)})")
    aid = new_id()
    old.execute("INSERT INTO analyses (id, status, created, updated) VALUES (?, 'done', 1, 1)", (aid,))
    old.commit()
    old.close()
    store = Store(root)
    kept = store.get(aid)
    assert kept is not None and kept.options_dict() == {}
    made = store.create(new_id(), filename="v.mp4", size=1, duration_s=1.0, model="casme2",
                        options={"abstain": False})
    assert made.options_dict() == {"abstain": False}


def test_bad_uploads_write_nothing_outside_data_dir(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    import tempfile

    app = make_app(tmp_path)
    c = app.test_client()
    tmp_before = set(os.listdir(tempfile.gettempdir()))
    outside = {p.name for p in tmp_path.iterdir()}
    bad = [os.urandom(600_000), clip.read_bytes()[: len(clip.read_bytes()) // 3], b"",
           b"\x00\x00\x00\x18ftypmp42" + os.urandom(1000)]
    for data in bad:
        r = upload(c, data=data, name="../x<script>.mp4")
        assert 400 <= r.status_code < 500 and r.is_json
    assert {p.name for p in tmp_path.iterdir()} == outside
    new_tmp = set(os.listdir(tempfile.gettempdir())) - tmp_before
    assert not [n for n in new_tmp if "x<script>" in n or n.endswith(".mp4")]
    root = runtime(app).store.root
    assert files_under(root / "uploads") == set() and files_under(root / "tmp") == set()


# token -------------------------------------------------------------------------------------------
def test_api_token(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    app = make_app(tmp_path, API_TOKEN="s3cret")
    c = app.test_client()
    assert c.get("/api/health").status_code == 200  # open for monitoring
    r = c.get("/api/analyses")
    assert r.status_code == 401 and r.is_json
    assert c.get("/").status_code == 401
    assert c.get("/api/analyses", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/api/analyses", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = c.get("/video?token=s3cret")
    assert r.status_code == 302 and "token" not in r.headers["Location"]
    assert c.get("/video").status_code == 200  # the cookie now carries it
    assert upload(c, clip).status_code == 202


# retention ---------------------------------------------------------------------------------------
def test_retention_purges_old_analyses(app: Any, client: Any, clip: Path) -> None:  # noqa: F811
    aid = upload(client, clip).get_json()["id"]
    drain(app)
    store = runtime(app).store
    assert store.purge(7 * 86400) == 0
    store.update(aid, created=time.time() - 8 * 86400)
    assert store.purge(7 * 86400) == 1
    assert not store.upload_path(aid).exists() and not store.result_dir(aid).exists()
    assert client.get(f"/api/analyses/{aid}").status_code == 404


def test_settings_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from microlens.web.settings import load_settings

    monkeypatch.setenv("MICROLENS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("MICROLENS_RETENTION_DAYS", "2")
    monkeypatch.setenv("MICROLENS_MAX_UPLOAD_MB", "10")
    s = load_settings()
    assert s.data_dir == (tmp_path / "d").resolve() and s.retention_days == 2.0 and s.max_upload_mb == 10.0
    app = create_app({"TESTING": True})
    assert app.config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024
    assert (tmp_path / "d" / "analyses.db").is_file()


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = ("import sys, microlens.web, microlens.web.serve, microlens.live.analyzer, "
            "microlens.web.jobs as j; "
            "print(int('torch' in sys.modules), int('onnxruntime' in sys.modules), len(j._MODELS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", "0"]  # no model runtime loaded, no model cached
    assert not (tmp_path / "data").exists()  # nothing created at import


# real pipeline -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_real_pipeline_end_to_end(tmp_path: Path) -> None:
    """Upload a synthetic face clip and run the real microlens.analyze with the default model."""
    try:
        import microlens.analyze  # noqa: F401
    except ImportError as e:
        pytest.fail(f"microlens.analyze is missing: {e}")
    path = face_clip(tmp_path / "real.mp4", seconds=3.0)
    app = create_app({"DATA_DIR": str(tmp_path / "data"), "TESTING": True})
    c = app.test_client()
    aid = upload(c, path).get_json()["id"]
    drain(app)
    s = c.get(f"/api/analyses/{aid}").get_json()
    assert s["status"] == "done", s.get("error")
    res = s["result"]
    assert res["face"]["coverage"] > 0.9
    assert {"timeline", "stats", "log", "events"} <= set(res)
    folder = runtime(app).store.result_dir(aid)
    assert (folder / "face.mp4").is_file() and (folder / "face.jpg").is_file()
    json.loads((folder / "report.json").read_text())
