"""The dashboard shows the research classifier in its own labelled panel, only with
``--research-model``, never inside the index (issue 5 item 6). Headless Chromium via Playwright,
with the server and browser helpers of tests/test_dashboard.py (loaded by path, one copy)."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "addictidx_test_dashboard_helpers", Path(__file__).with_name("test_dashboard.py")
)
_dash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dash)
Server, _text = _dash.Server, _dash._text
browser = _dash.browser  # the fixture


def _wait_complete(srv, timeout=300.0) -> dict:  # bounds a hang only
    deadline = time.monotonic() + timeout
    while True:
        st = srv.state()
        if st["status"] in ("complete", "stopped", "error") and st.get("index") is not None:
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"session did not finish: {st.get('status')}")
        time.sleep(0.2)


@pytest.mark.parametrize("research", [True, False])
def test_research_panel_only_with_flag(browser, tmp_path, research):
    from addictidx.store.session_store import SessionStore

    args = ["--subject", "P301", "--consent-given", "--speed", "100"] + (
        ["--research-model"] if research else []
    )
    srv = Server(tmp_path, *args)
    try:
        st = _wait_complete(srv)
        assert st["status"] == "complete", st.get("error")
        assert "research" not in (st["index"] or {})  # never inside the index
        page = browser.new_page()
        page.goto(srv.url)
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"index-value\"]').textContent !== '-'",
            timeout=120000,
        )
        panel = page.locator('[data-testid="research"]')
        with SessionStore(srv.store) as store:
            (row,) = store.queries.list_sessions("P301")
            block = store.queries.research_result(row["id"])
        if research:
            assert block is not None and st["research"]["probability"] == pytest.approx(
                block["probability"], abs=1e-3
            )
            page.wait_for_function(
                "() => !document.querySelector('[data-testid=\"research\"]').hidden",
                timeout=120000,
            )
            assert panel.is_visible()
            assert _text(page, "research-value") == f"{block['probability']:.2f}"
            assert "not part of the index" in panel.inner_text()
            assert "pipeline demonstration, not a screen" in _text(page, "research-disclaimer")
        else:
            assert block is None and "research" not in st
            # a few more frames drawn (a sleep is no frame on a loaded machine): still hidden
            n = page.evaluate("() => window.__stats.frames")
            page.wait_for_function(f"() => window.__stats.frames > {n + 3}", timeout=120000)
            assert not panel.is_visible()
    finally:
        srv.close()
