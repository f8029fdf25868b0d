"""The dashboard's frame of a stored index: values at the precision the page shows."""

from __future__ import annotations

import pytest

from addictidx.dashboard.state import index_view


@pytest.mark.parametrize("conf", [0.2851, 0.2849, 0.2850001, 0.995, 0.0049, 1.0])
def test_confidence_is_rounded_once_to_what_the_page_shows(conf):
    # the page writes Number(x).toFixed(2) of the frame's value; a value already at 2
    # decimals reads back as itself, so the page shows what the stored value reads at 2
    # decimals (hand check: 0.2851 -> "0.29", not 0.285 -> "0.28")
    v = index_view({"index": 50.0, "band": "typical", "confidence": conf}, None)["confidence"]
    assert f"{v:.2f}" == f"{conf:.2f}" and v == round(conf, 2)
