"""Which devices a session acquires from: simulated ones replaying real recordings, or real BLE
ones.

Both kinds are described to :class:`~addictidx.sessions.live.LiveAssessment` the same way, by a
``name`` (what the transport reports) and a device ``profile``; only the transport differs
(:class:`~addictidx.acquire.ReplayTransport` or :class:`~addictidx.acquire.BleakTransport`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from addictidx.acquire import (
    DeviceProfile,
    SimulatedAthenaHeadband,
    SimulatedHeadband,
    SimulatedStrap,
    athena_session_profile,
    is_athena_profile,
    load_profile,
)

__all__ = [
    "BleDevice",
    "ble_devices",
    "preflight_ble",
    "session_devices",
    "simulated_devices",
    "AUTO_HEADBAND",
    "AUTO_STRAP",
]

#: ``--headband auto``: any classic-protocol Muse (name prefix "Muse"; Muse 2 / S / 2016 share
#: the EEG characteristics). A Muse S Athena is used only when named (``muse-s-athena``): it
#: also advertises "MuseS" and is told apart only after service discovery.
#: ``--strap auto``: any strap advertising the Heart Rate service.
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

    A Muse S Athena profile is returned as
    :func:`~addictidx.acquire.athena_session_profile` of it (``eeg`` = TP9, AF7, AF8, TP10).

    Raises
    ------
    ValueError
        The headband profile has no Muse ``eeg`` stream (classic or Athena), or the strap no
        ``rr`` stream.
    """
    hp, sp = _profile(headband, AUTO_HEADBAND), _profile(strap, AUTO_STRAP)
    hp = _headband_profile(hp)
    if "rr" not in sp.stream_names:
        raise ValueError(f"Strap profile {sp.name!r} has no 'rr' stream (Heart Rate Measurement).")
    return BleDevice(hp.name, hp), BleDevice(sp.name if sp.name != hp.name else "strap", sp)


def _headband_profile(hp: DeviceProfile) -> DeviceProfile:
    """Check a headband profile and return the view a session uses."""
    if is_athena_profile(hp):
        hp = athena_session_profile(hp)
        if "eeg" in hp.stream_names and hp.stream("eeg").decoder == "athena.packet":
            return hp
    elif "eeg" in hp.stream_names and hp.stream("eeg").decoder == "muse.eeg":
        return hp
    raise ValueError(
        f"Headband profile {hp.name!r} has no Muse 'eeg' stream; sessions need a Muse profile "
        "(muse-2, muse-s, muse-2016, or muse-s-athena)."
    )


def simulated_devices(
    duration_s: float, seed: int = 0, offset_s: float = 0.0
) -> tuple[SimulatedHeadband, SimulatedStrap]:
    """The simulated headband and strap playing the bundled real recordings.

    ``offset_s`` starts both recordings that far in (they loop), so that repeated simulated
    visits of one person replay different stretches of real data.
    """
    from addictidx.readers import bundled_muse_eeg, bundled_rr

    if not offset_s:
        return (
            SimulatedHeadband(duration_s=duration_s, seed=seed),
            SimulatedStrap(duration_s=duration_s, seed=seed),
        )
    rec = bundled_muse_eeg()
    data, ch, sfreq = rec.data, rec.ch_names, rec.sfreq
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
    ``duration_s`` (``auto`` = the ``sim-muse`` / ``sim-hrs`` profiles; a Muse S Athena profile
    gives a :class:`~addictidx.acquire.SimulatedAthenaHeadband` sending the same recording as
    Athena packets); else real devices over BLE (``auto`` = :data:`AUTO_HEADBAND` /
    :data:`AUTO_STRAP`). The ``assess`` command and the dashboard both call this, so they run
    the same session code.
    """
    if simulate:
        hp = _headband_profile(_profile(headband, "sim-muse"))
        if is_athena_profile(hp):
            hb = SimulatedAthenaHeadband(duration_s=duration_s, profile=hp)
        else:
            hb = SimulatedHeadband(duration_s=duration_s, profile=hp)
        st = SimulatedStrap(
            duration_s=duration_s, profile="sim-hrs" if strap in (None, "", "auto") else strap
        )
        return "simulate", hb, st
    hb, st = ble_devices(headband, strap)
    return "ble", hb, st


#: How long the pre-flight scan listens for advertisements (s).
PREFLIGHT_SCAN_S = 8.0


def _advertises(prof: DeviceProfile, device, adv) -> bool:
    local = getattr(adv, "local_name", None) or getattr(device, "name", None)
    if prof.name_prefixes:
        return prof.matches_name(local)
    services = {str(u).lower() for u in (getattr(adv, "service_uuids", None) or ())}
    return bool(set(prof.service_uuids) & services)


async def preflight_ble(
    devices: tuple[BleDevice, ...], *, scan_s: float = PREFLIGHT_SCAN_S, scanner_cls=None
) -> None:
    """Check, before a session is created, that Bluetooth works and every device advertises.

    One scan of ``scan_s`` seconds; a device given by address must be seen at that address.

    Raises
    ------
    DeviceError
        One line: no usable Bluetooth adapter (with the system's reason), or which device was
        not found and what to check (issue 17.2: a session is never recorded without them).
    """
    from addictidx._core.errors import DeviceError

    if scanner_cls is None:
        import bleak

        scanner_cls = bleak.BleakScanner
    try:
        found = await scanner_cls.discover(timeout=scan_s, return_adv=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means no usable adapter
        why = str(exc) or type(exc).__name__
        raise DeviceError(
            f"No usable Bluetooth adapter ({type(exc).__name__}: {why}); switch Bluetooth on "
            "or plug in an adapter, or run with --simulate."
        ) from None
    seen = list((found or {}).values())
    missing = []
    for d in devices:
        ok = any(
            (
                str(getattr(dev, "address", "")).upper() == d.address.upper()
                if d.address
                else _advertises(d.profile, dev, adv)
            )
            for dev, adv in seen
        )
        if not ok:
            what = (
                f"names starting {', '.join(repr(p) for p in d.profile.name_prefixes)}"
                if d.profile.name_prefixes
                else "the Heart Rate service"
            )
            missing.append(f"{d.profile.name} (nothing advertising {what})")
    if missing:
        raise DeviceError(
            f"Device not found in a {scan_s:.0f}-s scan: {'; '.join(missing)}; check it is "
            "switched on, worn, charged and not connected to another app."
        )
