"""The dependency lock: requirements.lock pins the whole tree, agrees with pyproject.toml, and is what
the environment running the tests has installed (make installs from it; issue 19)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    """``{normalized name: version}`` from requirements.lock; every entry must carry a hash."""
    text = LOCK.read_text(encoding="utf-8")
    entries = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\\n((?:\s+--hash=sha256:[0-9a-f]{64}\s*\\?\n?)+)",
                         text, flags=re.M)
    pins = {_norm(n): v for n, v, _ in entries}
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith(("#", " "))]
    assert len(pins) == len(lines), "every line of requirements.lock is 'name==version' with hashes"
    return pins


def test_lock_pins_every_direct_dependency_at_the_pyproject_version() -> None:
    pins = locked()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    direct = project["dependencies"] + project["optional-dependencies"]["dev"]
    for req in direct:
        name, version = req.split("==")
        assert pins.get(_norm(name), "").split("+")[0] == version, f"{req} is not what the lock pins"
    for name in ("werkzeug", "mediapipe", "jinja2", "setuptools"):  # transitive and --no-deps ones
        assert name in pins


def test_installed_environment_matches_the_lock() -> None:
    if not (Path(sys.prefix) / ".installed").is_file():
        pytest.skip("not running in the .venv that make installs from the lock")
    out = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable"],
                         capture_output=True, text=True, check=True).stdout
    installed = {_norm(n): v for n, v in re.findall(r"^([^=\s]+)==(\S+)$", out, flags=re.M)}
    installed.pop("pip", None)
    pins = locked()
    assert installed == pins, {k: (installed.get(k), pins.get(k))
                               for k in set(installed) | set(pins) if installed.get(k) != pins.get(k)}


def test_make_installs_only_from_the_lock() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    installs = [ln.strip() for ln in makefile.splitlines() if "$(PY) -m pip install" in ln]
    assert installs and all("--no-deps" in ln for ln in installs)
    assert any("--require-hashes -r requirements.lock" in ln for ln in installs)


def test_no_package_registry_address_is_written_into_the_project() -> None:
    """Packages come through their registries' own clients (pip download, npm pack), never from an
    address built by hand."""
    address = re.compile(r"https?://[^/\s\"']*(npm|yarn|pypi|pythonhosted|debian)", re.I)
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for rel in tracked:
        path = REPO / rel
        if path.suffix in (".py", ".md", ".txt", ".toml", ".js", ".html", ".cfg", "") and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not address.search(text), f"{rel} names a registry address"
