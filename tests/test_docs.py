"""The documentation: a README that fits on a screen, links that resolve, generated parts in step."""

from __future__ import annotations

import re

import pytest

from aitl import cycles
from tests.conftest import ROOT

README_MAX_LINES = 250
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _documents():
    return [
        ROOT / "README.md",
        ROOT / "BENCHMARKS.md",
        ROOT / "plugins" / "README.md",
        *(ROOT / "docs").glob("*.md"),
    ]


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines: move detail to docs/"


def test_readme_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert pages, "docs/ has no pages"
    assert [p for p in pages if f"]({p})" not in readme] == []


@pytest.mark.parametrize("document", _documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(document):
    broken = []
    for target in LINK.findall(document.read_text()):
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        path = target.split("#", 1)[0]
        if not (document.parent / path).exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("level", cycles.LEVELS)
def test_dags_page_carries_the_generated_stage_list(level):
    text = (ROOT / "docs" / "dags.md").read_text()
    block = re.search(rf"<!-- stages:{level} -->\n(.*?)\n<!-- /stages:{level} -->", text, re.S)
    assert block is not None, f"docs/dags.md has no stages:{level} block"
    assert block[1] == cycles.stages_markdown(level), "regenerate it: python -m aitl.cycles"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_docstring_links_to_the_method_resolve():
    headings = re.findall(r"^#+ (.+)$", (ROOT / "docs" / "statistics.md").read_text(), re.M)
    anchors = {_anchor(h) for h in headings}
    linked = {
        anchor
        for path in (ROOT / "include").rglob("*.py")
        for anchor in re.findall(r"docs/statistics\.md#([\w-]+)", path.read_text())
    }
    assert linked, "no module links to docs/statistics.md"
    assert sorted(linked - anchors) == []
