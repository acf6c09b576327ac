"""Browser tests of the results page's script on a stored report: the emotion-change log of a
report made before the server folded one-frame spans (rows of 0.0 s) still shows none of them, and
the analysed face (face.chosen) reads in Korean on the Korean page. Chromium against a real server
with the quick analyzer; skipped where chromium or playwright is absent."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, _playwright, serve, wait_js
from test_web_clips import clip, quick_analyzer  # noqa: F401  (clip is a fixture)

from microlens.web.context import runtime

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory, clip: Path) -> Iterator[tuple[str, str]]:  # noqa: F811
    """(server URL, analysis id) of a finished analysis whose stored report has the old log rows
    and a face chosen as "largest of 2 faces"."""
    config = {"DATA_DIR": str(tmp_path_factory.mktemp("results") / "data"), "ANALYZER": quick_analyzer(),
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
        report["face"]["chosen"] = "largest of 2 faces"
        path.write_text(json.dumps(report))
        yield url, aid


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with _playwright()() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def open_results(browser: Any, url: str, aid: str, lang: str) -> Any:
    page = browser.new_page()
    page.goto(f"{url}/lang/{lang}")
    page.goto(f"{url}/analyses/{aid}")
    wait_js(page, "document.querySelectorAll('#log-table tbody tr').length > 0", 30)
    return page


def test_results_page_lists_no_zero_length_log_rows(done: tuple[str, str], browser: Any) -> None:
    page = open_results(browser, *done, "en")
    durations = page.locator("#log-table tbody tr td:nth-child(3)").all_inner_texts()
    assert len(durations) == 3, durations
    assert not [d for d in durations if d.startswith("0.0")], durations
    assert "largest of 2 faces" in page.locator("#facts").inner_text()
    page.close()


def test_results_page_says_which_face_in_korean(done: tuple[str, str], browser: Any) -> None:
    page = open_results(browser, *done, "ko")
    facts = page.locator("#facts").inner_text()
    assert "분석한 얼굴" in facts and "얼굴 2개 중 가장 큰 얼굴" in facts, facts
    assert "largest of" not in facts
    page.close()
