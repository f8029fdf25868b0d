"""Which devices a session acquires from: simulated ones replaying real recordings, or real BLE ones.

Both kinds are described to :class:`~addictidx.sessions.live.LiveAssessment` the same way, by a
``name`` (what the transport reports) and a device ``profile``; only the transport differs
(:class:`~addictidx.acquire.ReplayTransport` or :class:`~addictidx.acquire.BleakTransport`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from addictidx.acquire import DeviceProfile, SimulatedHeadband, SimulatedStrap, load_profile

__all__ = [
    "BleDevice", "ble_devices", "session_devices", "simulated_devices", "AUTO_HEADBAND", "AUTO_STRAP",
]

#: ``--headband auto``: any classic-protocol Muse (name prefix "Muse"; Muse 2 / S / 2016 share
#: the EEG characteristics). ``--strap auto``: any strap advertising the Heart Rate service.
AUTO_HEADBAND = "muse-2"
AUTO_STRAP = "generic-hrs"


@dataclass(frozen=True)
class BleDevice:
    """A real device: the name the transport reports and its profile.

    Parameters
    ----------
    name : str
        Device name used on the session (callbacks, buffers, store).
    profile : DeviceProfile
        Its profile.
    address : str | None
        Accept only this BLE address (default: the first device matching the profile).
    """

    name: str
    profile: DeviceProfile
    address: str | None = None


def _profile(name: str | DeviceProfile, auto: str) -> DeviceProfile:
    if isinstance(name, DeviceProfile):
        return name
    return load_profile(auto if name in (None, "", "auto") else name)


def ble_devices(
    headband: str | DeviceProfile = "auto", strap: str | DeviceProfile = "auto"
) -> tuple[BleDevice, BleDevice]:
    """The real headband and strap of a session, from profile names (or ``"auto"``).

    Raises
    ------
    ValueError
        The headband profile has no classic-Muse ``eeg`` stream, or the strap no ``rr`` stream.
    """
    hp, sp = _profile(headband, AUTO_HEADBAND), _profile(strap, AUTO_STRAP)
    if "eeg" not in hp.stream_names or hp.stream("eeg").decoder != "muse.eeg":
        raise ValueError(
            f"Headband profile {hp.name!r} has no classic-Muse 'eeg' stream; live sessions need "
            "one of the muse-classic profiles (muse-2, muse-s, muse-2016)."
        )
    if "rr" not in sp.stream_names:
        raise ValueError(f"Strap profile {sp.name!r} has no 'rr' stream (Heart Rate Measurement).")
    return BleDevice(hp.name, hp), BleDevice(sp.name if sp.name != hp.name else "strap", sp)


def simulated_devices(
    duration_s: float, seed: int = 0, offset_s: float = 0.0
) -> tuple[SimulatedHeadband, SimulatedStrap]:
    """The simulated headband and strap playing the bundled real recordings.

    ``offset_s`` starts both recordings that far in (they loop), so that repeated simulated
    visits of one person replay different stretches of real data.
    """
    from addictidx.acquire import bundled_muse_eeg, bundled_rr

    if not offset_s:
        return (
            SimulatedHeadband(duration_s=duration_s, seed=seed),
            SimulatedStrap(duration_s=duration_s, seed=seed),
        )
    data, _t, ch, sfreq = bundled_muse_eeg()
    data = np.roll(data, -int(round(offset_s * sfreq)) % data.shape[1], axis=1)
    rr = bundled_rr()
    k = int(np.searchsorted(np.cumsum(rr), (offset_s * 3.0) % rr.sum()))
    rr = np.roll(rr, -k)
    return (
        SimulatedHeadband(data, sfreq, ch_names=ch, duration_s=duration_s, seed=seed),
        SimulatedStrap(rr, duration_s=duration_s, seed=seed),
    )


def session_devices(
    simulate: bool, headband: str = "auto", strap: str = "auto", *, duration_s: float = 600.0
) -> tuple[str, object, object]:
    """``(kind, headband, strap)`` for :func:`~addictidx.sessions.assessment.run_assessment`.

    ``simulate=True``: simulated devices replaying the bundled real recordings for
    ``duration_s`` (``auto`` = the ``sim-muse`` / ``sim-hrs`` profiles); else real devices over
    BLE (``auto`` = :data:`AUTO_HEADBAND` / :data:`AUTO_STRAP`). The ``assess`` command and the
    dashboard both call this, so they run the same session code.
    """
    if simulate:
        hb = SimulatedHeadband(duration_s=duration_s,
                               profile="sim-muse" if headband in (None, "", "auto") else headband)
        st = SimulatedStrap(duration_s=duration_s,
                            profile="sim-hrs" if strap in (None, "", "auto") else strap)
        return "simulate", hb, st
    hb, st = ble_devices(headband, strap)
    return "ble", hb, st
