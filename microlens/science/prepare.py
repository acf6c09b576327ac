"""``microlens prepare``: raw CASME II / SAMM frames and their coding xlsx -> a prepared dataset.

The output has exactly the format of ../shared/data/megc2019, which every training and evaluation
command reads::

    OUT/manifest.csv      one row a sample (MANIFEST_COLUMNS); written last, so an interrupted run
                          never leaves a folder that looks complete
    OUT/apex/<id>.jpg     224x224 RGB aligned face crop of the apex frame (optionally equalised)
    OUT/flow/<id>.png     28x28 RGB = (u, v, optical strain) of the onset->apex TV-L1 flow, each
                          channel min-max normalised per sample (microlens.face.flow.flow_image)
    OUT/prepare.json      settings, counts and what each filter dropped

Per sample: label filter -> onset and apex frame files -> face detection and landmark alignment
on the onset frame (``face.locate``) -> the SAME affine crops onset and apex (so alignment jitter
does not pollute the flow) -> flow image from the two crops -> optional equalisation of the apex
crop only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from microlens.errors import DataError, UsageError
from microlens.options import add_options, option, options_from_args
from microlens.science.annotations import PARSERS, Annotation

if TYPE_CHECKING:
    from microlens.face.track import FaceOptions

MANIFEST_COLUMNS = ("sample_id", "dataset", "subject", "episode", "emotion", "megc_class", "onset_frame",
                    "apex_frame", "offset_frame", "action_units", "apex_image", "flow_image")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
APEX_JPEG_QUALITY = 95
# the filters in the order they apply (label-filter reasons come from microlens.labels.label_of)
DROP_ORDER = ("duplicate row", "others", "fear", "no fine emotion", "not in label set", "missing frames",
              "no face")


@dataclass(frozen=True)
class Layout:
    """Where a raw dataset keeps a clip's frames."""

    pattern: str  # for messages and docs
    default_labels: str  # label set kept unless --labels says otherwise


# The frame number of a file is the last run of digits in its name, so both the CASME II names
# (img46.jpg, reg_img46.jpg) and the SAMM names (006_05562.jpg, 006_1_2_5562.jpg) work.
LAYOUTS: dict[str, Layout] = {
    "casme2": Layout("subNN/EPxx_yy/img<frame>.jpg", "casme2"),
    "samm": Layout("NNN/NNN_x_y/NNN_<frame>.jpg", "megc3"),
}


@dataclass(frozen=True)
class PrepareOptions:
    """What to prepare and where to write it."""

    # raw layout and coding sheet: casme2 or samm
    dataset: str = option("", "raw layout and coding sheet: casme2 or samm")
    # folder holding the subject folders of raw frames
    raw: str = option("", "folder of raw frames "
                          "(CASME II: subNN/EPxx_yy/img<N>.jpg; SAMM: NNN/NNN_x_y/NNN_<N>.jpg)")
    # the dataset's coding sheet
    annotations: str = option("", "the dataset's coding xlsx")
    # output folder (created)
    out: str = option("", "output folder for the prepared dataset")
    # enhancement of the apex crop
    equalize: str = option("none", "apex-image enhancement: none, hist or clahe")
    # label set kept; empty = the dataset's default
    labels: str = option("", "label set kept: casme2, megc3 or LABEL,LABEL,... "
                             "(default: casme2 for CASME II, megc3 for SAMM)")
    # replace an existing prepared dataset in --out
    overwrite: bool = option(False, "replace a prepared dataset already in --out")


@dataclass(frozen=True)
class Summary:
    """What ``prepare`` did: counts per filter, as printed and saved to OUT/prepare.json."""

    dataset: str
    raw: str
    annotations: str
    out: str
    labels: tuple[str, ...]  # label set of the label filter
    equalize: str
    rows: int  # rows in the coding sheet
    kept: int  # samples written
    dropped: dict[str, int]  # reason -> samples: 'others', 'fear', 'not in label set', 'missing frames', ...
    counts: dict[str, int]  # kept samples per emotion
    apex_estimated: tuple[str, ...]  # sample ids whose apex was missing or invalid: midpoint used
    dropped_samples: dict[str, str]  # sample id -> reason (with details)
    seconds: float
    recipe: dict[str, object] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A short human-readable report."""
        drops = ", ".join(f"{k} {v}" for k, v in self.dropped.items()) or "none"
        kept = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        sheet = Path(self.annotations).name
        took = f"{self.seconds:.1f} s"
        out = [f"prepare: {self.rows} rows in {sheet} -> {self.kept} samples in {self.out} ({took})",
               f"  label set: {','.join(self.labels)}; kept: {kept or 'none'}",
               f"  dropped: {drops}"]
        if self.apex_estimated:
            out.append(f"  apex estimated as the onset/offset midpoint: {', '.join(self.apex_estimated)}")
        return out


# ---------------------------------------------------------------------------------------------
# raw frames


def frame_number(path: Path) -> int | None:
    """The frame number in a frame file name: its last run of digits ('img46.jpg' -> 46)."""
    m = re.search(r"(\d+)\D*$", path.stem)
    return int(m.group(1)) if m else None


def frame_files(folder: Path) -> dict[int, Path]:
    """Frame number -> image file of one clip folder."""
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        n = frame_number(p) if p.suffix.lower() in FRAME_SUFFIXES else None
        if n is not None:
            out.setdefault(n, p)
    return out


def read_rgb(path: Path) -> np.ndarray | None:
    """An image file -> (H, W, 3) uint8 RGB (grey frames are expanded), or None if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def apex_of(a: Annotation) -> tuple[int | None, bool]:
    """The apex frame to use and whether it was estimated: a missing apex, or one before the onset,
    becomes the onset/offset midpoint (None when the offset is unknown too)."""
    if a.apex is not None and a.apex >= a.onset:
        return a.apex, False
    if a.offset is not None and a.offset > a.onset:
        return (a.onset + a.offset) // 2, True
    return None, True


def label_filter(a: Annotation, labels: tuple[str, ...]) -> tuple[str | None, str]:
    """The label ``a`` gets in ``labels``, or None and why it is dropped: the mapping training
    applies to the manifest row (fine emotion plus its MEGC class), see microlens.labels.label_of."""
    from microlens.labels import TO_MEGC, label_of

    return label_of(a.emotion, TO_MEGC.get(a.emotion, ""), labels)


# ---------------------------------------------------------------------------------------------
# one sample


@dataclass(frozen=True)
class Sample:
    """One prepared sample, before writing."""

    apex: np.ndarray  # (224, 224, 3) uint8 RGB, equalised as asked
    flow: np.ndarray  # (28, 28, 3) uint8 (u, v, strain)
    apex_frame: int


def prepare_sample(folder: Path, a: Annotation, equalize: str, face_options: FaceOptions | None = None
                   ) -> Sample | tuple[str, str]:
    """Crop, align and compute the flow of one clip; or (reason, detail) when it is dropped."""
    from microlens.face import track as face
    from microlens.face.flow import flow_image
    from microlens.recognize.preprocess import equalize as enhance

    if not folder.is_dir():
        return "missing frames", f"no folder {folder}"
    apex, _ = apex_of(a)
    if apex is None:
        return "missing frames", f"no usable apex frame (onset {a.onset}, apex {a.apex}, offset {a.offset})"
    files = frame_files(folder)
    missing = [n for n in (a.onset, apex) if n not in files]
    if missing:
        return "missing frames", f"no frame {', '.join(map(str, missing))} in {folder}"
    onset_img, apex_img = read_rgb(files[a.onset]), read_rgb(files[apex])
    if onset_img is None or apex_img is None:
        bad = files[a.onset] if onset_img is None else files[apex]
        return "missing frames", f"unreadable image {bad}"
    affine = face.locate(onset_img, face_options)  # (2, 3) image -> crop, or None
    if affine is None:
        return "no face", f"no face in onset frame {files[a.onset]}"
    onset_crop = face.crop(onset_img, affine)  # (224, 224, 3)
    apex_crop = face.crop(apex_img, affine)  # same affine: no alignment jitter in the flow
    return Sample(apex=enhance(apex_crop, equalize), flow=flow_image(onset_crop, apex_crop), apex_frame=apex)


# ---------------------------------------------------------------------------------------------
# the whole dataset


def _check(options: PrepareOptions, face_options: FaceOptions | None) -> tuple[Layout, tuple[str, ...]]:
    """Validate the options; UsageError / DataError with one line."""
    from microlens.labels import resolve
    from microlens.recognize.preprocess import EQUALIZERS

    if not options.dataset:
        raise UsageError(f"--dataset is required: one of {', '.join(LAYOUTS)}")
    layout = LAYOUTS.get(options.dataset)
    if layout is None:
        raise UsageError(f"unknown dataset {options.dataset!r}; choose one of {', '.join(LAYOUTS)}")
    for flag in ("raw", "annotations", "out"):
        if not getattr(options, flag):
            raise UsageError(f"--{flag} is required")
    if options.equalize not in EQUALIZERS:
        raise UsageError(f"unknown equalisation {options.equalize!r}; choose one of {', '.join(EQUALIZERS)}")
    raw = Path(options.raw)
    if not raw.is_dir():
        raise DataError(f"raw folder not found: {raw}")
    out = Path(options.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if (out / "manifest.csv").exists() and not options.overwrite:
        raise UsageError(f"{out} already holds a prepared dataset; pass --overwrite to replace it")
    if out.resolve() == raw.resolve():
        raise UsageError("--out must not be the raw folder")
    labels = resolve(options.labels or layout.default_labels)
    if face_options is not None:
        from microlens.face.track import PICKERS

        if face_options.face not in PICKERS and not str(face_options.face).isdigit():
            raise UsageError(f"--face must be {', '.join(PICKERS)} or a number (0 = largest), "
                             f"not {face_options.face!r}")
    return layout, labels


def _clear(out: Path) -> None:
    """Remove a previous prepared dataset in ``out`` (manifest first, so it never looks complete)."""
    for name in ("manifest.csv", "prepare.json"):
        (out / name).unlink(missing_ok=True)
    for sub, ext in (("apex", ".jpg"), ("flow", ".png")):
        if (out / sub).is_dir():
            for p in (out / sub).iterdir():
                if p.suffix == ext:
                    p.unlink()


def _recipe(equalize: str) -> dict[str, object]:
    from microlens.face.flow import FLOW_SIZE, WORK_SIZE
    from microlens.face.track import CROP_SIZE

    return {
        "face": "face.locate on the onset frame; the same affine crops onset and apex",
        "apex": f"{CROP_SIZE}x{CROP_SIZE} RGB crop of the apex frame, equalisation {equalize!r}",
        "flow": f"TV-L1 onset->apex on grey crops resized to {WORK_SIZE}x{WORK_SIZE}; (u, v, optical strain) "
                f"resized to {FLOW_SIZE}x{FLOW_SIZE}, each channel min-max normalised to 0..255 per sample; "
                "R=u (right +), G=v (down +), B=strain",
    }


def _check_raw(raw: Path, rows: list[Annotation], dataset: str, layout: Layout) -> None:
    """DataError unless ``raw`` holds at least one of the sheet's subject folders."""
    subjects = {a.subject for a in rows}
    if not any((raw / s).is_dir() for s in subjects):
        example = sorted(subjects)[0]
        raise DataError(f"{raw} holds none of the sheet's subject folders (e.g. {example}/): expected the "
                        f"{dataset} layout {layout.pattern}")


def _write_sample(out: Path, a: Annotation, sample: Sample) -> dict[str, str]:
    """Write the apex JPEG and flow PNG of ``sample`` into ``out``; return its manifest row."""
    from microlens.labels import TO_MEGC

    sid = a.sample_id
    apex_rel, flow_rel = f"apex/{sid}.jpg", f"flow/{sid}.png"
    cv2.imwrite(str(out / apex_rel), cv2.cvtColor(sample.apex, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, APEX_JPEG_QUALITY])
    cv2.imwrite(str(out / flow_rel), cv2.cvtColor(sample.flow, cv2.COLOR_RGB2BGR))
    return {
        "sample_id": sid, "dataset": a.dataset, "subject": a.subject, "episode": a.episode,
        "emotion": a.emotion, "megc_class": TO_MEGC.get(a.emotion, ""), "onset_frame": str(a.onset),
        "apex_frame": str(sample.apex_frame), "offset_frame": "" if a.offset is None else str(a.offset),
        "action_units": a.action_units, "apex_image": apex_rel, "flow_image": flow_rel,
    }


def _write_records(out: Path, summary: Summary, manifest: list[dict[str, str]]) -> None:
    """Write OUT/prepare.json, then (unless every sample was dropped: DataError) OUT/manifest.csv, last."""
    (out / "prepare.json").write_text(json.dumps(asdict(summary), indent=2) + "\n")
    if not manifest:
        drops = ", ".join(f"{k} {v}" for k, v in summary.dropped.items())
        raise DataError(f"no samples left after the filters ({drops}); see {out / 'prepare.json'}")
    tmp = out / "manifest.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        w.writeheader()
        w.writerows(manifest)
    os.replace(tmp, out / "manifest.csv")  # last: the folder is complete only now


# Read sheet -> per sample crop/flow/write -> manifest, top to bottom, with every drop counted where it
# happens.
def prepare(options: PrepareOptions, face_options: FaceOptions | None = None,
            progress: Callable[[str, float], None] | None = None) -> Summary:
    """Build a prepared dataset from raw frames and a coding sheet; return what was kept and dropped."""
    t0 = time.monotonic()
    layout, labels = _check(options, face_options)
    rows = PARSERS[options.dataset](options.annotations)
    raw, out = Path(options.raw), Path(options.out)
    _check_raw(raw, rows, options.dataset, layout)
    if options.overwrite:
        _clear(out)
    (out / "apex").mkdir(parents=True, exist_ok=True)
    (out / "flow").mkdir(parents=True, exist_ok=True)

    dropped: dict[str, int] = {}
    dropped_samples: dict[str, str] = {}
    estimated: list[str] = []
    manifest: list[dict[str, str]] = []
    seen: set[str] = set()

    def drop(key: str, reason: str, detail: str = "") -> None:
        dropped[reason] = dropped.get(reason, 0) + 1
        dropped_samples[key] = f"{reason}: {detail}" if detail else reason

    report = progress or (lambda stage, frac: None)
    for i, a in enumerate(rows):
        report(a.sample_id, i / len(rows))
        if a.sample_id in seen:
            drop(f"{a.sample_id} (row {i + 1} of the table)", "duplicate row")
            continue
        seen.add(a.sample_id)
        label, why = label_filter(a, labels)
        if label is None:
            drop(a.sample_id, why, "" if why == a.emotion else f"emotion {a.emotion!r}")
            continue
        result = prepare_sample(raw / a.subject / a.episode, a, options.equalize, face_options)
        if isinstance(result, tuple):
            drop(a.sample_id, *result)
            continue
        if apex_of(a)[1]:
            estimated.append(a.sample_id)
        manifest.append(_write_sample(out, a, result))
    report("done", 1.0)

    summary = Summary(
        dataset=options.dataset, raw=str(raw), annotations=str(options.annotations), out=str(out),
        labels=labels, equalize=options.equalize, rows=len(rows), kept=len(manifest),
        dropped=dict(sorted(dropped.items(), key=lambda kv: (DROP_ORDER + (kv[0],)).index(kv[0]))),
        counts=dict(Counter(m["emotion"] for m in manifest)), apex_estimated=tuple(estimated),
        dropped_samples=dropped_samples, seconds=round(time.monotonic() - t0, 2),
        recipe=_recipe(options.equalize),
    )
    _write_records(out, summary, manifest)
    return summary


# ---------------------------------------------------------------------------------------------
# CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prepare`` subcommand."""
    from microlens.face.track import FaceOptions

    p = subparsers.add_parser(
        "prepare", help="raw CASME II / SAMM frames + coding xlsx -> prepared dataset",
        description="Build a prepared dataset (manifest.csv, apex/, flow/) from raw frames and a coding "
                    "sheet: face alignment on the onset frame, apex crop, TV-L1 onset->apex flow.")
    add_options(p, PrepareOptions)
    add_options(p, FaceOptions, skip=("margin",))  # the aligned crop has a fixed framing
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``prepare`` from parsed arguments; the summary goes to stderr and OUT/prepare.json."""
    from microlens.face.track import FaceOptions
    from microlens.progress import progress_bar

    options = options_from_args(PrepareOptions, args)
    face_options = options_from_args(FaceOptions, args)
    with progress_bar("prepare") as bar:
        summary = prepare(options, face_options, bar)
    print("\n".join(summary.lines()), file=sys.stderr)
    return 0
