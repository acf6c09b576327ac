"""A person's review of an analysis (issue 23): verdicts and added events in the report and every
writer, the review API (stored in SQLite, surviving a new app on the same data directory, bad input
answered 4xx), the ELAN and BORIS exports, the report rebuilt from its JSON, the original video."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest
from test_report import make_report
from test_web import drain, make_app, upload
from test_web_clips import clip  # noqa: F401  (a fixture)

from microlens.report.exports import BORIS_COLUMNS, TIERS
from microlens.report.review import Added, Review, Verdict, reviewed_events
from microlens.report.writers import WRITERS

REVIEW = Review((Verdict(0, "accept", note="clear smile"), Verdict(1, "relabel", "sadness"),
                 Verdict(2, "reject")), (Added(7, 2.0, 2.3, "disgust", "missed"),))


def reviewed_report() -> Any:
    return dataclasses.replace(make_report(), review=REVIEW)


def test_reviewed_events_are_what_the_reviewer_confirmed() -> None:
    r = reviewed_report()
    got = [(e.start_s, e.label, e.recognizer) for e in reviewed_events(r)]
    assert got == [(1.2, "happiness", ""), (2.0, "disgust", "reviewer"), (3.0, "sadness", "")]
    d = r.to_dict()
    assert d["events"][0]["review"] == {"verdict": "accept", "label": "happiness", "note": "clear smile",
                                        "updated_utc": ""}
    assert d["events"][1]["review"]["label"] == "sadness" and d["events"][2]["review"]["label"] is None
    assert d["review"]["counts"] == {"accepted": 1, "rejected": 1, "relabelled": 1, "unreviewed": 0,
                                     "added": 1}
    assert d["review"]["stats"]["events"] == 3 and d["stats"]["events"] == 3
    assert d["review"]["stats"]["per_label"]["sadness"]["macro"] == 1
    assert d["review"]["added"][0]["frames"] == {"onset": 60, "apex": 64, "offset": 69}
    assert make_report().to_dict()["review"] is None  # no review: null, and each event's too
    assert make_report().to_dict()["events"][0]["review"] is None


def test_bad_verdicts_are_refused() -> None:
    with pytest.raises(ValueError):
        Verdict(0, "maybe")
    with pytest.raises(ValueError):
        Verdict(0, "relabel")
    with pytest.raises(ValueError):
        Added(1, 2.0, 1.0, "happiness")


def test_every_writer_shows_the_verdict_beside_the_machine() -> None:
    r = reviewed_report()
    rows = list(csv.DictReader(io.StringIO(WRITERS["csv"](r))))
    assert [(x["label"], x["review"], x["review_label"]) for x in rows] == [
        ("happiness", "accept", "happiness"), ("surprise", "relabel", "sadness"), ("disgust", "reject", ""),
        ("", "added", "disgust")]
    assert rows[0]["review_note"] == "clear smile" and rows[3]["onset_frame"] == "60"
    timeline = list(csv.DictReader(io.StringIO(WRITERS["timeline"](r))))
    assert timeline[2]["state"] == "neutral" and timeline[2]["reviewed_state"] == "disgust"
    vtt = WRITERS["vtt"](r)
    assert "reviewer: accepted - clear smile" in vtt and "added by the reviewer - missed" in vtt
    html = WRITERS["html"](r)
    assert "relabelled: sadness" in html and "missed" in html
    assert WRITERS["csv"](make_report()).splitlines()[1].split(",")[15:18] == ["", "", ""]


def test_eaf_opens_in_pympi_with_the_tiers_and_times(tmp_path: Path) -> None:
    from pympi import Elan

    r = reviewed_report()
    path = tmp_path / "r.eaf"
    path.write_text(WRITERS["eaf"](r), encoding="utf-8")
    eaf = Elan.Eaf(str(path))
    assert set(TIERS) <= set(eaf.get_tier_names())
    machine = sorted(eaf.get_annotation_data_for_tier("machine events")
                     + eaf.get_annotation_data_for_tier("machine events 2"))
    assert [(a, b) for a, b, _ in machine] == [(1200, 1500), (3000, 5500), (5200, 5400)]  # overlap kept
    assert machine[0][2] == "happiness (micro, 70%)"
    reviewed = sorted(eaf.get_annotation_data_for_tier("reviewed events"))
    assert reviewed == [(1200, 1500, "happiness (micro)"), (2000, 2300, "disgust (micro)"),
                        (3000, 5500, "sadness (macro)")]
    state = sorted(eaf.get_annotation_data_for_tier("per-second state"))
    assert len(state) == 9 and state[1] == (1000, 2000, "happiness") and state[-1][1] == 8500
    assert sorted(eaf.get_annotation_data_for_tier("reviewer verdicts"))[0] == (1200, 1500, "accepted")
    assert (2000, 2300, "missed") in eaf.get_annotation_data_for_tier("reviewer notes")
    assert eaf.media_descriptors and eaf.media_descriptors[0]["MEDIA_URL"].endswith(".mp4")


def test_boris_table_has_boris_columns_and_paired_state_events() -> None:
    r = dataclasses.replace(reviewed_report(), talking=((6.0, 7.0),))
    rows = list(csv.reader(io.StringIO(WRITERS["boris"](r)), delimiter="\t"))
    assert tuple(rows[0]) == BORIS_COLUMNS
    body = [dict(zip(BORIS_COLUMNS, x, strict=True)) for x in rows[1:]]
    times = [float(x["Time"]) for x in body]
    assert times == sorted(times)
    open_: dict[tuple[str, str], int] = {}
    for x in body:  # every START is stopped before the same subject and behavior starts again
        key = (x["Subject"], x["Behavior"])
        open_[key] = open_.get(key, 0) + (1 if x["Status"] == "START" else -1)
        assert open_[key] in (0, 1)
    assert all(v == 0 for v in open_.values())
    starts = [(x["Subject"], x["Behavior"], x["Behavioral category"]) for x in body if x["Status"] == "START"]
    assert ("machine", "surprise", "macro") in starts and ("reviewer", "sadness", "macro") in starts
    assert ("reviewer", "disgust", "micro") in starts and ("machine", "talking", "talking") in starts
    assert body[0]["FPS"] == "30.00" and body[0]["Total length"] == "8.500"


def test_report_comes_back_from_its_json() -> None:
    from microlens.report.load import report_from_dict
    from microlens.report.signals import Signals

    sig = Signals((0.0, 0.1), (1.0, None), (0.9, None), (0, None), ("happiness",), 6.0, 0.8)
    r = dataclasses.replace(make_report(), signals=sig)
    d = r.to_dict()
    back = report_from_dict(json.loads(json.dumps(d)))
    assert back.to_dict() == d
    with_review = dataclasses.replace(back, review=REVIEW).to_dict()
    assert with_review["review"] == reviewed_report().to_dict()["review"]


# the web app ------------------------------------------------------------------------------------
@pytest.fixture()
def done(tmp_path: Path, clip: Path) -> tuple[Any, str]:  # noqa: F811
    app = make_app(tmp_path)
    aid = upload(app.test_client(), clip).get_json()["id"]
    drain(app)
    return app, aid


def test_verdicts_survive_a_restart_and_reach_every_download(done: tuple[Any, str], tmp_path: Path) -> None:
    app, aid = done
    c = app.test_client()
    base = f"/api/analyses/{aid}/review"
    assert c.get(base).get_json()["counts"]["unreviewed"] == 1
    r = c.put(base + "/events/0", json={"verdict": "relabel", "label": "surprise", "note": "brows"})
    assert r.status_code == 200 and r.get_json()["label"] == "surprise"
    r = c.post(base + "/added", json={"start_s": 0.5, "end_s": 0.8, "label": "disgust", "note": "nose"})
    assert r.status_code == 201 and r.get_json()["kind"] == "micro"
    again = make_app(tmp_path).test_client()  # a new app on the same data directory
    review = again.get(base).get_json()
    assert review["events"][0]["verdict"] == "relabel" and review["added"][0]["label"] == "disgust"
    assert review["stats"]["reviewed"]["per_label"]["surprise"]["total"] == 1
    assert review["stats"]["machine"]["per_label"]["happiness"]["total"] == 1
    result = again.get(f"/api/analyses/{aid}").get_json()["result"]
    assert result["events"][0]["review"]["label"] == "surprise" and result["review"]["counts"]["added"] == 1
    got = again.get(f"/api/analyses/{aid}/report.json").get_json()
    assert got["events"][0]["label"] == "happiness" and got["events"][0]["review"]["verdict"] == "relabel"
    rows = list(csv.DictReader(io.StringIO(again.get(f"/api/analyses/{aid}/report.csv").data.decode())))
    assert [x["review"] for x in rows] == ["relabel", "added"]
    eaf = again.get(f"/api/analyses/{aid}/report.eaf")
    assert eaf.status_code == 200 and "attachment" in eaf.headers["Content-Disposition"]
    assert b"surprise (micro)" in eaf.data and b"disgust (micro)" in eaf.data
    html = again.get(f"/api/analyses/{aid}/report.html").data.decode()
    assert "relabelled: surprise" in html and html.count("data:image/jpeg;base64,") >= 4  # pictures kept
    for fmt in ("timeline", "vtt", "boris"):
        assert again.get(f"/api/analyses/{aid}/report.{fmt}").status_code == 200
    assert again.delete(base + "/events/0").status_code == 200
    assert again.delete(base + "/events/0").status_code == 404
    added = review["added"][0]["id"]
    assert again.delete(f"{base}/added/{added}").status_code == 200
    assert again.get(f"/api/analyses/{aid}/report.json").get_json()["review"] is None  # as stored again


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("put", "/events/0", None, 400),
    ("put", "/events/0", [1, 2], 400),
    ("put", "/events/0", {}, 400),
    ("put", "/events/0", {"verdict": "maybe"}, 422),
    ("put", "/events/0", {"verdict": "relabel"}, 422),
    ("put", "/events/0", {"verdict": "relabel", "label": "joy"}, 422),
    ("put", "/events/0", {"verdict": "accept", "label": "sadness"}, 422),
    ("put", "/events/0", {"verdict": "accept", "note": 5}, 400),
    ("put", "/events/0", {"verdict": "accept", "note": "x" * 2001}, 422),
    ("put", "/events/9", {"verdict": "accept"}, 404),
    ("put", "/events/-1", {"verdict": "accept"}, 404),
    ("put", "/events/x", {"verdict": "accept"}, 404),
    ("delete", "/events/0", None, 404),
    ("post", "/added", {"start_s": 1.0, "label": "happiness"}, 400),
    ("post", "/added", {"start_s": "1", "end_s": 2, "label": "happiness"}, 400),
    ("post", "/added", {"start_s": True, "end_s": 2, "label": "happiness"}, 400),
    ("post", "/added", {"start_s": 1.0, "end_s": 0.5, "label": "happiness"}, 422),
    ("post", "/added", {"start_s": -1.0, "end_s": 0.5, "label": "happiness"}, 422),
    ("post", "/added", {"start_s": 1.0, "end_s": 99.0, "label": "happiness"}, 422),
    ("post", "/added", {"start_s": 1.0, "end_s": 1.2, "label": "uncertain"}, 422),
    ("delete", "/added/12345", None, 404),
])
def test_bad_review_input_gets_a_clear_4xx(done: tuple[Any, str], method: str, path: str, body: Any,
                                           status: int) -> None:
    app, aid = done
    r = getattr(app.test_client(), method)(f"/api/analyses/{aid}/review{path}", json=body)
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]


def test_review_of_an_unknown_or_unfinished_analysis(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    app = make_app(tmp_path)
    c = app.test_client()
    assert c.get("/api/analyses/" + "0" * 24 + "/review").status_code == 404
    aid = upload(c, clip).get_json()["id"]  # queued, not run
    assert c.get(f"/api/analyses/{aid}/review").status_code == 409
    assert c.put(f"/api/analyses/{aid}/review/events/0", json={"verdict": "accept"}).status_code == 409


def test_deleting_an_analysis_deletes_its_review(done: tuple[Any, str]) -> None:
    from microlens.web.context import runtime
    from microlens.web.verdicts import load_review

    app, aid = done
    c = app.test_client()
    c.put(f"/api/analyses/{aid}/review/events/0", json={"verdict": "accept"})
    assert not load_review(runtime(app).store, aid).empty
    c.delete(f"/api/analyses/{aid}")
    assert load_review(runtime(app).store, aid).empty


def test_original_video_is_served_with_ranges(done: tuple[Any, str]) -> None:
    app, aid = done
    c = app.test_client()
    links = c.get(f"/api/analyses/{aid}").get_json()["links"]
    assert "original" in links["media"]
    r = c.get(links["media"]["original"], headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.data) == 100 and r.mimetype == "video/mp4"


def test_an_upload_browsers_cannot_play_is_transcoded(tmp_path: Path, clip: Path) -> None:  # noqa: F811
    import av

    from microlens.video.decode import frames, open_clip
    from microlens.web.original import NAME, playable, prepare

    avi = tmp_path / "clip.avi"  # MPEG-4 part 2 in AVI: what old cameras write
    with av.open(str(avi), "w") as out:
        s = out.add_stream("mpeg4", rate=30)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        for f in frames(open_clip(str(clip))):
            frame = av.VideoFrame.from_ndarray(f.image, format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert playable(clip) and not playable(avi)
    assert prepare(clip, tmp_path) == "upload"
    assert prepare(avi, tmp_path) == NAME and playable(tmp_path / NAME)
    a, b = open_clip(str(avi)), open_clip(str(tmp_path / NAME))
    assert abs(a.duration_s - b.duration_s) < 0.1 and b.codec == "h264"


def test_review_without_a_readable_report_is_409(done: tuple[Any, str]) -> None:
    from microlens.web.context import runtime

    app, aid = done
    (runtime(app).store.result_dir(aid) / "report.json").write_text("{not json", encoding="utf-8")
    c = app.test_client()
    assert c.get(f"/api/analyses/{aid}/review").status_code == 409
    r = c.put(f"/api/analyses/{aid}/review/events/0", json={"verdict": "accept"})
    assert r.status_code == 409 and "report" in r.get_json()["error"]
