"""An analysis' result files: report.<fmt> for every format, face.jpg, one micro-<n>.jpg filmstrip
per micro-expression, original.mp4 where the upload does not play in browsers as it is, and the
summary the analyses database keeps."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("microlens.web.results")

REPORT_FORMATS = ("json", "csv", "timeline", "vtt", "html", "eaf", "boris")


def write_results(report: Any, out: Path, source: Path) -> dict[str, Any]:
    """Write report.<fmt> for every format, face.jpg and micro-<n>.jpg, and the original video in a
    form browsers play (original.py; transcoded once where the upload is not); return the summary."""
    from microlens.report.writers import WRITERS, save
    from microlens.web.original import prepare

    for fmt in REPORT_FORMATS:
        if fmt in WRITERS:
            save(report, out / f"report.{fmt}", fmt)
    d = report.to_dict()
    events = d.get("events") or []
    micros = [e for e in events if e.get("kind") == "micro"]
    stats = d.get("stats") or {}
    images = getattr(report, "images", None)
    rep_t = float(getattr(images, "representative_s", 0.0) or 0.0)
    try:
        if images is not None and images.representative is not None:
            _save_images(images, report.events, out)
        else:
            video = out / "face.mp4" if (out / "face.mp4").is_file() else source
            make_images(video, out, rep_t, micros)
    except Exception as e:  # noqa: BLE001 - images are a nicety; the report stands without them
        log.warning("could not make result images: %s", e)
    return {
        "duration_s": float(d.get("duration_s") or 0.0),
        "events": len(events),
        "micro_count": int(stats.get("micro_count", len(micros))),
        "macro_count": int(stats.get("macro_count", len(events) - len(micros))),
        "emotion_changes": int(stats.get("emotion_changes", 0)),
        "micro_ratio_percent": float(stats.get("micro_ratio_percent", 0.0)),
        "uncertain_count": int(stats.get("uncertain_count", 0)),
        "talking_count": int(stats.get("talking_count", 0)),
        "representative_s": rep_t,
        "face_video": (out / "face.mp4").is_file(),
        "original": prepare(source, out),  # "upload", "original.mp4" or "" (none)
    }


def _jpeg(path: Path, image: np.ndarray, quality: int = 90) -> None:
    import cv2

    cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, quality])


def _zoom(image: np.ndarray, side: int = 448) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    s = side / max(h, w)
    interp = cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=interp)


def _strip(trio: list[np.ndarray]) -> np.ndarray:
    """Three face images side by side, 160 px wide each: (h, 480, 3)."""
    import cv2

    tiles = [cv2.resize(t, (160, round(160 * t.shape[0] / t.shape[1])), interpolation=cv2.INTER_AREA)
             for t in trio]
    h = min(t.shape[0] for t in tiles)
    return np.concatenate([t[:h] for t in tiles], axis=1)


def _save_images(images: Any, events: Any, out: Path) -> None:
    """face.jpg and micro-<n>.jpg from the Report's own images (n counts micro events in order)."""
    _jpeg(out / "face.jpg", _zoom(images.representative))
    micro_index: dict[int, int] = {}
    for i, e in enumerate(events):
        if e.kind == "micro":
            micro_index[i] = len(micro_index)
    for fs in images.filmstrips:
        n = micro_index.get(fs.event)
        if n is not None:
            _jpeg(out / f"micro-{n}.jpg", _strip([fs.onset, fs.apex, fs.offset]), 88)


def _grab(video: Path, times: list[float], max_side: int = 480) -> list[np.ndarray | None]:
    """The decoded frames nearest to each of ``times`` (one streaming pass)."""
    from microlens.video.decode import frames, open_clip

    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[np.ndarray | None] = [None] * len(times)
    k = 0
    prev = None
    for f in frames(open_clip(str(video)), max_side=max_side):
        while k < len(order) and f.time_s >= times[order[k]]:
            i = order[k]
            if prev is not None and abs(prev.time_s - times[i]) < abs(f.time_s - times[i]):
                out[i] = prev.image
            else:
                out[i] = f.image
            k += 1
        if k >= len(order):
            break
        prev = f
    while k < len(order) and prev is not None:
        out[order[k]] = prev.image
        k += 1
    return out


def make_images(video: Path, out: Path, rep_t: float, micros: list[dict[str, Any]]) -> None:
    """face.jpg and micro-<n>.jpg decoded from a video, for reports that carry no images."""
    times = [rep_t]
    for e in micros:
        times += [float(e["start_s"]), float(e["apex_s"]), float(e["end_s"])]
    imgs = _grab(video, times)
    if imgs[0] is not None:
        _jpeg(out / "face.jpg", _zoom(imgs[0]))
    for n in range(len(micros)):
        trio = imgs[1 + 3 * n: 4 + 3 * n]
        if all(t is not None for t in trio):
            _jpeg(out / f"micro-{n}.jpg", _strip([t for t in trio if t is not None]), 88)
