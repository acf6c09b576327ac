"""The declared layer order (pyproject.toml, [tool.importlinter]) holds, and the check can fail:
an upward import or an import circle added to a copy of the package breaks a contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _copy(tmp: Path) -> Path:
    """A copy of the package's Python files and pyproject.toml under ``tmp``."""
    shutil.copytree(ROOT / "microlens", tmp / "microlens", ignore=shutil.ignore_patterns(
        "assets", "static", "templates", "translations", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def _lint(tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp)}
    return subprocess.run([str(LINT), "--config", "pyproject.toml", "--no-cache"], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=300)


def _add_import(path: Path, line: str) -> None:
    text = path.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "\n" + rest)


def test_the_package_keeps_its_contracts(tmp_path: Path) -> None:
    done = _lint(_copy(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    tmp = _copy(tmp_path)
    _add_import(tmp / "microlens" / "video" / "frametimes.py", "import microlens.report.types  # noqa")
    done = _lint(tmp)
    assert done.returncode != 0
    assert "Stages import only downwards" in done.stdout and "BROKEN" in done.stdout
    assert "microlens.video.frametimes -> microlens.report.types" in done.stdout


def test_an_import_circle_inside_a_package_breaks_the_acyclic_contract(tmp_path: Path) -> None:
    tmp = _copy(tmp_path)
    _add_import(tmp / "microlens" / "spot" / "intervals.py", "import microlens.spot.spotting  # noqa")
    done = _lint(tmp)
    assert done.returncode != 0
    assert "No import circles" in done.stdout and "BROKEN" in done.stdout


def test_the_install_declares_every_package() -> None:
    """pyproject.toml lists each package folder (one with an __init__.py), and nothing else: a
    missing one is left out of a non-editable install, a wrong one fails the install itself."""
    import tomllib

    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "microlens").rglob("__init__.py")}
    assert declared == found
