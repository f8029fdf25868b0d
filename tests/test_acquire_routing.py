"""One routing table, one decode per Heart Rate notification, device facts from the profile.

* ``decode()`` and :class:`StreamHub` route by the same table
  (:func:`~addictidx.acquire.routing.decoder_routes`);
* a Heart Rate Measurement reaching a live session is decoded once (the hub's decode also gives
  the strap's skin contact);
* the RR scale comes from the profile's ``rr`` stream, not from a literal 1/1024.
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import addictidx.acquire.decode_api as decode_api
import addictidx.acquire.hub as hub_module
from addictidx.acquire import (
    SimulatedHeadband,
    StreamHub,
    decode,
    encode_heart_rate_measurement,
    list_profiles,
    load_profile,
)
from addictidx.acquire.decode_api import decodable_characteristics
from addictidx.acquire.decoders import hrs as hrs_decoders
from addictidx.acquire.routing import decoder_routes
from addictidx.acquire.simulate import SimulatedStrap

HRM = "00002a37-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize("name", list_profiles())
def test_decode_and_the_hub_build_their_routes_from_one_table(name, monkeypatch):
    profile = load_profile(name)
    calls: list[str] = []

    def spy(p):
        calls.append(p.name)
        return decoder_routes(p)

    monkeypatch.setattr(decode_api, "decoder_routes", spy)
    monkeypatch.setattr(hub_module, "decoder_routes", spy)
    assert set(decodable_characteristics(profile)) == set(decoder_routes(profile))
    StreamHub({"dev": profile})
    assert calls == [name, name]  # once for decode(), once for the hub: the same function


def test_a_heart_rate_notification_is_decoded_once_in_a_live_session(monkeypatch):
    from addictidx.sessions.live import LiveAssessment
    from addictidx.sessions.protocol import Phase, Protocol

    n_calls = 0
    # every decode goes through heart_rate_fields (decode_heart_rate_measurement wraps it)
    real = hrs_decoders.heart_rate_fields

    def counting(payload):
        nonlocal n_calls
        n_calls += 1
        return real(payload)

    # every module of the package that holds the decoder under this name
    for mod in list(sys.modules.values()):
        if getattr(mod, "__name__", "").startswith("addictidx") and (
            getattr(mod, "heart_rate_fields", None) is real
        ):
            monkeypatch.setattr(mod, "heart_rate_fields", counting)
    headband = SimulatedHeadband(duration_s=1.0)
    strap = SimulatedStrap(np.full(10, 0.8), name="strap")
    live = LiveAssessment(headband, strap, Protocol("t", (Phase("rest", 30.0, True),)))
    payloads = [
        encode_heart_rate_measurement(75, [820], contact=False),
        encode_heart_rate_measurement(75, [800], contact=True),
        encode_heart_rate_measurement(74, [810], contact=False),
    ]
    for i, p in enumerate(payloads):
        live.on_notification("strap", HRM, p, 1.0 + i)
    live.on_notification("strap", HRM, payloads[-1], 3.1)  # a duplicate: dropped, not decoded
    assert n_calls == len(payloads)
    assert live.strap_contact is False and live.acc.hr_no_contact == 3
    assert live.hub.skin_contact("strap").detected is False


def test_rr_scale_comes_from_the_profile():
    # a strap whose profile says RR counts are ms (scale 0.001): both decode() and the hub
    # must divide by 1000, not by the standard 1024
    p = load_profile("generic-hrs")
    rr = dataclasses.replace(p.stream("rr"), scale=0.001)
    p_ms = dataclasses.replace(p, streams=tuple(rr if s.name == "rr" else s for s in p.streams))
    payload = encode_heart_rate_measurement(60, [1000, 750])
    (pkt,) = decode(p_ms, HRM, payload)
    assert pkt.channels["rr"].tolist() == [1.0, 0.75]
    hub = StreamHub({"strap": p_ms})
    hub.on_notification("strap", HRM, payload, 5.0)
    w = hub.get_window(10.0, "rr", "strap")
    assert w.data[0].tolist() == [1.0, 0.75]
    np.testing.assert_allclose(w.times, [4.25, 5.0])  # beat times from the same values
