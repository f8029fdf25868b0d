"""Decoder routing: which characteristic of a device feeds which decoder and streams.

:func:`decoder_routes` reads a :class:`~addictidx.acquire.profiles.DeviceProfile` once and
returns one :class:`DecoderRoute` per characteristic. It is the single routing table of the
package: :func:`~addictidx.acquire.decode` builds its packet handlers from it
(:mod:`addictidx.acquire.decode_handlers`) and :class:`~addictidx.acquire.hub.StreamHub` builds
its assemblers from it, so both always agree on what a notification is.

Route families (:attr:`DecoderRoute.family`):

* one stream per characteristic: ``muse.eeg`` / ``muse.ppg`` (one channel each), ``muse.acc``,
  ``muse.gyro``, ``muse.telemetry``, ``muse.control``, ``battery.level``;
* several streams sharing one characteristic: ``hrs.measurement`` (the ``hr`` and ``rr``
  streams of 0x2A37), ``pmd`` (PMD data frames, routed by measurement type), ``athena.packet``
  (Athena multiplexed notifications, routed by TAG);
* the profile's ``[control]`` characteristic: ``muse.control`` (``muse-ascii`` framing) or
  ``pmd.control`` (``hex`` framing), with no stream.
"""

from __future__ import annotations

from dataclasses import dataclass

from addictidx.devices.model import DeviceProfile, StreamProfile

__all__ = ["DecoderRoute", "ROUTE_FAMILIES", "CONTROL_FAMILIES", "decoder_routes"]

#: Families of routes whose characteristic carries several streams (decoder key prefix).
_SHARED = {"hrs": "hrs.measurement", "pmd": "pmd", "athena": "athena.packet"}
#: Every route family.
ROUTE_FAMILIES = (
    "muse.eeg",
    "muse.ppg",
    "muse.acc",
    "muse.gyro",
    "muse.telemetry",
    "muse.control",
    "battery.level",
    "hrs.measurement",
    "pmd",
    "athena.packet",
    "pmd.control",
)
#: Families of control characteristics (replies to commands, not data).
CONTROL_FAMILIES = ("muse.control", "pmd.control")


@dataclass(frozen=True, slots=True)
class DecoderRoute:
    """What arrives on one characteristic of a device.

    Parameters
    ----------
    characteristic : str
        Lower-case 128-bit UUID.
    family : str
        How its payloads are decoded (one of :data:`ROUTE_FAMILIES`).
    streams : tuple of StreamProfile
        The profile streams it feeds, in profile order (empty for the control characteristic).
    channels : tuple of str
        The channels its notifications carry (a classic Muse EEG characteristic: one electrode).
    """

    characteristic: str
    family: str
    streams: tuple[StreamProfile, ...]
    channels: tuple[str, ...] = ()

    @property
    def stream_names(self) -> tuple[str, ...]:
        """Names of :attr:`streams`."""
        return tuple(s.name for s in self.streams)

    @property
    def packet_streams(self) -> tuple[str, ...]:
        """Stream names :func:`~addictidx.acquire.decode` reports for this characteristic.

        A Heart Rate Measurement gives one packet (``hr`` and ``rr`` channels) named after the
        first stream; the control characteristic gives ``control`` packets.
        """
        if not self.streams:
            return ("control",)
        if self.family == "hrs.measurement":
            return self.stream_names[:1]
        return self.stream_names

    def stream_of_kind(self, kind: str) -> StreamProfile | None:
        """The first stream of this route with :attr:`StreamProfile.kind` ``kind``, if any."""
        return next((s for s in self.streams if s.kind == kind), None)


def decoder_routes(profile: DeviceProfile) -> dict[str, DecoderRoute]:
    """Characteristic UUID -> :class:`DecoderRoute` for every characteristic of a profile.

    Parameters
    ----------
    profile : DeviceProfile

    Returns
    -------
    routes : dict of str to DecoderRoute
        In a stable order: the control characteristic, the one-stream characteristics in profile
        order, then the shared ones (HRS, PMD, Athena) in order of first appearance.
    """
    routes: dict[str, DecoderRoute] = {}
    if profile.control is not None:
        family = "muse.control" if profile.control.framing == "muse-ascii" else "pmd.control"
        uuid = profile.control.characteristic
        routes[uuid] = DecoderRoute(uuid, family, ())
    shared: dict[tuple[str, str], list[StreamProfile]] = {}
    for s in profile.streams:
        for uuid, chans in s.routes.items():
            prefix = s.decoder.split(".")[0]
            if prefix in _SHARED:
                shared.setdefault((uuid, _SHARED[prefix]), []).append(s)
            else:
                routes[uuid] = DecoderRoute(uuid, s.decoder, (s,), tuple(chans))
    for (uuid, family), ss in shared.items():
        chans = tuple(dict.fromkeys(c for s in ss for c in s.routes[uuid]))
        routes[uuid] = DecoderRoute(uuid, family, tuple(ss), chans)
    return routes
