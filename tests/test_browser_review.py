"""Browser test of the review (issue 23): on a real server with the real pipeline, a person plays the
original video at 0.25x, steps frames, loops an event, accepts one event, relabels another and adds
one the machine missed by marking its onset and offset; the verdicts survive a restart (a new app on
the same data directory) and appear in the JSON, the CSV and the ELAN file, which pympi opens with
the named tiers and the marked times. Skipped where chromium or playwright is absent."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from test_browser import browser, pw, serve, shot, wait_js  # noqa: F401  (fixtures)
from test_web_clips import face_clip

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PAD = 12  # analysis.js: the timeline's left and right padding


def _upload(base: str, clip: Path, options: dict[str, Any]) -> str:
    """POST the clip to the API (multipart) and return the analysis id."""
    boundary = "----microlens-test"
    head = f"--{boundary}\r\nContent-Disposition: form-data; "
    parts = [f'{head}name="options"\r\n\r\n{json.dumps(options)}\r\n'.encode(),
             f'{head}name="file"; filename="{clip.name}"\r\n'
             "Content-Type: video/mp4\r\n\r\n".encode() + clip.read_bytes() + b"\r\n",
             f"--{boundary}--\r\n".encode()]
    req = urllib.request.Request(base + "/api/analyses", data=b"".join(parts), method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["id"]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url) as r:
        return r.read()


def _click_time(page: Any, t: float, duration: float) -> None:
    """Click the timeline's state band at time ``t`` (seeks there)."""
    page.evaluate("document.getElementById('timeline').scrollIntoView({block: 'center'})")
    box = page.locator("#timeline").bounding_box()
    page.mouse.click(box["x"] + PAD + (box["width"] - 2 * PAD) * t / duration, box["y"] + 15)


def test_review_an_analysis_and_find_it_after_a_restart(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    data = tmp_path / "data"
    clip = face_clip(tmp_path / "interview.mp4", seconds=6.0, fps=30.0, size=(480, 360), micro_at=(1.5, 4.0))
    server = serve({"DATA_DIR": str(data)})
    app, base = next(server)
    page = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        aid = _upload(base, clip, {"prior_count": 0})  # motion spotting only: the two brief smiles
        page.goto(f"{base}/analyses/{aid}")
        page.wait_for_selector("#analysis[data-ready='1']", timeout=300_000)
        events = page.evaluate("mlTimeline.events()")
        assert len(events) >= 2, events
        duration = page.evaluate("document.getElementById('original-video').duration")
        assert duration == pytest.approx(6.0, abs=0.1)

        # 0.25x: both videos play at a quarter of real time
        page.click(".rate-button[data-rate='0.25']")
        rates = page.evaluate("[...document.querySelectorAll('video')].map(v => v.playbackRate)")
        assert rates == [0.25, 0.25]
        page.click("#play-button")
        t0, w0 = page.evaluate("mlTimeline.time()"), time.time()
        wait_js(page, f"mlTimeline.time() > {t0 + 0.1}", 20)
        time.sleep(1.0)
        advanced, wall = page.evaluate("mlTimeline.time()") - t0, time.time() - w0
        page.click("#play-button")  # pause
        assert 0 < advanced < 0.6 * wall, (advanced, wall)  # at 1x it would be about the wall time
        assert "0.25×" in page.locator("#clock").inner_text()

        # frame stepping: . forward, , back, one frame at the report's fps each
        page.click(".rate-button[data-rate='1']")
        f0 = page.evaluate("mlTimeline.frame()")
        for _ in range(3):
            page.keyboard.press(".")
        wait_js(page, f"mlTimeline.frame() === {f0 + 3}", 10)
        page.keyboard.press(",")
        wait_js(page, f"mlTimeline.frame() === {f0 + 2}", 10)
        assert f"frame {f0 + 2}" in page.locator("#clock").inner_text()

        # select an event, loop around it, accept it
        pt = page.evaluate("mlTimeline.eventPoint(0)")
        page.mouse.click(pt["x"], pt["y"])
        page.check("#loop-event")
        loop = page.evaluate("mlTimeline.loop()")
        assert loop == pytest.approx([max(0, events[0]["start_s"] - 0.5), events[0]["end_s"] + 0.5], abs=1e-6)
        page.fill("#v-note", "clear lip-corner pull")
        page.click("#v-accept")
        page.wait_for_selector("#review-table tr[data-event='0'][data-verdict='accept']", timeout=10_000)
        page.uncheck("#loop-event")

        # relabel the second event
        pt = page.evaluate("mlTimeline.eventPoint(1)")
        page.mouse.click(pt["x"], pt["y"])
        page.select_option("#v-label", "surprise")
        page.click("#v-relabel")
        page.wait_for_selector("#review-table tr[data-event='1'][data-verdict='relabel']", timeout=10_000)

        # add a missed event: onset at the playhead, nine frames on, offset
        _click_time(page, 5.2, duration)
        wait_js(page, "Math.abs(mlTimeline.time() - 5.2) < 0.1", 10)
        page.keyboard.press("i")
        on = page.evaluate("mlTimeline.time()")
        for _ in range(9):
            page.keyboard.press(".")
        wait_js(page, f"mlTimeline.time() > {on + 0.28}", 10)
        page.keyboard.press("o")
        off = page.evaluate("mlTimeline.time()")
        page.select_option("#add-label", "disgust")
        page.fill("#add-note", "nose wrinkle")
        page.click("#add-event")
        page.wait_for_selector("#review-table tr.added-row", timeout=10_000)
        page.click(".stats-view button[data-view='both']")
        assert " / " in page.locator("#stat-micro").inner_text()
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "results-review")
        assert not errors, errors
    finally:
        next(server, None)  # stop the server

    # a new app on the same data directory: the verdicts are there, in every download
    server = serve({"DATA_DIR": str(data)})
    _, base = next(server)
    try:
        review = json.loads(_get(f"{base}/api/analyses/{aid}/review"))
        assert review["counts"] == {"accepted": 1, "rejected": 0, "relabelled": 1,
                                    "unreviewed": len(events) - 2, "added": 1}
        report = json.loads(_get(f"{base}/api/analyses/{aid}/report.json"))
        assert report["events"][0]["review"] == {**report["events"][0]["review"], "verdict": "accept",
                                                 "note": "clear lip-corner pull"}
        assert report["events"][1]["review"]["label"] == "surprise"
        assert report["events"][1]["label"] != "surprise"  # the machine's label stays beside it
        (added,) = report["review"]["added"]
        assert added["start_s"] == pytest.approx(on, abs=1e-3)
        assert added["end_s"] == pytest.approx(off, abs=1e-3)
        rows = list(csv.DictReader(io.StringIO(_get(f"{base}/api/analyses/{aid}/report.csv").decode())))
        assert [r["review"] for r in rows][:2] == ["accept", "relabel"] and rows[-1]["review"] == "added"
        assert rows[-1]["review_label"] == "disgust" and rows[-1]["review_note"] == "nose wrinkle"
        eaf_path = tmp_path / "review.eaf"
        eaf_path.write_bytes(_get(f"{base}/api/analyses/{aid}/report.eaf"))
        from pympi import Elan

        eaf = Elan.Eaf(str(eaf_path))
        tiers = set(eaf.get_tier_names())
        assert {"machine events", "reviewed events", "per-second state", "talking"} <= tiers
        reviewed = sorted(eaf.get_annotation_data_for_tier("reviewed events"))
        assert (round(on * 1000), round(off * 1000), "disgust (micro)") in reviewed
        assert any(v.startswith("surprise") for _, _, v in reviewed)
        machine = sorted(eaf.get_annotation_data_for_tier("machine events"))
        assert machine[0][:2] == (round(events[0]["start_s"] * 1000), round(events[0]["end_s"] * 1000))
        again = browser.new_page(viewport={"width": 1280, "height": 1000}, locale="en-US")
        again.goto(f"{base}/analyses/{aid}")
        again.wait_for_selector("#analysis[data-ready='1']", timeout=60_000)
        again.wait_for_selector("#review-table tr[data-event='1'][data-verdict='relabel']", timeout=10_000)
    finally:
        next(server, None)
