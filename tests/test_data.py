"""Prepared-dataset loading: the shared format, a frameless manifest, and clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from microlens.errors import DataError
from microlens.science.data import load_dataset

CLASSES = ("happiness", "surprise", "disgust")
MEGC = {"happiness": "positive", "surprise": "surprise", "disgust": "negative", "others": ""}


def make_prepared(
    root: Path,
    *,
    subjects: int = 4,
    per_class: int = 3,
    classes: tuple[str, ...] = CLASSES,
    frames: bool = True,
    extra: tuple[str, ...] = (),
    seed: int = 0,
) -> Path:
    """A tiny prepared dataset whose class is encoded in both images: the apex has a bright band at
    a class-specific height, the flow a bright blob in a class-specific quadrant; plus noise.
    ``extra`` adds one sample per subject for each given emotion (e.g. 'others')."""
    rng = np.random.default_rng(seed)
    (root / "apex").mkdir(parents=True)
    (root / "flow").mkdir()
    rows = []
    for s in range(subjects):
        for emo in [c for c in classes for _ in range(per_class)] + list(extra):
            k = classes.index(emo) if emo in classes else len(classes)
            sid = f"syn_s{s:02d}_{len(rows):03d}"
            apex = rng.integers(60, 120, (224, 224, 3), dtype=np.uint8)
            band = 20 + 60 * k
            apex[band : band + 40] = 230
            flow = rng.integers(0, 60, (28, 28, 3), dtype=np.uint8)
            y0, x0 = (k // 2) * 14, (k % 2) * 14
            flow[y0 : y0 + 14, x0 : x0 + 14] = 250
            cv2.imwrite(str(root / "apex" / f"{sid}.jpg"), cv2.cvtColor(apex, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(root / "flow" / f"{sid}.png"), cv2.cvtColor(flow, cv2.COLOR_RGB2BGR))
            row = {
                "sample_id": sid,
                "dataset": "syn",
                "subject": f"s{s:02d}",
                "emotion": emo,
                "megc_class": MEGC.get(emo, ""),
            }
            if frames:
                row.update(
                    episode=f"EP{len(rows)}",
                    onset_frame="1",
                    apex_frame="5",
                    offset_frame="9",
                    action_units="12",
                    apex_image=f"apex/{sid}.jpg",
                    flow_image=f"flow/{sid}.png",
                )
            rows.append(row)
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def test_load_full_format(tmp_path):
    ds = load_dataset(make_prepared(tmp_path / "d"))
    assert len(ds) == 4 * 3 * 3
    assert ds.apex.shape == (36, 224, 224, 3) and ds.apex.dtype == np.uint8
    assert ds.flow.shape == (36, 28, 28, 3) and ds.flow.dtype == np.uint8
    assert ds.subjects[0] == "syn/s00" and set(ds.datasets) == {"syn"}
    assert len(ds.manifest_sha256) == 64
    prov = ds.provenance()
    assert prov["samples"] == 36 and len(prov["subjects"]) == 4
    sub = ds.subset(np.array([0, 5]))
    assert len(sub) == 2 and sub.sample_ids == (ds.sample_ids[0], ds.sample_ids[5])
    assert np.array_equal(sub.flow[1], ds.flow[5])


def test_frameless_manifest(tmp_path):
    """Only sample_id, subject, emotion/megc_class: images found at apex/ID.jpg and flow/ID.png."""
    ds = load_dataset(make_prepared(tmp_path / "d", frames=False, subjects=2, per_class=1))
    assert len(ds) == 6 and ds.emotions[0] == "happiness" and ds.megc_classes[0] == "positive"


def test_errors(tmp_path):
    with pytest.raises(DataError, match="not a dataset directory"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no manifest.csv"):
        load_dataset(tmp_path / "empty")
    root = make_prepared(tmp_path / "d", subjects=1, per_class=1)
    first = sorted((root / "flow").iterdir())[0]
    first.write_bytes(b"not a png")
    with pytest.raises(DataError, match="corrupt"):
        load_dataset(root)
    first.unlink()
    with pytest.raises(DataError, match="missing flow image"):
        load_dataset(root)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="lacks column"):
        load_dataset(tmp_path / "bad")


def test_shared_megc2019_loads(shared_data):
    ds = load_dataset(shared_data / "megc2019")
    assert len(ds) == 309
    assert {d: ds.datasets.count(d) for d in set(ds.datasets)} == {"casme2": 145, "smic": 164}
    assert len(set(ds.subjects)) == 40
    assert len(load_dataset(shared_data / "megc2019", datasets=("smic",))) == 164
