"""Preprocessing parity (issue 8): the flow and apex inputs that inference builds from a video must
be the ones that training builds from the same frames (``microlens prepare``), and the checkpoint's
recorded recipe must be the one inference applies. A drift in either path fails here.

The clip is the astronaut face with a known expression warp (tests/rawdata.py), written once as
JPEG frames in the CASME II layout (the training path reads those) and once encoded as H.264 (the
inference path decodes, tracks and aligns it, as ``microlens analyze`` does).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from rawdata import frames, subject_scene

from microlens.face.flow import flow_image
from microlens.face.store import CropStore, FaceSink
from microlens.face.track import CROP_SIZE, FaceTracker
from microlens.recognize.models import model_input
from microlens.science.annotations import Annotation
from microlens.science.prepare import prepare_sample
from microlens.science.synthetic import write_video
from microlens.video.decode import frames as decode
from microlens.video.decode import open_clip

ONSET, APEX, OFFSET = 12, 18, 26  # frame numbers of the expression; frames 0..11 are still


class _NullWriter:
    """Stands in for the face-video writer: the parity concerns the gray flow inputs."""

    def write(self, image: np.ndarray, time_s: float) -> None:
        pass


def _clip(emotion: str) -> dict[int, np.ndarray]:
    """Frame number -> (480, 640, 3) uint8: still neutral face, then the expression."""
    scene = subject_scene(0)
    moving = frames(scene, emotion, ONSET, APEX, OFFSET, np.random.default_rng(7))
    still = frames(scene, emotion, 0, 0, 0, np.random.default_rng(8))[0]  # apex 0 -> no motion at 0
    return {n: moving.get(n, still) for n in range(OFFSET + 1)}


def _training_flow(imgs: dict[int, np.ndarray], tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """What ``microlens prepare`` makes of the clip: (apex crop, flow image)."""
    import cv2

    folder = tmp_path / "sub01" / "EP01"
    folder.mkdir(parents=True)
    for n, img in imgs.items():
        cv2.imwrite(str(folder / f"img{n}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 95])
    ann = Annotation(dataset="casme2", subject="sub01", episode="EP01", onset=ONSET, apex=APEX,
                     offset=OFFSET, action_units="12", emotion="happiness")
    sample = prepare_sample(folder, ann, "none")
    assert not isinstance(sample, tuple), sample
    return sample.apex, sample.flow


def tracked_store(imgs: dict[int, np.ndarray], tmp_path) -> tuple[CropStore, np.ndarray]:
    """The inference path up to the flow: encode as H.264, decode, track, write the gray store (as
    ``microlens analyze`` does). Returns the store (the caller closes it) and the apex crop."""
    path = str(tmp_path / "clip.mp4")
    write_video(path, [imgs[n] for n in sorted(imgs)], fps=30.0, crf=12)
    tracker, store = FaceTracker(), CropStore(str(tmp_path))
    sink = FaceSink(_NullWriter(), store, np.zeros((CROP_SIZE, CROP_SIZE, 3), np.uint8))
    apex_crop = None
    try:
        for fr in decode(open_clip(path)):
            face = tracker(fr)
            sink.put(None if face is None else face.crop, fr.time_s, None if face is None else face.affine)
            if fr.index == APEX and face is not None:
                apex_crop = face.crop
    finally:
        tracker.close()
    assert apex_crop is not None, "face lost"
    return store, apex_crop


def prepare_pair(imgs: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``prepare``'s geometry: onset and apex cropped with the onset's affine, as (128, 128) gray."""
    from microlens.face import track as face
    from microlens.face.flow import WORK_SIZE, _gray

    affine = face.locate(imgs[ONSET])
    assert affine is not None
    return _gray(face.crop(imgs[ONSET], affine), WORK_SIZE), _gray(face.crop(imgs[APEX], affine), WORK_SIZE)


# emotion -> the flow channel its motion is in (tests/rawdata.py MOTIONS): 0 = u, 1 = v
DOMINANT = {"happiness": 0, "surprise": 1, "disgust": 1, "repression": 1}
MIN_FIELD_CORRELATION = 0.85  # raw TV-L1 (u, v) fields; measured 0.90-0.99 (benchmarks/parity.py)
MAX_RELATIVE_EPE = 0.5  # mean end-point error / mean flow magnitude; measured 0.13-0.35


Pair = tuple[np.ndarray, np.ndarray]  # (onset, apex) (128, 128) uint8 gray crops


def field_agreement(ref: Pair, got: Pair) -> tuple[float, float]:
    """Correlation and relative end-point error of the raw onset->apex TV-L1 fields of two
    (onset, apex) pairs of (128, 128) uint8 gray crops."""
    from microlens.face.flow import tvl1

    f1, f2 = tvl1(*ref), tvl1(*got)  # (128, 128, 2) pixels
    epe = np.linalg.norm(f1 - f2, axis=2).mean() / max(float(np.linalg.norm(f1, axis=2).mean()), 1e-9)
    return float(np.corrcoef(f1.ravel(), f2.ravel())[0, 1]), float(epe)


@pytest.mark.slow
@pytest.mark.parametrize("emotion", sorted(DOMINANT))
def test_inference_flow_matches_training_flow(emotion: str, tmp_path) -> None:
    """The flow image inference builds equals, on its moving channel, the one ``prepare`` builds
    from the same frames, and the raw fields agree. Before the apex crop was re-framed with the
    onset's alignment, the tracker's per-frame alignment hid the motion: field correlation 0.05 and
    relative EPE 3.3 for surprise (benchmarks/results/parity.json)."""
    imgs = _clip(emotion)
    train_apex, train_flow = _training_flow(imgs, tmp_path)
    store, infer_apex = tracked_store(imgs, tmp_path)
    try:
        pair = store.pair(ONSET, APEX)
    finally:
        store.close()
    assert pair is not None
    infer_flow = flow_image(*pair)
    c = DOMINANT[emotion]
    a, b = train_flow[..., c].ravel().astype(float), infer_flow[..., c].ravel().astype(float)
    r = float(np.corrcoef(a, b)[0, 1])
    assert r >= 0.95, f"{emotion}: flow image channel {c} correlation {r:.3f}, training vs inference"
    corr, epe = field_agreement(prepare_pair(imgs), pair)
    assert corr >= MIN_FIELD_CORRELATION and epe <= MAX_RELATIVE_EPE, (emotion, corr, epe)
    # the apex crops frame the same face region (alignment by the same face module)
    g1, g2 = train_apex.mean(2).ravel(), infer_apex.mean(2).ravel()
    assert float(np.corrcoef(g1, g2)[0, 1]) >= 0.85


def test_model_input_recipe_is_the_checkpoints() -> None:
    """Inference applies exactly the input recipe training recorded: the same function, the same
    preprocessing dict, for both streams."""
    from microlens.recognize.recognizer import load_model

    rec = load_model("casme2", backend="torch")
    rng = np.random.default_rng(0)
    apex = rng.integers(0, 256, (2, 224, 224, 3), dtype=np.uint8)
    flow = rng.integers(0, 256, (2, 28, 28, 3), dtype=np.uint8)
    for stream in ("apex", "flow"):
        x = model_input(stream, apex, flow, rec.preprocessing)
        assert x.dtype == np.float32 and x.ndim == 4
    assert rec.card["training"]["apex_arch"] == "expressionnet"
    assert rec.preprocessing["apex_size"] == 64 and rec.preprocessing["equalization"] == "none"


@pytest.mark.parametrize("name", ["casme2", "megc3"])
def test_stored_apex_input_is_the_full_crops_model_input(name: str, tmp_path) -> None:
    """analyze keeps each face's apex input losslessly (CropStore, side lossless_apex_size) instead
    of reading the apex crop back from the H.264 face video: for the shipped models and the FER2013
    prior, the stored crop gives exactly the model input the original 224 px crop gives."""
    from microlens.analyze import lossless_apex_size
    from microlens.recognize.expression import INPUT_SIZE
    from microlens.recognize.models import apex_input
    from microlens.recognize.recognizer import load_model

    rec = load_model(name, backend="torch")
    size = lossless_apex_size(rec)
    assert size == INPUT_SIZE == rec.preprocessing["apex_size"]
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (3, CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8)
    store = CropStore(str(tmp_path), size)
    try:
        for c in crops:
            store.add(np.zeros((128, 128), np.uint8), np.eye(2, 3), c)
        store.add(None)
        kept = np.stack([store.apex(i) for i in range(3)])  # (3, S, S, 3)
        assert store.apex(3) is None and store.get(3) is None and store.get(0) is not None
    finally:
        store.close()
    flow = np.zeros((3, 28, 28, 3), np.uint8)
    assert np.array_equal(model_input("apex", kept, flow, rec.preprocessing),
                          model_input("apex", crops, flow, rec.preprocessing))
    assert np.array_equal(apex_input(kept, INPUT_SIZE), apex_input(crops, INPUT_SIZE))  # the prior's


def test_equalised_apex_is_read_from_the_face_video() -> None:
    """A checkpoint that equalises the apex (on the full crop) or reads another side gets no stored
    apex input: a resized crop would not give its input exactly."""
    from types import SimpleNamespace

    from microlens.analyze import lossless_apex_size

    def rec(size: int, eq: str) -> Any:
        return SimpleNamespace(preprocessing={"apex_size": size, "equalization": eq})

    assert lossless_apex_size(rec(64, "none")) == 64
    assert lossless_apex_size(rec(64, "clahe")) == 0
    assert lossless_apex_size(rec(32, "none")) == 0
