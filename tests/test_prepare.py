"""``microlens prepare`` on synthetic raw datasets (tests/rawdata.py): the output format, the apex
crops, each class's motion in its flow image, the options, the drop summary and bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rawdata import RawDataset, make_casme2, make_samm, motion_centres, point

import microlens.cli.main
from microlens.face import track as face
from microlens.science.prepare import MANIFEST_COLUMNS, apex_of, frame_number, label_filter
from microlens.science.synthetic import Scene

SHARED_COLUMNS = ["sample_id", "dataset", "subject", "episode", "emotion", "megc_class", "onset_frame",
                  "apex_frame", "offset_frame", "action_units", "apex_image", "flow_image"]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``microlens ARGV``; return the exit code and stderr."""
    code = microlens.cli.main.main(list(argv))
    return code, capsys.readouterr().err


def prepare_args(ds: RawDataset, out: Path, dataset: str = "casme2") -> list[str]:
    return ["prepare", "--dataset", dataset, "--raw", str(ds.root), "--annotations", str(ds.annotations),
            "--out", str(out)]


def read_manifest(out: Path) -> list[dict[str, str]]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert img is not None, path
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def casme2(tmp_path_factory: pytest.TempPathFactory) -> RawDataset:
    return make_casme2(tmp_path_factory.mktemp("casme2"))


@pytest.fixture(scope="module")
def prepared(casme2: RawDataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """The synthetic CASME II dataset prepared once: (out, exit code, stderr)."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("prepared") / "out"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = microlens.cli.main.main(prepare_args(casme2, out))
    return out, code, err.getvalue()


# ---------------------------------------------------------------------------------------------
# format and summary


def test_manifest_matches_shared_format(prepared: tuple[Path, int, str], casme2: RawDataset) -> None:
    out, code, _ = prepared
    assert code == 0
    rows = read_manifest(out)
    with open(out / "manifest.csv", newline="") as f:
        assert next(csv.reader(f)) == SHARED_COLUMNS == list(MANIFEST_COLUMNS)
    from conftest import shared_data_dir

    shared = shared_data_dir()
    if shared is not None:  # the real format, where it is available
        with open(shared / "megc2019" / "manifest.csv", newline="") as f:
            assert next(csv.reader(f)) == SHARED_COLUMNS
    kept = [ep for ep in casme2.episodes
            if ep.kind in ("ok", "no_apex") and ep.emotion not in ("others", "fear")]
    assert [r["sample_id"] for r in rows] == [f"casme2_{ep.folder}_{ep.episode}" for ep in kept]
    for r, ep in zip(rows, kept, strict=True):
        assert r["dataset"] == "casme2" and r["subject"] == ep.folder and r["episode"] == ep.episode
        assert r["emotion"] == ep.emotion
        megc = {"happiness": "positive", "surprise": "surprise"}.get(ep.emotion, "negative")
        assert r["megc_class"] == megc
        assert int(r["onset_frame"]) == ep.onset and int(r["offset_frame"]) == ep.offset
        apex = ep.apex if ep.apex is not None else (ep.onset + ep.offset) // 2
        assert int(r["apex_frame"]) == apex
        assert r["apex_image"] == f"apex/{r['sample_id']}.jpg"
        assert r["flow_image"] == f"flow/{r['sample_id']}.png"
        assert (out / r["apex_image"]).is_file() and (out / r["flow_image"]).is_file()
    assert len(list((out / "apex").iterdir())) == len(rows) == len(list((out / "flow").iterdir()))


def test_drop_summary(prepared: tuple[Path, int, str], casme2: RawDataset) -> None:
    out, _, err = prepared
    summary = json.loads((out / "prepare.json").read_text())
    n_others = sum(ep.emotion == "others" for ep in casme2.episodes)
    assert summary["rows"] == len(casme2.episodes)
    assert summary["dropped"] == {"others": n_others, "fear": 1, "missing frames": 1, "no face": 1}
    assert summary["kept"] == len(read_manifest(out)) == summary["rows"] - n_others - 3
    assert summary["labels"] == ["happiness", "surprise", "disgust", "repression", "sadness"]
    no_apex = next(ep for ep in casme2.episodes if ep.kind == "no_apex")
    assert summary["apex_estimated"] == [f"casme2_{no_apex.folder}_{no_apex.episode}"]
    reasons = summary["dropped_samples"]
    assert sum(v.startswith("no face") for v in reasons.values()) == 1
    # the same summary is printed to stderr
    assert f"-> {summary['kept']} samples" in err
    assert f"others {n_others}, fear 1, missing frames 1, no face 1" in err


def test_progress_bar_on_demand(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROLENS_PROGRESS", "1")
    code, err = run_cli(capsys, *prepare_args(casme2, tmp_path / "out"), "--labels", "surprise,repression")
    assert code == 0
    assert "prepare [" in err and "100%" in err
    assert {r["emotion"] for r in read_manifest(tmp_path / "out")} == {"surprise", "repression"}


# ---------------------------------------------------------------------------------------------
# apex crops and flow images


def onset_affine(casme2: RawDataset, sample_id: str) -> tuple[np.ndarray, str]:
    """The alignment affine prepare used (face.locate on the onset frame) and the subject folder."""
    ep = next(e for e in casme2.episodes if f"casme2_{e.folder}_{e.episode}" == sample_id)
    onset = read_rgb(casme2.root / ep.folder / ep.episode / f"img{ep.onset}.jpg")
    affine = face.locate(onset)
    assert affine is not None
    return affine, ep.folder


def to_crop(affine: np.ndarray, xy: tuple[float, float]) -> np.ndarray:
    return affine @ np.array([xy[0], xy[1], 1.0])


def test_apex_crops_hold_the_face(prepared: tuple[Path, int, str], casme2: RawDataset) -> None:
    out, _, _ = prepared
    for r in read_manifest(out):
        apex = read_rgb(out / r["apex_image"])
        assert apex.shape == (224, 224, 3) and apex.dtype == np.uint8
        affine, folder = onset_affine(casme2, r["sample_id"])
        scene = casme2.scenes[folder]
        for names in (("left_eye",), ("right_eye",), ("nose",), ("mouth_left",), ("mouth_right",),
                      ("left_brow",), ("right_brow",), ("upper_lip", "chin")):
            x, y = to_crop(affine, point(scene, names))
            assert 8 < x < 216 and 8 < y < 216, (r["sample_id"], names, x, y)
        # the eyes are level and in the upper half, the mouth below them
        le, re_ = to_crop(affine, scene.points["left_eye"]), to_crop(affine, scene.points["right_eye"])
        mouth = to_crop(affine, point(scene, ("mouth_left", "mouth_right")))
        assert abs(le[1] - re_[1]) < 12 and le[1] < 112 and mouth[1] > le[1] + 30
        # the crop is the face: a face is found in it again
        assert face.locate(np.ascontiguousarray(apex)) is not None


def region(flow: np.ndarray, affine: np.ndarray, xy: tuple[float, float], *, reach: int = 1,
           reduce: str = "mean") -> np.ndarray:
    """Mean (or max) (u, v, strain) of the flow cells within ``reach`` of a frame point, minus the
    image median (about the zero-motion level under per-sample min-max normalisation): (3,) float."""
    x, y = to_crop(affine, xy) * flow.shape[0] / 224
    i, j = int(round(y)), int(round(x))
    cells = flow[max(i - reach, 0):i + reach + 1, max(j - reach, 0):j + reach + 1].reshape(-1, 3)
    stat = cells.astype(np.float64).mean(0) if reduce == "mean" else cells.astype(np.float64).max(0)
    return stat - np.median(flow.reshape(-1, 3).astype(np.float64), axis=0)


def test_each_class_moves_where_and_how_it_should(prepared: tuple[Path, int, str],
                                                  casme2: RawDataset) -> None:
    out, _, _ = prepared
    checked: set[str] = set()
    for r in read_manifest(out):
        flow = read_rgb(out / r["flow_image"])  # (28, 28, 3) R=u, G=v, B=strain
        assert flow.shape == (28, 28, 3)
        affine, folder = onset_affine(casme2, r["sample_id"])
        scene = casme2.scenes[folder]

        def at(*names: str, flow: np.ndarray = flow, affine: np.ndarray = affine,
               scene: Scene = scene) -> np.ndarray:  # (u, v, strain) around landmark(s)
            return region(flow, affine, point(scene, names))

        # Each bump of the class (tests/rawdata.py MOTIONS) must show in the flow where it was
        # applied, with the sign of its motion, relative to a region that does not move (under
        # per-sample min-max, a strong motion elsewhere shifts the median by a few levels).
        emotion = r["emotion"]
        still = at("mouth_left", "mouth_right") if emotion == "surprise" else at("left_brow", "right_brow")
        assert abs(still[1]) < 60 and still[2] < 30, (r["sample_id"], "motion where there is none", still)
        for xy, dx, dy in motion_centres(scene, emotion):
            u, v, _ = region(flow, affine, xy) - still
            # strain peaks on the ring around a moving patch, not at its centre
            s = region(flow, affine, xy, reach=2, reduce="max")[2] - still[2]
            assert s > 40, (r["sample_id"], "no strain where the face moves", xy, s)
            for shift, value in ((dx, u), (dy, v)):
                if abs(shift) > 1:  # px in the frame
                    assert np.sign(value) == np.sign(shift) and abs(value) > 50, (r["sample_id"], xy, u, v)
        if emotion in ("disgust", "repression"):  # nose + upper lip up, or lower lip + chin up
            nose, chin = at("nose", "upper_lip")[1], at("upper_lip", "chin")[1]
            moving, other = (nose, chin) if emotion == "disgust" else (chin, nose)
            assert moving < other - 80, (r["sample_id"], "motion in the wrong place", moving, other)
        checked.add(r["emotion"])
    assert checked == {"happiness", "surprise", "disgust", "repression"}


def test_equalize_changes_apex_only(prepared: tuple[Path, int, str], casme2: RawDataset, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = prepared
    code, _ = run_cli(capsys, *prepare_args(casme2, tmp_path / "clahe"), "--equalize", "clahe",
                      "--labels", "happiness,surprise")
    assert code == 0
    rows = read_manifest(tmp_path / "clahe")
    assert rows and json.loads((tmp_path / "clahe" / "prepare.json").read_text())["equalize"] == "clahe"
    for r in rows:
        plain, eq = read_rgb(out / r["apex_image"]), read_rgb(tmp_path / "clahe" / r["apex_image"])
        assert np.abs(plain.astype(int) - eq.astype(int)).mean() > 2  # the crop was enhanced
        gray_eq = cv2.cvtColor(eq, cv2.COLOR_RGB2GRAY)
        assert gray_eq.std() > cv2.cvtColor(plain, cv2.COLOR_RGB2GRAY).std() * 0.9
        # the flow is computed from the unenhanced crops
        assert np.array_equal(read_rgb(out / r["flow_image"]), read_rgb(tmp_path / "clahe" / r["flow_image"]))


def test_megc3_labels(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli(capsys, *prepare_args(casme2, tmp_path / "m"), "--labels", "megc3",
                      "--equalize", "hist")
    assert code == 0
    summary = json.loads((tmp_path / "m" / "prepare.json").read_text())
    assert summary["labels"] == ["negative", "positive", "surprise"]
    # others has no MEGC class; fear counts as negative, as in MEGC2019 (and as training maps it)
    assert summary["dropped"] == {"others": sum(ep.emotion == "others" for ep in casme2.episodes),
                                  "missing frames": 1, "no face": 1}
    rows = read_manifest(tmp_path / "m")
    assert {r["megc_class"] for r in rows} == {"negative", "positive", "surprise"}
    assert [r["megc_class"] for r in rows if r["emotion"] == "fear"] == ["negative"]


def test_samm_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """SAMM: NNN/NNN_x_y/NNN_<5-digit frame>.jpg grey frames, sheet with title rows, -1 apex."""
    ds = make_samm(tmp_path / "samm", subjects=1, emotions=("surprise", "others"), extras=True)
    code, err = run_cli(capsys, *prepare_args(ds, tmp_path / "out", "samm"))
    assert code == 0, err
    rows = read_manifest(tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "prepare.json").read_text())
    assert summary["labels"] == ["negative", "positive", "surprise"]  # SAMM's default: MEGC classes
    ok = [ep for ep in ds.episodes if ep.kind in ("ok", "no_apex") and ep.emotion != "others"]
    assert [r["sample_id"] for r in rows] == [f"samm_{ep.subject}_{ep.episode}" for ep in ok]
    assert summary["dropped"] == {"others": 1, "missing frames": 1, "no face": 1}  # fear is negative
    assert len(summary["apex_estimated"]) == 1
    surprise = next(r for r in rows if r["emotion"] == "surprise")
    assert read_rgb(tmp_path / "out" / surprise["apex_image"]).shape == (224, 224, 3)
    flow = read_rgb(tmp_path / "out" / surprise["flow_image"])
    ep = next(e for e in ds.episodes if e.episode == surprise["episode"])
    onset = read_rgb(ds.root / ep.folder / ep.episode / f"{ep.subject}_{ep.onset:05d}.jpg")
    affine = face.locate(onset)
    assert affine is not None
    mouth = region(flow, affine, point(ds.scenes[ep.folder], ("mouth_left", "mouth_right")))
    for xy, _, _ in motion_centres(ds.scenes[ep.folder], "surprise"):
        assert region(flow, affine, xy)[1] - mouth[1] < -50
        assert region(flow, affine, xy, reach=2, reduce="max")[2] - mouth[2] > 40


# ---------------------------------------------------------------------------------------------
# bad input: exit 2, one line, no traceback, no complete-looking output


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("microlens: error: "), err
    assert pattern in lines[0], err
    assert "Traceback" not in err


def test_missing_raw_dir(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = prepare_args(casme2, tmp_path / "out")
    args[args.index("--raw") + 1] = str(tmp_path / "nowhere")
    assert_one_line_error(*run_cli(capsys, *args), "raw folder not found")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_broken_xlsx(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "coding.xlsx"
    bad.write_bytes(casme2.annotations.read_bytes()[:500])  # truncated workbook
    args = prepare_args(casme2, tmp_path / "out")
    args[args.index("--annotations") + 1] = str(bad)
    assert_one_line_error(*run_cli(capsys, *args), "cannot read")
    args[args.index("--annotations") + 1] = str(tmp_path / "missing.xlsx")
    assert_one_line_error(*run_cli(capsys, *args), "annotation file not found")
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_unknown_dataset_and_options(casme2: RawDataset, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(*run_cli(capsys, *prepare_args(casme2, tmp_path / "o", "smic")),
                          "unknown dataset 'smic'")
    args = prepare_args(casme2, tmp_path / "o")
    assert_one_line_error(*run_cli(capsys, *args, "--equalize", "gamma"), "unknown equalisation")
    assert_one_line_error(*run_cli(capsys, *args, "--labels", "joy"), "unknown label set")
    assert_one_line_error(*run_cli(capsys, *args, "--face", "leftmost"), "--face must be")
    assert_one_line_error(*run_cli(capsys, *args[:-2]), "--out is required")
    assert_one_line_error(*run_cli(capsys, "prepare", "--raw", str(casme2.root)), "--dataset is required")


def test_wrong_layout(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CASME II frames given as SAMM: the sheet's subjects are not there."""
    samm = make_samm(tmp_path / "samm", subjects=1, emotions=("surprise",))
    args = prepare_args(casme2, tmp_path / "o", "samm")
    args[args.index("--annotations") + 1] = str(samm.annotations)
    assert_one_line_error(*run_cli(capsys, *args), "none of the sheet's subject folders")


def test_refuses_to_overwrite(prepared: tuple[Path, int, str], casme2: RawDataset, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = prepared
    before = (out / "manifest.csv").read_bytes()
    assert_one_line_error(*run_cli(capsys, *prepare_args(casme2, out)), "--overwrite")
    assert (out / "manifest.csv").read_bytes() == before
    # --overwrite replaces it
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    (copy / "apex" / "stale.jpg").write_bytes(b"x")
    code, _ = run_cli(capsys, *prepare_args(casme2, copy), "--overwrite", "--labels", "happiness,disgust")
    assert code == 0
    ids = {r["sample_id"] for r in read_manifest(copy)}
    assert {p.stem for p in (copy / "apex").iterdir()} == ids


def test_no_samples_left(casme2: RawDataset, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(capsys, *prepare_args(casme2, tmp_path / "o"), "--labels", "anger,contempt")
    assert_one_line_error(code, err, "no samples left")
    assert not (tmp_path / "o" / "manifest.csv").exists()
    assert json.loads((tmp_path / "o" / "prepare.json").read_text())["kept"] == 0


def test_duplicate_rows_and_missing_frame_files(casme2: RawDataset, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(casme2.annotations)
    ws = wb.active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    ws.append(rows[1])  # the first clip again
    ws.cell(row=3, column=4, value=rows[2][3] - 1)  # the second clip's onset: no such frame file
    sheet = tmp_path / "coding.xlsx"
    wb.save(sheet)
    args = prepare_args(casme2, tmp_path / "o")
    args[args.index("--annotations") + 1] = str(sheet)
    code, err = run_cli(capsys, *args)
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "prepare.json").read_text())
    assert summary["rows"] == len(casme2.episodes) + 1
    assert summary["dropped"]["duplicate row"] == 1 and summary["dropped"]["missing frames"] == 2
    second = f"casme2_sub{rows[2][0]}_{rows[2][1]}"
    assert summary["dropped_samples"][second].startswith(f"missing frames: no frame {rows[2][3] - 1} in")
    assert len({r["sample_id"] for r in read_manifest(tmp_path / "o")}) == summary["kept"]


def test_interrupted_run_leaves_no_manifest(casme2: RawDataset, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import microlens.face.flow

    calls = []

    def failing(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return np.zeros((28, 28, 3), np.uint8)

    monkeypatch.setattr(microlens.face.flow, "flow_image", failing)
    code, err = run_cli(capsys, *prepare_args(casme2, tmp_path / "o"))
    assert code == 1 and "disk on fire" in err and "Traceback" not in err
    assert (tmp_path / "o" / "apex").is_dir() and not (tmp_path / "o" / "manifest.csv").exists()


# ---------------------------------------------------------------------------------------------
# helpers


def test_frame_numbers() -> None:
    assert frame_number(Path("img46.jpg")) == 46
    assert frame_number(Path("reg_img46.jpg")) == 46
    assert frame_number(Path("006_05562.jpg")) == 5562
    assert frame_number(Path("006_1_2_5562.jpg")) == 5562
    assert frame_number(Path("Thumbs.db")) is None


def test_apex_of() -> None:
    from microlens.science.annotations import Annotation

    def a(onset: int, apex: int | None, offset: int | None) -> Annotation:
        return Annotation("casme2", "sub01", "EP", onset, apex, offset, "", "happiness")

    assert apex_of(a(10, 15, 30)) == (15, False)
    assert apex_of(a(10, None, 30)) == (20, True)
    assert apex_of(a(4896, 1930, 4970)) == (4933, True)  # SAMM 032_3_1: apex before onset
    assert apex_of(a(10, None, None)) == (None, True)


def test_label_filter_on_the_real_sheets(shared_data: Path) -> None:
    """The default label sets on the real sheets: CASME II keeps the seed design's five emotions;
    SAMM under megc3 gives exactly the 133 SAMM samples of the MEGC2019 composite (92/26/15)."""
    from collections import Counter

    from microlens.labels import resolve
    from microlens.science.annotations import parse_casme2, parse_samm

    def tally(rows: list, spec: str) -> tuple[Counter[str], Counter[str]]:
        kept: Counter[str] = Counter()
        dropped: Counter[str] = Counter()
        for a in rows:
            label, why = label_filter(a, resolve(spec))
            if label is None:
                dropped[why] += 1
            else:
                kept[label] += 1
        return kept, dropped

    casme2 = parse_casme2(shared_data / "annotations" / "CASME2-coding-20140508.xlsx")
    kept, dropped = tally(casme2, "casme2")
    assert dropped == {"others": 99, "fear": 2}
    assert kept == {"disgust": 63, "happiness": 32, "repression": 27, "surprise": 25, "sadness": 7}
    samm = parse_samm(shared_data / "annotations" / "SAMM_Micro_FACS_Codes_v2.xlsx")
    kept, dropped = tally(samm, "megc3")
    assert dropped == {"others": 26} and kept == {"negative": 92, "positive": 26, "surprise": 15}
