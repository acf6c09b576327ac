"""Browser test of the results page's emotion-change log: a stored report made before the server
folded one-frame spans (rows of 0.0 s) still shows none of them. Chromium against a real server
with the quick analyzer; skipped where chromium or playwright is absent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_browser import CHROMIUM, _playwright, serve, wait_js
from test_web_clips import clip, quick_analyzer  # noqa: F401  (clip is a fixture)

from microlens.web import runtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_results_page_lists_no_zero_length_log_rows(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    import time

    sync_playwright = _playwright()
    config = {"DATA_DIR": str(tmp_path / "data"), "ANALYZER": quick_analyzer(),
              "MODEL_LOADER": lambda name: name}
    for app, url in serve(config):
        r = app.test_client().post("/api/analyses", data={"file": (io.BytesIO(clip.read_bytes()), "f.mp4")},
                                   content_type="multipart/form-data")
        aid = r.get_json()["id"]
        store = runtime(app).store
        deadline = time.time() + 60
        while store.get(aid).status != "done" and time.time() < deadline:  # type: ignore[union-attr]
            time.sleep(0.1)
        path = store.result_dir(aid) / "report.json"
        report = json.loads(path.read_text())
        row = {"emoji": "", "kind": None, "source": "appearance"}
        report["log"] = [  # as the server wrote it before: two one-frame leftovers
            {**row, "label": "neutral", "start_s": 0.0, "end_s": 1.0, "duration_s": 1.0},
            {**row, "label": "happiness", "start_s": 1.0, "end_s": 1.042, "duration_s": 0.042},
            {**row, "label": "happiness", "source": "event", "kind": "micro", "start_s": 1.042,
             "end_s": 1.5, "duration_s": 0.458},
            {**row, "label": "neutral", "start_s": 1.5, "end_s": 2.967, "duration_s": 1.467},
            {**row, "label": "no_face", "source": "no_face", "start_s": 2.967, "end_s": 3.0,
             "duration_s": 0.033}]
        path.write_text(json.dumps(report))
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page()
            page.goto(f"{url}/analyses/{aid}")
            wait_js(page, "document.querySelectorAll('#log-table tbody tr').length > 0", 30)
            durations = page.locator("#log-table tbody tr td:nth-child(3)").all_inner_texts()
            b.close()
        assert len(durations) == 3, durations
        assert not [d for d in durations if d.startswith("0.0")], durations
