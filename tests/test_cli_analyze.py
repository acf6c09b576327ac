"""`microlens analyze` at the CLI: output formats, exit codes, batch mode, and one robustness case per
kind of bad or unusual input (clear message or warning, right exit code, no traceback, no partial
output file)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import media
import numpy as np
import pytest

from microlens.cli.main import main
from microlens.report.types import SCHEMA_VERSION
from microlens.science import synthetic as sy

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def model_name(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped casme2 model; where it is not shipped yet, a small untrained checkpoint with the same
    labels (these tests check the pipeline and the CLI, not the model's accuracy)."""
    from microlens.recognize.recognizer import available_models

    if "casme2" in available_models():
        return "casme2"
    import torch

    from microlens.labels import LABEL_SETS
    from microlens.recognize.models import build

    torch.manual_seed(0)

    def member(arch: str) -> dict:
        cfg = {"arch": arch, "n_classes": len(LABEL_SETS["casme2"])}
        return {"config": cfg, "state_dict": build(cfg).state_dict()}

    ckpt = {"name": "untrained", "labels": list(LABEL_SETS["casme2"]), "ensemble": {"apex": 0.5, "flow": 0.5},
            "preprocessing": {"apex_size": 64, "apex_color": False, "equalization": "none"},
            "streams": {"apex": [member("apexnet")], "flow": [member("flownet")]}}
    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    torch.save(ckpt, path)
    return str(path)


def face_clip(path: Path, seconds: float = 1.5, fps: float = 30.0, width: int = 320, height: int = 240,
              hide: tuple[float, float] | None = None, **kw: object) -> Path:
    """A short astronaut clip with sensor noise; ``hide`` blanks the frames in [a, b) seconds."""
    scene = sy.astronaut_scene(width, height, face_width=height / 2.6)
    rng = np.random.default_rng(1)

    def frames():
        for i in range(int(round(seconds * fps))):
            t = i / fps
            img = scene.image
            if hide and hide[0] <= t < hide[1]:
                img = np.full_like(img, 40)
            yield np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)

    sy.write_video(str(path), frames(), fps, **kw)  # type: ignore[arg-type]
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("good") / "good <clip> & co.mp4")


def run_cli(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["analyze", *argv])
    out, err = capfd.readouterr()
    return code, out, err


def test_json_to_stdout(good: Path, model_name: str, capfd: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli([str(good), "--model", model_name], capfd)
    assert code == 0, err
    d = json.loads(out)
    assert d["schema_version"] == SCHEMA_VERSION and d["source"] == str(good)
    assert d["face"]["coverage"] >= 0.95
    assert "Traceback" not in err


@pytest.mark.parametrize("fmt", ["csv", "vtt", "html"])
def test_formats_to_file(fmt: str, good: Path, model_name: str, tmp_path: Path,
                         capfd: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"r.{fmt}"
    code, stdout, err = run_cli([str(good), "--model", model_name, "--format", fmt, "-o", str(out)], capfd)
    assert code == 0, err
    assert stdout == "" and out.is_file()
    text = out.read_text(encoding="utf-8")
    assert {"csv": "event,kind,label", "vtt": "WEBVTT", "html": "<!DOCTYPE html>"}[fmt] in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


def test_usage_errors(good: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    assert run_cli([str(good), "--format", "pdf"], capfd)[0] == 2
    assert run_cli([str(good), str(good)], capfd)[0] == 2  # batch needs -o DIR
    assert run_cli([str(good), "--jobs", "0", "-o", str(tmp_path)], capfd)[0] == 2
    code, _, err = run_cli([str(good), "--crf", "99"], capfd)
    assert code == 2 and "crf" in err
    code, _, err = run_cli([str(good), "--model", str(tmp_path / "nope.pt")], capfd)
    assert code == 2 and "model" in err
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli([str(tmp_path / "absent.mp4"), "-o", str(tmp_path / "r.json")], capfd)
    assert code == 3 and "not found" in err
    assert list(tmp_path.iterdir()) == []


def test_batch_with_a_bad_file(good: Path, model_name: str, tmp_path: Path,
                               capfd: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(good.read_bytes())
    (src / "b_random.mp4").write_bytes(np.random.default_rng(0).bytes(4000))
    (src / "c.mp4").write_bytes(good.read_bytes())
    out = tmp_path / "out"
    sidecar = tmp_path / "participants.csv"
    sidecar.write_text("video,participant,condition\na.mp4,P01,stress\nc,P02,rest\n", encoding="utf-8")
    code, stdout, err = run_cli([str(src), "--model", model_name, "-o", str(out), "--format", "json,vtt",
                                 "--sidecar", str(sidecar)], capfd)
    assert code == 3, err  # the first failure's exit code
    assert "b_random.mp4" in err and "Traceback" not in err
    assert "b_random.mp4: no row in the sidecar" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.vtt", "c.json", "c.vtt", "events.csv",
                                                    "summary.csv"]
    merged = list(csv.DictReader((out / "events.csv").open(encoding="utf-8")))
    for name, who, cond in (("a.mp4", "P01", "stress"), ("c.mp4", "P02", "rest")):
        events = json.loads((out / f"{name[0]}.json").read_text(encoding="utf-8"))["events"]
        mine = [r for r in merged if Path(r["video"]).name == name]
        assert len(mine) == len(events)
        assert all((r["participant"], r["condition"]) == (who, cond) for r in mine)
        assert [int(r["onset_frame"]) for r in mine] == [e["frames"]["onset"] for e in events]
    header = (out / "events.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:5] == ["video", "participant", "condition", "event", "kind"] and "onset_frame" in header
    rows = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert [Path(r["video"]).name for r in rows] == ["a.mp4", "b_random.mp4", "c.mp4"]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert rows[1]["exit_code"] == "3" and rows[1]["error"]
    assert float(rows[0]["face_coverage"]) >= 0.95
    stats = json.loads((out / "a.json").read_text(encoding="utf-8"))["stats"]
    assert int(rows[0]["uncertain"]) == stats["uncertain_count"]
    assert float(rows[0]["talking_s"]) == stats["talking_seconds"] and rows[1]["talking_s"] == ""
    assert json.loads((out / "a.json").read_text(encoding="utf-8"))["frames"] == 45


def test_batch_worker_processes(media_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """--jobs 2: worker processes; rows stay in input order, the first failure gives the exit code."""
    files = [media.make_audio_only(media_dir), media.make_random_bytes(media_dir)]
    out = tmp_path / "out"
    code, _, err = run_cli([*map(str, files), "-o", str(out), "--jobs", "2"], capfd)
    assert code == 3 and "Traceback" not in err
    rows = list(csv.DictReader((out / "summary.csv").open(encoding="utf-8")))
    assert [Path(r["video"]).name for r in rows] == [f.name for f in files]
    assert "audio only" in rows[0]["error"] and rows[1]["status"] == "failed"
    assert sorted(p.name for p in out.iterdir()) == ["events.csv", "summary.csv"]
    assert (out / "events.csv").read_text(encoding="utf-8").startswith("video\n")  # no events: a header


@pytest.mark.parametrize(("content", "say"), [
    (None, "cannot read"), ("name,participant\na.mp4,P1\n", "'video'"),
    ("video,participant\na.mp4,P1\na.mp4,P2\n", "twice"), ("video,participant\n", "no rows")])
def test_bad_sidecar_is_a_usage_error(good: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                      content: str | None, say: str) -> None:
    sidecar = tmp_path / "side.csv"
    if content is not None:
        sidecar.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = run_cli([str(good), str(good), "-o", str(out), "--sidecar", str(sidecar)], capfd)
    assert code == 2 and say in err and "Traceback" not in err
    assert not (tmp_path / "out" / "events.csv").exists()
    code, _, err = run_cli([str(good), "-o", str(tmp_path / "r.json"), "--sidecar", str(sidecar)], capfd)
    assert code == 2 and "batch mode" in err


def test_subprocess_no_traceback(tmp_path: Path) -> None:
    """The real console entry: one line on stderr, exit 3, nothing written."""
    bad = tmp_path / "random.mp4"
    bad.write_bytes(np.random.default_rng(1).bytes(5000))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "microlens", "analyze", str(bad), "-o",
                        str(tmp_path / "r.json")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 3 and p.stdout == ""
    assert "Traceback" not in p.stderr and "random.mp4" in p.stderr
    assert sorted(x.name for x in tmp_path.iterdir()) == ["random.mp4"]


# robustness: one case per kind of input --------------------------------------------------------
@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


BAD = {  # media.BAD_INPUTS name (or its prefix) -> words the one-line message must contain
    "random_bytes": "not a video",
    "truncated_mp4": "truncated",
    "audio_only": "audio only",
    "zero_frames": "0-frame",
    "empty": "empty",
}


@pytest.mark.parametrize("name", sorted(media.BAD_INPUTS))
def test_unreadable_video(name: str, media_dir: Path, tmp_path: Path, model_name: str,
                          capfd: pytest.CaptureFixture[str]) -> None:
    path = media.BAD_INPUTS[name](media_dir)
    out = tmp_path / "r.json"
    code, stdout, err = run_cli([str(path), "--model", model_name, "-o", str(out)], capfd)
    assert code == 3, err
    lines = [ln for ln in err.splitlines() if ln.startswith("microlens:")]
    words = next((v for k, v in sorted(BAD.items(), key=lambda kv: -len(kv[0])) if name.startswith(k)), "")
    assert len(lines) == 1 and words in lines[0].lower() and path.name in lines[0]
    assert "Traceback" not in err and stdout == ""
    assert list(tmp_path.iterdir()) == []  # no partial output


def analyse_ok(path: Path, model_name: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> dict:
    out = tmp_path / "r.json"
    code, _, err = run_cli([str(path), "--model", model_name, "-o", str(out)], capfd)
    assert code == 0, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    return json.loads(out.read_text(encoding="utf-8"))


def test_no_face(media_dir: Path, tmp_path: Path, model_name: str,
                 capfd: pytest.CaptureFixture[str]) -> None:
    path = media.make_no_face(media_dir)
    code, stdout, err = run_cli([str(path), "--model", model_name, "-o", str(tmp_path / "r.json")], capfd)
    assert code == 4 and "no face" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_face_leaves_and_returns(media_dir: Path, tmp_path: Path, model_name: str,
                                 capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_face_leaves(media_dir), model_name, tmp_path, capfd)
    n = media.LEAVES_FRAMES
    assert d["frames"] == n
    lo, hi = len(media.LEAVES_PRESENT) / n - 0.05, 1.0 - len(media.LEAVES_ABSENT) / n + 0.01
    assert lo <= d["face"]["coverage"] < hi
    assert any("face was found in only" in w for w in d["warnings"])
    assert "no_face" in {row["label"] for row in d["log"]}


def test_truncated_tail(media_dir: Path, tmp_path: Path, model_name: str,
                        capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_truncated_tail(media_dir), model_name, tmp_path, capfd)
    assert 0 < d["frames"] < media.TRUNCATED_TAIL_FRAMES
    assert any("truncated" in w for w in d["warnings"])


def test_4k(media_dir: Path, tmp_path: Path, model_name: str,
            capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_4k(media_dir), model_name, tmp_path, capfd)
    assert (d["video"]["width"], d["video"]["height"]) == media.UHD_SIZE
    assert d["frames"] == media.UHD_FRAMES and d["face"]["frames_with_face"] == media.UHD_FRAMES
    assert any("too short" in w for w in d["warnings"])


def test_one_frame(media_dir: Path, tmp_path: Path, model_name: str,
                   capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_one_frame(media_dir), model_name, tmp_path, capfd)
    assert d["frames"] == 1 and d["face"]["frames_with_face"] == 1 and d["events"] == []
    assert any("too short" in w for w in d["warnings"])
    (row,) = d["timeline"]  # the one face is read by the prior: the state is its reading
    assert row["source"] == "appearance" and row["state"] == row["appearance"] and row["face"] == 1.0
    assert row["micro_count"] == 0 and 0 < row["appearance_confidence"] <= 1


def test_portrait_phone_video(media_dir: Path, tmp_path: Path, model_name: str,
                              capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_portrait(media_dir), model_name, tmp_path, capfd)
    assert (d["video"]["width"], d["video"]["height"]) == media.PORTRAIT_SIZE
    assert d["video"]["rotation"] == media.PORTRAIT_ROTATION
    assert d["face"]["coverage"] == 1.0  # upright, so the face is found


def test_vfr_webm(media_dir: Path, tmp_path: Path, model_name: str,
                  capfd: pytest.CaptureFixture[str]) -> None:
    d = analyse_ok(media.make_vfr_webm(media_dir), model_name, tmp_path, capfd)
    times = media.VFR_TIMES
    assert d["frames"] == len(times)
    assert d["fps"] == pytest.approx((len(times) - 1) / (times[-1] - times[0]), abs=0.05)  # from timestamps
    assert any("frame rate" in w for w in d["warnings"])
    assert d["face"]["coverage"] >= 0.9


def test_subprocess_clean_stderr(good: Path, model_name: str, tmp_path: Path) -> None:
    """A good video through the console entry: JSON on stdout, nothing on stderr (the face models'
    native log lines are kept off it), the report identical in shape to the in-process one."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("MICROLENS_DEBUG", None)
    env.pop("MICROLENS_PROGRESS", None)
    p = subprocess.run([sys.executable, "-m", "microlens", "analyze", str(good), "--model", model_name],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stderr == ""
    assert json.loads(p.stdout)["frames"] == 45


def test_every_help_reads_as_plain_text(capsys) -> None:
    """--help of the command and of every subcommand: no reStructuredText marks from docstrings."""
    from microlens.cli.main import COMMANDS, main

    for command in ["", *COMMANDS]:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"] if command else ["--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert "usage: microlens" in text and "``" not in text, (command, text)


def test_a_closed_stdout_is_not_an_error() -> None:
    """`microlens models | head -1`: the reader closing the pipe ends the command quietly, exit 0."""
    import subprocess
    import sys

    code = ("import sys\nfrom microlens.cli import main as cli\n"
            "from microlens.recognize import recognizer as recognize\n"
            "def closed(args):\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "recognize.run = closed\nsys.exit(cli.main(['models']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_format_help_names_every_writer(capsys: pytest.CaptureFixture[str]) -> None:
    """`microlens analyze --help` lists every report format, timeline included (issue 19)."""
    from microlens.report.writers import WRITERS

    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    line = text[text.index("--format FORMAT report format:"):][:200]
    assert all(fmt in line for fmt in WRITERS) and "timeline" in line, line


@pytest.mark.parametrize("flags", [["--min-confidence", "nan"], ["--min-confidence", "2"], ["--margin", "-5"],
                                   ["--margin", "inf"], ["--face", "biggest"]])
def test_bad_face_and_analysis_options_are_usage_errors(flags: list[str], good: Path, tmp_path: Path,
                                                        capfd: pytest.CaptureFixture[str]) -> None:
    """Face options out of range, NaN or infinite stop before any work with exit 2 (issue 19)."""
    code, out, err = run_cli([str(good), *flags, "-o", str(tmp_path / "r.json")], capfd)
    assert code == 2, err
    name = flags[0].lstrip("-").replace("-", "_")
    assert name in err or flags[0] in err, err
    assert "Traceback" not in err and out == "" and list(tmp_path.iterdir()) == []


def test_a_face_number_that_does_not_exist(good: Path, model_name: str, tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    """--face 99 on a one-face video: a usage error naming the valid numbers, not 'no face' (issue 19)."""
    argv = [str(good), "--model", model_name, "--face", "99", "-o", str(tmp_path / "r.json")]
    code, out, err = run_cli(argv, capfd)
    assert code == 2, err
    assert "no face 99" in err and "1 face was found" in err and "--face 0" in err, err
    assert "Traceback" not in err and out == "" and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["notes.txt", "notes.mp4", "art.nfo"])
def test_a_text_file_is_not_a_video(name: str, model_name: str, tmp_path: Path,
                                    capfd: pytest.CaptureFixture[str]) -> None:
    """FFmpeg's tty demuxer draws a .txt file as a video: it is 'not a video' (exit 3), not 'no face'
    (exit 4) (issue 19)."""
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_text("Interview notes\nThe subject smiled at 1:02 and frowned at 2:10.\n" * 40,
                    encoding="utf-8")
    code, out, err = run_cli([str(path), "--model", model_name, "-o", str(tmp_path / "r.json")], capfd)
    assert code == 3, err
    assert "not a video" in err and name in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def _no_analysis(*args: object, **kw: object) -> None:
    raise AssertionError("the analysis must not start when an output cannot be written")


def test_unwritable_outputs_are_usage_errors_before_any_work(good: Path, tmp_path: Path, monkeypatch,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """-o under a regular file (fails for root too), a batch folder that cannot be made, --face-video
    in a missing folder or naming a folder: exit 2 with the reason before the analysis (issue 19)."""
    import microlens.cli.analyze as acli
    import microlens.cli.batch as batch

    monkeypatch.setattr(acli, "analyze", _no_analysis)
    monkeypatch.setattr(batch, "analyze", _no_analysis)
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = [([str(good), "-o", str(afile / "r.json")], "is not a folder"),
             ([str(good), "-o", str(tmp_path / "missing" / "r.json")], "does not exist"),
             ([str(good), str(good), "-o", str(afile / "reports")], "cannot create the output folder"),
             ([str(good), "--face-video", str(tmp_path / "missing" / "f.mp4")], "does not exist"),
             ([str(good), "--face-video", str(afile / "f.mp4")], "is not a folder"),
             ([str(good), "--face-video", str(tmp_path)], "--face-video is a folder")]
    for argv, words in cases:
        code, out, err = run_cli(argv, capfd)
        assert code == 2 and words in err and "Traceback" not in err and out == "", (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_write_failure_after_the_analysis_is_an_output_error(good: Path, tmp_path: Path, monkeypatch,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """The output folder turns into a file while the video is analysed: one line and exit 5 (an
    OutputError), not 'internal error' (issue 19)."""
    from test_report import make_report

    import microlens.cli.analyze as acli
    from microlens.errors import OutputError

    out = tmp_path / "out"
    out.mkdir()

    def analyze(*args: object, **kw: object) -> object:
        out.rmdir()
        out.write_text("now a file")
        return make_report(source=str(good))

    monkeypatch.setattr(acli, "analyze", analyze)
    code, stdout, err = run_cli([str(good), "-o", str(out / "r.json")], capfd)
    assert code == OutputError.exit_code == 5, err
    assert "cannot write" in err and "r.json" in err and "Traceback" not in err
    assert out.read_text() == "now a file"


def test_joined_recordings_are_timed_and_warned_in_the_report(model_name: str, tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    """Two MPEG-TS files joined: every frame analysed over the whole duration, the report warns
    about the backward jump of the timestamps (issue 19)."""
    from test_video import _packets

    joined = tmp_path / "joined.ts"
    joined.write_bytes(_packets(30, 30, "mpegts", tmp_path / "part.ts").read_bytes() * 2)
    out = tmp_path / "r.json"
    code, _, err = run_cli([str(joined), "--model", model_name, "-o", str(out)], capfd)
    assert code == 0, err
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["frames"] == 60 and d["duration_s"] == pytest.approx(2.0, abs=0.01)
    assert any("jump back" in w for w in d["warnings"]), d["warnings"]


@pytest.fixture(scope="module")
def two_reports(good: Path, model_name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A batch of two different videos (a still face; a face with a micro-expression) written as csv,
    json and html with two options off their defaults."""
    from test_web_clips import face_clip as micro_clip

    root = tmp_path_factory.mktemp("two")
    videos = [str(good), str(micro_clip(root / "micro.mp4", seconds=2.5, micro_at=(1.2,)))]
    out = root / "out"
    code = main(["analyze", *videos, "--model", model_name, "-o", str(out), "--format", "csv,json,html",
                 "--peak-z", "5.5", "--margin", "0.2"])
    assert code == 0
    return out


def test_event_csvs_of_different_videos_stack(two_reports: Path) -> None:
    """The events CSV has the same columns whatever the video (every label the analysis can output),
    and its frame columns are the decoded frame indices of the event times (issue 19)."""
    reports = {n: json.loads((two_reports / f"{n}.json").read_text(encoding="utf-8"))
               for n in ("good <clip> & co", "micro")}
    headers = [(two_reports / f"{n}.csv").read_text(encoding="utf-8").splitlines()[0] for n in reports]
    assert headers[0] == headers[1]
    outputs = reports["micro"]["model"]["outputs"]
    assert headers[0].split(",")[-len(outputs):] == [f"p_{lab}" for lab in outputs]
    assert set(reports["micro"]["model"]["labels"]) < set(outputs)  # the macro prior's labels too
    rows = list(csv.DictReader((two_reports / "micro.csv").open(encoding="utf-8")))
    assert rows, "the micro-expression clip has an event"
    fps = reports["micro"]["fps"]
    assert fps == pytest.approx(30.0)
    for row in rows:
        for frame, time in (("onset_frame", "start_s"), ("apex_frame", "apex_s"), ("offset_frame", "end_s")):
            assert int(row[frame]) == round(float(row[time]) * fps), row


def test_reports_say_what_produced_them(two_reports: Path, model_name: str) -> None:
    """JSON and HTML state the microlens version, when the analysis ran (UTC), the checkpoint and its
    SHA-256, and every option as resolved (issue 19)."""
    import dataclasses
    import datetime
    import hashlib

    import microlens
    from microlens.analyze import AnalyzeOptions
    from microlens.face.track import FaceOptions
    from microlens.recognize.recognizer import model_path
    from microlens.spot.options import SpotOptions

    d = json.loads((two_reports / "micro.json").read_text(encoding="utf-8"))
    assert d["schema_version"] == SCHEMA_VERSION and d["microlens_version"] == microlens.__version__
    made = datetime.datetime.strptime(d["created_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert abs((datetime.datetime.now(datetime.UTC) - made).total_seconds()) < 3600
    ckpt = model_path(model_name)
    assert d["model"]["checkpoint"] == ckpt.name
    assert d["model"]["checkpoint_sha256"] == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert d["model"]["backend"] in ("onnxruntime", "torch")
    settings = d["settings"]
    for group, cls in (("analysis", AnalyzeOptions), ("face", FaceOptions), ("spotting", SpotOptions)):
        assert set(settings[group]) == {f.name for f in dataclasses.fields(cls)}, group
    assert settings["spotting"]["peak_z"] == 5.5 and settings["face"]["margin"] == 0.2
    assert settings["spotting"]["baseline_s"] == SpotOptions().baseline_s  # defaults too
    page = (two_reports / "micro.html").read_text(encoding="utf-8")
    assert "How this report was made" in page and d["model"]["checkpoint_sha256"] in page
    assert microlens.__version__ in page and d["created_utc"] in page
    assert "spotting: peak_z</th><td><code>5.5</code>" in page
