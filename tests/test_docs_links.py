"""Every link in the user documentation resolves inside the repository (or is a public web URL).

A clone of the project has no ``../shared`` or other sibling folders: a relative link must name a file of the
repository, and a ``#fragment`` into a markdown file must name one of its headings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "BENCHMARKS.md", *(ROOT / "docs").glob("*.md")])
INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
PUBLIC = ("https://", "http://", "mailto:")


def _prose(text: str) -> str:
    """The markdown without fenced code blocks and inline code, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def links_in(markdown: str) -> list[str]:
    """The targets of the inline, image and reference-style links of a markdown text."""
    text = _prose(markdown)
    return INLINE.findall(text) + REFERENCE.findall(text)


def links(path: Path) -> list[str]:
    return links_in(path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}


def test_the_documents_exist_and_docs_are_linked_from_the_readme():
    assert (ROOT / "docs").is_dir() and len(DOCUMENTS) > 3
    readme_targets = {target.split("#")[0] for target in links(ROOT / "README.md")}
    for page in (ROOT / "docs").glob("*.md"):
        reachable = f"docs/{page.name}" in readme_targets or page.name in {
            t.split("#")[0] for t in links(ROOT / "docs" / "README.md")}
        assert reachable, f"docs/{page.name} is linked from neither README.md nor docs/README.md"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_inside_the_repository(document):
    for target in links(document):
        if target.startswith(PUBLIC):
            continue
        assert "://" not in target and not target.startswith("/"), f"{document.name}: {target} is not a relative link"
        path_part, _, fragment = target.partition("#")
        resolved = (document.parent / path_part).resolve() if path_part else document
        assert resolved.is_relative_to(ROOT), f"{document.name}: {target} leaves the repository"
        assert resolved.exists(), f"{document.name}: {target} names no file ({resolved})"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{document.name}: {target} names no heading of {resolved.name}"


def test_the_link_finder_sees_inline_reference_and_image_links_but_not_code():
    sample = "[a](x.md) ![b](img.png) `[c](no.md)`\n```\n[d](no2.md)\n```\n[ref]: y.md#part\n"
    assert sorted(links_in(sample)) == ["img.png", "x.md", "y.md#part"]
    assert slug("4. Baselines as the paper configured them") == "4-baselines-as-the-paper-configured-them"
    assert slug("`study.json`") == "studyjson"
