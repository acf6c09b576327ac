"""Prepared datasets: ``manifest.csv`` plus ``apex/*.jpg`` (224x224 RGB) and ``flow/*.png``
(28x28 RGB = u, v, strain), the format of ../shared/data/megc2019 and of ``microlens prepare``.

Required manifest columns: ``sample_id`` and ``subject``, and at least one of ``emotion`` /
``megc_class``. Optional: ``dataset``, ``episode``, onset/apex/offset frames, ``action_units``,
``apex_image`` and ``flow_image`` (default ``apex/<sample_id>.jpg`` and ``flow/<sample_id>.png``).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from microlens.errors import DataError
from microlens.face.flow import FLOW_SIZE

APEX_SIZE = 224  # side of the apex crops in the prepared format


@dataclass(frozen=True)
class Dataset:
    """A prepared dataset held in memory."""

    root: str  # directory it was read from
    manifest_sha256: str  # hash of manifest.csv, for provenance
    sample_ids: tuple[str, ...]
    datasets: tuple[str, ...]  # source dataset per sample, e.g. 'casme2', 'smic'
    subjects: tuple[str, ...]  # subject per sample, prefixed by dataset ('casme2/sub01')
    emotions: tuple[str, ...]  # fine emotion ('' where unknown)
    megc_classes: tuple[str, ...]  # MEGC class ('' where unknown)
    apex: np.ndarray  # (N, 224, 224, 3) uint8 RGB
    flow: np.ndarray  # (N, 28, 28, 3) uint8 (u, v, strain)
    action_units: tuple[str, ...] = ()  # FACS code per sample as written, e.g. '4+L10' ('' unknown)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def subset(self, idx: np.ndarray) -> Dataset:
        """The samples at positions ``idx`` (M,) int."""
        idx = np.asarray(idx, dtype=np.int64)

        def pick(t: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(t[i] for i in idx)

        return replace(
            self,
            sample_ids=pick(self.sample_ids),
            datasets=pick(self.datasets),
            subjects=pick(self.subjects),
            emotions=pick(self.emotions),
            megc_classes=pick(self.megc_classes),
            apex=self.apex[idx],
            flow=self.flow[idx],
            action_units=pick(self.action_units) if self.action_units else (),
        )

    def only(self, dataset: str) -> Dataset:
        """The samples of one source dataset."""
        return self.subset(np.flatnonzero(np.array(self.datasets) == dataset))

    def provenance(self) -> dict:
        """Where the data came from, as stored in checkpoints."""
        return {
            "path": self.root,
            "manifest_sha256": self.manifest_sha256,
            "samples": len(self),
            "datasets": sorted(set(self.datasets)),
            "subjects": sorted(set(self.subjects)),
        }


def _read_image(path: Path, size: int, what: str) -> np.ndarray:
    """An image file -> (size, size, 3) uint8 RGB, or DataError."""
    if not path.is_file():
        raise DataError(f"missing {what} image: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"corrupt or unreadable {what} image: {path}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.shape[:2] != (size, size):
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
    return img


def load_dataset(root: str | Path, *, datasets: tuple[str, ...] = ()) -> Dataset:
    """Read a prepared dataset directory; ``datasets`` keeps only those source datasets."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"not a dataset directory: {root}")
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise DataError(f"no manifest.csv in {root}")
    raw = manifest.read_bytes()
    try:
        rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"unreadable manifest {manifest}: {e}") from None
    if not rows:
        raise DataError(f"manifest {manifest} has no samples")
    cols = set(rows[0])
    missing = {"sample_id", "subject"} - cols
    if missing or not cols & {"emotion", "megc_class"}:
        need = ", ".join(sorted(missing)) or "emotion or megc_class"
        raise DataError(f"manifest {manifest} lacks column(s): {need}")
    default_ds = root.name
    if datasets:
        rows = [r for r in rows if (r.get("dataset") or default_ds) in datasets]
        if not rows:
            raise DataError(f"no samples of dataset(s) {', '.join(datasets)} in {manifest}")
    apex = np.empty((len(rows), APEX_SIZE, APEX_SIZE, 3), np.uint8)
    flow = np.empty((len(rows), FLOW_SIZE, FLOW_SIZE, 3), np.uint8)
    for i, r in enumerate(rows):
        sid = r["sample_id"]
        apex[i] = _read_image(root / (r.get("apex_image") or f"apex/{sid}.jpg"), APEX_SIZE, "apex")
        flow[i] = _read_image(root / (r.get("flow_image") or f"flow/{sid}.png"), FLOW_SIZE, "flow")
    ds_names = tuple((r.get("dataset") or default_ds).strip() for r in rows)
    return Dataset(
        root=str(root.resolve()),
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        sample_ids=tuple(r["sample_id"] for r in rows),
        datasets=ds_names,
        subjects=tuple(f"{d}/{r['subject'].strip()}" for d, r in zip(ds_names, rows, strict=True)),
        emotions=tuple((r.get("emotion") or "").strip().lower() for r in rows),
        megc_classes=tuple((r.get("megc_class") or "").strip().lower() for r in rows),
        apex=apex,
        flow=flow,
        action_units=tuple((r.get("action_units") or "").strip() for r in rows),
    )
