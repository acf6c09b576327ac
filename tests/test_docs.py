"""The README and docs/ pages: generated tables agree with benchmarks/results, links resolve.

Tables between `<!-- table:NAME -->` markers are produced by benchmarks/tables.py from the benchmark
JSON; these tests fail when a page and its JSON disagree (run `python benchmarks/tables.py`).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_tables():
    spec = importlib.util.spec_from_file_location("microlens_doc_tables", REPO / "benchmarks" / "tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


tables = _load_tables()
DOCS = tables.doc_files(REPO)
BLOCKS = [block for path in DOCS for block in tables.blocks(path)]

FENCED = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def test_docs_pages_exist():
    names = {p.name for p in DOCS}
    assert {"README.md", "usage.md", "science.md", "web.md", "development.md"} <= names


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_generated_block_matches_json(block):
    assert block.name in tables.TABLES, f"{block.where}: no generator registered in benchmarks/tables.py"
    assert block.body == tables.render(block.name), (
        f"{block.where} differs from benchmarks/results; run `python benchmarks/tables.py`")


@pytest.mark.parametrize("name", sorted(tables.TABLES))
def test_table_renders(name):
    text = tables.TABLES[name]()
    lines = text.strip("\n").split("\n")
    assert len(lines) >= 3, "a header, a rule and at least one row"
    assert re.fullmatch(r"\|(---\|)+", lines[1]), lines[1]
    columns = lines[1].count("|") - 1
    for line in lines:
        assert line.startswith("| ") or line == lines[1], line
        assert line.endswith("|"), line
        cells = [c for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == columns, f"{len(cells)} cells, header has {columns}: {line}"
        assert all(c.strip() for c in cells), f"empty cell: {line}"


@pytest.mark.parametrize("name", sorted(tables.TABLES))
def test_table_is_used_in_the_docs(name):
    assert name in {b.name for b in BLOCKS}, f"table {name!r} is registered but no page shows it"


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_markers_are_paired(path):
    text = INLINE_CODE.sub("", FENCED.sub("", path.read_text(encoding="utf-8")))
    opened = re.findall(r"<!-- table:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /table:([\w-]+) -->", text)
    found = [b.name for b in tables.blocks(path)]
    assert opened == closed == found, f"unpaired or nested table markers in {path.name}"


def test_readme_is_a_front_page():
    lines = (REPO / "README.md").read_text(encoding="utf-8").split("\n")
    assert len(lines) < 250
    top = "\n".join(lines[:40])
    assert "make serve" in top and "make test" in top


def test_readme_keeps_the_intended_use():
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    for phrase in ("research", "informed consent", "not proof of what a person feels", "not a lie detector",
                   "EU AI Act", "workplaces and educational institutions"):
        assert phrase in text, phrase


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCED.sub("", path.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_relative_links_and_anchors_resolve(path):
    text = INLINE_CODE.sub("", FENCED.sub("", path.read_text(encoding="utf-8")))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{path.name}: " + ", ".join(broken)


def test_check_and_rewrite_on_a_stale_page(tmp_path):
    page = tmp_path / "page.md"
    name = sorted(tables.TABLES)[0]
    page.write_text(f"intro\n\n<!-- table:{name} -->\n| typed | by hand |\n<!-- /table:{name} -->\n\n"
                    f"```\n<!-- table:nosuch -->\n<!-- /table:nosuch -->\n```\nend\n", encoding="utf-8")
    assert tables.stale([page]) == [f"{page}: table:{name}"]
    assert tables.rewrite(page) == [name]
    assert tables.stale([page]) == []
    text = page.read_text(encoding="utf-8")
    assert text.startswith("intro\n\n") and text.endswith("<!-- /table:nosuch -->\n```\nend\n")
    assert tables.rewrite(page) == []


def test_unknown_table_is_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- table:nosuch -->\n<!-- /table:nosuch -->\n", encoding="utf-8")
    [problem] = tables.stale([page])
    assert "table:nosuch" in problem and "no generator" in problem


def test_check_passes_on_the_repository(capsys):
    assert tables.main(["--check"]) == 0
