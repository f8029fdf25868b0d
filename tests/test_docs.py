"""Every document the code cites exists in the repository, with the section it names.

The code cites its science and protocol sources as ``EVIDENCE.md §7(ii)`` or
``PROTOCOLS.md §3.3``; those documents live in ``docs/``. This test reads every text file the
package, tests, benchmarks and device profiles hold (and the ONNX models' metadata) and fails on a
citation of a missing document or section, or on a path outside the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# an all-capitals document name, optionally followed by a section: "§7(ii)", "§1.4", "7(iii)",
# "section 7(ii)" (roman items are sub-sections of a numbered section)
CITE = re.compile(
    r"\b([A-Z][A-Z_]+\.md)`{0,2}\)?\s*(?:§\s*|section\s+)?"
    r"((?<=§)\d+(?:\.\d+)?(?:\([ivx]+\))?|(?<=section )\d+(?:\.\d+)?(?:\([ivx]+\))?"
    r"|\d+(?:\.\d+)?\([ivx]+\)|\d+\.\d+)?"
)
SCANNED = ("addictidx", "tests", "benchmarks", "firmware_profiles", "docs")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".json", ".txt", ".html", ".js", ".cfg", ".yaml", ".yml"}
# copied third-party provenance (test vectors name files of the repositories they came from),
# and this test's own counter-examples
EXTERNAL = {Path("tests/data/ble_test_vectors.json"), Path("tests/test_docs.py")}


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", *SCANNED, "README.md", "pyproject.toml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        files = [Path(p) for p in out]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (e.g. an sdist)
        files = [
            p.relative_to(ROOT) for d in SCANNED for p in (ROOT / d).rglob("*") if p.is_file()
        ]
        files += [Path("README.md"), Path("pyproject.toml")]
    return [f for f in files if f not in EXTERNAL and (ROOT / f).exists()]


def _texts():
    for rel in _tracked_files():
        path = ROOT / rel
        if path.suffix in TEXT_SUFFIXES:
            yield rel, path.read_text(encoding="utf-8", errors="replace")
        elif path.suffix == ".onnx":
            onnx = pytest.importorskip("onnx")
            model = onnx.load(str(path), load_external_data=False)
            meta = " ".join(f"{p.key} {p.value}" for p in model.metadata_props)
            yield rel, f"{model.doc_string} {model.graph.doc_string} {meta}"


def _headings(doc: Path) -> list[str]:
    return [ln for ln in doc.read_text(encoding="utf-8").splitlines() if ln.startswith("#")]


def _section_exists(doc: Path, section: str) -> bool:
    heads = _headings(doc)
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\(([ivx]+)\))?", section)
    assert m, section
    major, minor, roman = m.groups()
    if minor is not None:
        return any(re.match(rf"#+\s*{major}\.{minor}\b", h) for h in heads)
    if not any(re.match(rf"##\s*{major}\.", h) for h in heads):
        return False
    if roman is None:
        return True
    # roman items are level-3 headings "### (ii) ..." after the "## 7." heading
    start = next(i for i, h in enumerate(heads) if re.match(rf"##\s*{major}\.", h))
    rest = heads[start + 1 :]
    end = next((i for i, h in enumerate(rest) if re.match(r"##\s", h)), len(rest))
    return any(re.match(rf"###\s*\({roman}\)", h) for h in rest[:end])


def _resolve(name: str) -> Path | None:
    if (DOCS / name).exists():
        return DOCS / name
    hits = [ROOT / f for f in _tracked_files() if f.name == name]
    return hits[0] if hits else None


def test_every_cited_document_and_section_exists():
    problems = []
    n_citations = 0
    for rel, text in _texts():
        for m in CITE.finditer(text):
            name, section = m.group(1), m.group(2)
            n_citations += 1
            doc = _resolve(name)
            line = text.count("\n", 0, m.start()) + 1
            if doc is None:
                problems.append(f"{rel}:{line}: cites {name}, which is not in the repository")
            elif section and doc.parent == DOCS and not _section_exists(doc, section):
                problems.append(
                    f"{rel}:{line}: cites {name} §{section}, which has no such section"
                )
    assert n_citations > 50, "the scan found almost no citations: the pattern is broken"
    assert not problems, "\n".join(problems)


def test_no_citation_points_outside_the_repository():
    """Sources the code relies on are cited from docs/, never from a sibling checkout's files.

    Only the optional full data sets may be named by their location (tests and the README say
    where to put them).
    """
    bad = [
        f"{rel}: {m.group(0)}"
        for rel, text in _texts()
        if rel != Path("tests/test_docs.py")
        for m in re.finditer(r"\.\./shared/(?!data\b)\S*", text)
    ]
    assert not bad, "\n".join(bad)


def test_section_checker_rejects_missing_sections():
    """The checker itself must be able to fail (hand-picked cases)."""
    ev = DOCS / "EVIDENCE.md"
    assert _section_exists(ev, "7(ii)") and _section_exists(ev, "1.4")
    assert not _section_exists(ev, "7(vi)") and not _section_exists(ev, "9.9")
    assert _resolve("NO_SUCH_DOC.md") is None
