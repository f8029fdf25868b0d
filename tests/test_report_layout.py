"""The PDF report reads cleanly at any page count (issue 17.7).

Three reports are rendered: the demo's last session, a guided session (intervention, safety
events) and a long session with many events. With poppler's ``pdftotext`` every block's words
are found on the page the layout put them on, and with ``pdftotext -bbox`` no word's box crosses
a rule the layout drew (header, between blocks, footer) or runs past the right edge. Every page
says the index is decision support, never a diagnosis. Skips when poppler-utils is missing
(Debian: ``apt-get install poppler-utils``; CI installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from addictidx.report.content import report_content
from addictidx.report.layout import PAGE_H, PAGE_W
from addictidx.report.pdf import layout, write_pdf
from addictidx.sessions.assessment import run_assessment
from addictidx.sessions.protocol import GUIDED_PROTOCOL, STANDARD_PROTOCOL
from addictidx.store.session_store import SessionStore

#: ``ADDICTIDX_RECORD_ARTIFACTS=1`` keeps every report page as a PNG under benchmarks/results/
#: (like the dashboard screenshots); otherwise they stay in the test's temporary folder.
RECORD = os.environ.get("ADDICTIDX_RECORD_ARTIFACTS") == "1"
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "report_pages"

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftotext) not installed: apt-get install poppler-utils",
)

_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)
HEADER_RULE_IN, FOOTER_RULE_IN = 0.86, PAGE_H - 1.25


def _words(pdf, page: int) -> list[tuple[float, float, float, float, str]]:
    out = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import html

    return [
        (float(a), float(b), float(c), float(d), html.unescape(w))
        for a, b, c, d, w in _WORD.findall(out)
    ]


def _tokens(text: str) -> set[str]:
    return {t for t in text.split() if t}


def _check_pdf(rc, pdf):
    placed = layout(rc)
    n = int(
        re.search(
            r"Pages:\s+(\d+)",
            subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout,
        ).group(1)
    )
    assert n == len(placed)
    for k, (_title, page) in enumerate(placed, start=1):
        words = _words(pdf, k)
        found = _tokens(" ".join(w[4] for w in words))
        # every block's words are on its page
        for block, _top in page.blocks:
            missing = _tokens(block.text) - found
            assert not missing, (k, block.name, sorted(missing)[:10])
        text = " ".join(w[4] for w in words)
        assert "decision support for staff, never a diagnosis" in text, k
        # no word box crosses a rule; nothing runs off the page
        rules = [HEADER_RULE_IN, FOOTER_RULE_IN, *page.rules]
        for x0, y0, x1, y1, w in words:
            for r in rules:
                assert not (y0 < r * 72 < y1), (k, w, r, (y0, y1))
            assert x1 <= PAGE_W * 72 - 18, (k, w, x1)
            assert x0 >= 18, (k, w, x0)
    return placed


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    base = tmp_path_factory.mktemp("layout")
    out = {}
    # the demo's story: history sessions, then one scored against the personal baseline
    demo = base / "demo"
    r = subprocess.run(
        ["python", "-m", "addictidx", "demo", "--out", str(demo), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    out["demo"] = (demo / "store", 6)
    g = base / "guided"
    res = run_assessment(
        "P910",
        store_dir=g,
        protocol=GUIDED_PROTOCOL,
        age=45,
        screening={"medically_screened": True},
        seed=5,
        consent_given=True,
    )
    out["guided"] = (g, res.session_id)
    long = base / "long"
    res = run_assessment(
        "P911", store_dir=long, protocol=STANDARD_PROTOCOL, age=52, seed=6, consent_given=True
    )
    with SessionStore(long) as st:
        for k in range(160):
            st.add_event(res.session_id, 20.0 + k * 1.7, "movement", {})
        for k in range(24):
            st.add_safety_event(
                res.session_id,
                30.0 + 11.0 * k,
                "prompt",
                {"reason": f"[P{k}] heart rate {101.23456 + k:.4f} bpm: slow down", "rule": "P"},
            )
    out["long"] = (long, res.session_id)
    return out


@pytest.mark.parametrize("which", ["demo", "guided", "long"])
def test_report_blocks_present_and_no_text_crosses_a_rule(stores, which, tmp_path):
    store, sid = stores[which]
    with SessionStore(store) as st:
        rc = report_content(st, sid)
    pdf = write_pdf(rc, tmp_path / f"{which}.pdf")
    placed = _check_pdf(rc, pdf)
    names = [b.name for _t, p in placed for b, _ in p.blocks]
    for must in ("quality", "index", "trend", "prescription", "events", "tachogram", "poincare"):
        assert must in names or (must == "index" and rc.index.get("index") is None), must
    if which == "guided":
        assert "intervention" in names
        assert rc.safety_events
    if which == "long":
        assert len(placed) >= 4  # the events continue on further pages
        assert names.count("events") >= 2
    # every page as an image (pdftoppm): one PNG per page, none blank
    shots = _page_images(pdf, tmp_path / "png", which)
    assert len(shots) == len(placed)
    for p in shots:
        assert p.stat().st_size > 20_000, p  # text and plots, not an empty page


def _page_images(pdf, out: Path, stem: str) -> list[Path]:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", str(pdf), str(out / f"{stem}-page")], check=True
    )
    shots = sorted(out.glob(f"{stem}-page-*.png"))
    if RECORD:
        RESULTS.mkdir(parents=True, exist_ok=True)
        for p in shots:
            shutil.copy(p, RESULTS / p.name)
    return shots


def test_events_are_sentences_and_numbers_rounded(stores, tmp_path):
    store, sid = stores["long"]
    with SessionStore(store) as st:
        rc = report_content(st, sid)
    pdf = write_pdf(rc, tmp_path / "long.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert "At 0:20 staff marked movement." in text
    assert "At 0:30 Safety prompt: Heart rate 101.2346 bpm: slow down (rule P)." in text.replace(
        "\n", " "
    )
    # no raw float dumps from the store (e.g. "index 81.50950378468448")
    assert not re.search(r"\d+\.\d{5,}", text.replace("101.2346", ""))
