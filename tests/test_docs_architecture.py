"""docs/architecture.md stays true: every path it names exists, every page it links too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
#: A backticked path of the project: `symphony/...`, `tests/...`, `benchmarks/...`.
PATH = re.compile(r"`((?:symphony|tests|benchmarks)/[^`\s]*)`")
LINK = re.compile(r"\]\(([^)#\s]+\.md)(?:#([^)]*))?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def named_paths(text: str) -> list[str]:
    return sorted(set(PATH.findall(text)))


def test_architecture_names_only_paths_that_exist() -> None:
    paths = named_paths(PAGE.read_text())
    assert len(paths) > 40  # the page is a map: it names many places
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert missing == [], "docs/architecture.md names paths that do not exist"


def test_architecture_links_only_pages_and_headings_that_exist() -> None:
    links = LINK.findall(PAGE.read_text())
    assert ("actors.md", "who-may-await-whom") in links  # the await graph lives there
    missing = [page for page, _ in links if not (PAGE.parent / page).exists()]
    assert missing == []
    broken = [f"{p}#{a}" for p, a in links if a and a not in anchors(PAGE.parent / p)]
    assert broken == []


def test_architecture_path_check_sees_each_form() -> None:
    text = "`symphony/a.py`, `tests/b/`, `benchmarks/c.py` and `symphony.actors` `other/x`"
    assert named_paths(text) == ["benchmarks/c.py", "symphony/a.py", "tests/b/"]
