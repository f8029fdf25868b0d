"""Muse legacy ("classic") protocol: Muse 2016 (MU-02), Muse 2 (MU-03), Muse S gen 1/2.

Pure functions, bytes in and numbers out; no I/O and no asyncio. Layouts follow
``PROTOCOLS.md`` §1 (muse-js, muse-lsl and BrainFlow agree on every one of them):

* control command: ``len(ascii) + 1 | ascii | 0x0A`` (§1.2);
* control reply: ``n | n ASCII characters | padding``, JSON split across notifications (§1.2);
* EEG: ``uint16 BE sequence | 12 x 12-bit unsigned, MSB-first`` and
  ``uV = 0.48828125 * (raw - 2048)`` (§1.3);
* PPG: ``uint16 BE sequence | 6 x uint24 BE`` (unsigned, §1.4);
* accelerometer / gyroscope: ``uint16 BE sequence | 3 samples x (x, y, z) int16 BE`` (§1.5);
* telemetry: ``uint16 BE`` sequence, battery/512 %, fuel gauge x 2.2 mV, ADC, temperature (§1.6).

Every notification on a data characteristic is exactly 20 bytes; other sizes raise
:class:`~addictidx._core.errors.DecodeError` (BrainFlow drops them too).
"""

from __future__ import annotations

import json

import numpy as np

from addictidx.acquire.decoders.decode_errors import as_bytes, decode_error
from addictidx.devices.framing import encode_muse_command

__all__ = [
    "EEG_SCALE_UV",
    "EEG_OFFSET",
    "EEG_SAMPLES_PER_PACKET",
    "PPG_SAMPLES_PER_PACKET",
    "ACC_SCALE_G",
    "GYRO_SCALE_DPS",
    "NOTIFICATION_BYTES",
    "encode_muse_command",
    "unpack_uint12",
    "pack_uint12",
    "unpack_uint24",
    "decode_muse_eeg",
    "decode_muse_eeg_values",
    "decode_muse_eeg_batch",
    "decode_muse_eeg_joined",
    "encode_muse_eeg",
    "decode_muse_ppg",
    "decode_muse_imu",
    "decode_muse_accelerometer",
    "decode_muse_gyroscope",
    "decode_muse_telemetry",
    "decode_muse_control",
    "MuseControlReassembler",
    "unwrap_sequence",
]

#: µV per raw count: 125/256 = 1000/2048 ("12 bits on a 2 mVpp range").
EEG_SCALE_UV = 0.48828125
#: Raw counts added before scaling (mid-scale of the 12-bit ADC).
EEG_OFFSET = -2048
EEG_SAMPLES_PER_PACKET = 12
PPG_SAMPLES_PER_PACKET = 6
#: g per raw count (muse-js, muse-lsl; BrainFlow uses 1/16384).
ACC_SCALE_G = 0.0000610352
#: deg/s per raw count (muse-js, muse-lsl).
GYRO_SCALE_DPS = 0.0074768
#: Size of every legacy Muse data notification.
NOTIFICATION_BYTES = 20

_RAW_MAX = 4095
#: Longest input :func:`unpack_uint12` unpacks via one Python integer (above: numpy).
_SMALL_UNPACK_BYTES = 48
#: µV of every raw count, ``EEG_SCALE_UV * (raw + EEG_OFFSET)`` (exact in float64).
_EEG_UV_TABLE: list[float] = [EEG_SCALE_UV * (float(r) + EEG_OFFSET) for r in range(_RAW_MAX + 1)]


def _check_len(decoder: str, payload: bytes, expected: int = NOTIFICATION_BYTES) -> None:
    if len(payload) != expected:
        raise decode_error(
            decoder,
            payload,
            f"at byte {min(len(payload), expected)}: expected exactly {expected} bytes, "
            f"got {len(payload)}",
        )


def _seq(payload: bytes) -> int:
    return (payload[0] << 8) | payload[1]


def unpack_uint12(b: bytes) -> np.ndarray:
    """Unpack MSB-first 12-bit unsigned samples (two per three bytes).

    ``s0 = b0 << 4 | b1 >> 4`` and ``s1 = (b1 & 0x0F) << 8 | b2`` for every byte triple.

    Parameters
    ----------
    b : bytes
        Packed samples; the length must be a multiple of 3.

    Returns
    -------
    raw : ndarray of uint16, shape (2 * len(b) // 3,)
        Samples in 0..4095.

    Notes
    -----
    Payloads of up to 48 bytes (one BLE notification) are unpacked from one Python integer
    (``int.from_bytes`` and shifts), about 4x faster than the numpy path used for longer
    input; both give identical results (tested on random bytes).
    """
    b = as_bytes("unpack_uint12", b)
    n_bytes = len(b)
    if n_bytes % 3:
        raise decode_error(
            "unpack_uint12",
            b,
            f"at byte {n_bytes - n_bytes % 3}: length must be a multiple of 3 (two 12-bit "
            "samples)",
        )
    if n_bytes <= _SMALL_UNPACK_BYTES:
        v = int.from_bytes(b, "big")
        top = 12 * (2 * n_bytes // 3 - 1)
        return np.array([(v >> s) & 0xFFF for s in range(top, -1, -12)], dtype=np.uint16)
    return _unpack_uint12_numpy(b)


def _unpack_uint12_numpy(b: bytes) -> np.ndarray:
    """Vectorized :func:`unpack_uint12` (no checks; ``len(b)`` a multiple of 3)."""
    a = np.frombuffer(b, dtype=np.uint8).reshape(-1, 3).astype(np.uint16)
    out = np.empty(2 * a.shape[0], dtype=np.uint16)
    out[0::2] = (a[:, 0] << 4) | (a[:, 1] >> 4)
    out[1::2] = ((a[:, 1] & 0x0F) << 8) | a[:, 2]
    return out


def pack_uint12(raw: np.ndarray) -> bytes:
    """Pack 12-bit unsigned samples MSB-first (inverse of :func:`unpack_uint12`).

    Parameters
    ----------
    raw : array-like of int, shape (n,), n even
        Samples in 0..4095.

    Returns
    -------
    packed : bytes
        ``3 * n // 2`` bytes.
    """
    r = np.asarray(raw)
    if r.ndim != 1 or r.size % 2:
        raise ValueError(
            f"pack_uint12 needs an even number of samples in 1-D, got shape {r.shape}."
        )
    if r.size and (r.min() < 0 or r.max() > _RAW_MAX):
        raise ValueError("pack_uint12 samples must be in 0..4095.")
    r = r.astype(np.uint16)
    s0, s1 = r[0::2], r[1::2]
    out = np.empty((r.size // 2, 3), dtype=np.uint8)
    out[:, 0] = s0 >> 4
    out[:, 1] = ((s0 & 0x0F) << 4) | (s1 >> 8)
    out[:, 2] = s1 & 0xFF
    return out.tobytes()


def unpack_uint24(b: bytes) -> np.ndarray:
    """Unpack big-endian unsigned 24-bit integers (three bytes each).

    Parameters
    ----------
    b : bytes
        Length must be a multiple of 3.

    Returns
    -------
    values : ndarray of uint32, shape (len(b) // 3,)
    """
    b = as_bytes("unpack_uint24", b)
    if len(b) % 3:
        raise decode_error(
            "unpack_uint24", b, f"at byte {len(b) - len(b) % 3}: length must be a multiple of 3"
        )
    a = np.frombuffer(b, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
    return (a[:, 0] << 16) | (a[:, 1] << 8) | a[:, 2]


def decode_muse_eeg(payload: bytes) -> tuple[int, np.ndarray]:
    """Decode one EEG notification of one electrode (characteristics ``273e0003``..``0007``).

    Parameters
    ----------
    payload : bytes
        Exactly 20 bytes: uint16 BE sequence number, then 12 packed 12-bit samples.

    Returns
    -------
    sequence : int
        The raw 16-bit block counter (same value on every electrode for the same block).
    uv : ndarray of float64, shape (12,)
        Samples in µV, ``0.48828125 * (raw - 2048)``, oldest first.

    Raises
    ------
    DecodeError
        If the payload is not exactly 20 bytes.
    """
    seq, uv = decode_muse_eeg_values(payload)
    return seq, np.array(uv)


def decode_muse_eeg_values(payload: bytes) -> tuple[int, tuple[float, ...]]:
    """:func:`decode_muse_eeg` with the samples as a tuple of 12 Python floats (equal values,
    no array built: for a caller that copies them into an array of its own)."""
    if type(payload) is not bytes:
        payload = as_bytes("decode_muse_eeg", payload)
    if len(payload) != NOTIFICATION_BYTES:
        _check_len("decode_muse_eeg", payload)
    # Hot path (85 notifications/s per headband): the 160 bits as one integer, each 12-bit
    # field looked up in a table of exact µV values (0.48828125 * (raw - 2048) is a multiple of
    # 2**-8, so the table equals the array arithmetic bit for bit).
    v = int.from_bytes(payload, "big")
    t = _EEG_UV_TABLE
    uv = (
        t[(v >> 132) & 0xFFF],
        t[(v >> 120) & 0xFFF],
        t[(v >> 108) & 0xFFF],
        t[(v >> 96) & 0xFFF],
        t[(v >> 84) & 0xFFF],
        t[(v >> 72) & 0xFFF],
        t[(v >> 60) & 0xFFF],
        t[(v >> 48) & 0xFFF],
        t[(v >> 36) & 0xFFF],
        t[(v >> 24) & 0xFFF],
        t[(v >> 12) & 0xFFF],
        t[v & 0xFFF],
    )
    return v >> 144, uv


def decode_muse_eeg_batch(payloads) -> tuple[np.ndarray, np.ndarray]:
    """Decode many EEG notifications at once (vectorized :func:`decode_muse_eeg`).

    Parameters
    ----------
    payloads : sequence of bytes
        20-byte EEG notifications (any electrodes, any order).

    Returns
    -------
    sequences : ndarray of int64, shape (n,)
        Raw 16-bit block counters.
    uv : ndarray of float64, shape (n, 12)
        Row ``i`` equals ``decode_muse_eeg(payloads[i])[1]``.

    Raises
    ------
    DecodeError
        If a payload is not bytes-like or not exactly 20 bytes (the message names the first
        bad payload, as :func:`decode_muse_eeg` would).
    """
    items = payloads if type(payloads) in (list, tuple) else list(payloads)
    n = len(items)
    if n and (
        set(map(type, items)) != {bytes} or max(map(len, items)) != NOTIFICATION_BYTES
    ):  # with the total length below: every item exactly 20 bytes
        joined = None
    else:
        joined = b"".join(items)
    if joined is None or len(joined) != n * NOTIFICATION_BYTES:
        for p in items:  # name the first bad one
            _check_len("decode_muse_eeg", as_bytes("decode_muse_eeg", p))
        joined = b"".join(items)  # all 20-byte bytes-like
    return decode_muse_eeg_joined(joined, n)


def decode_muse_eeg_joined(joined: bytes, n: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`decode_muse_eeg_batch` of ``n`` 20-byte notifications already joined end to end
    (checked by the caller: ``len(joined) == 20 n``).

    Returns
    -------
    sequences : ndarray of int64, shape (n,)
    uv : ndarray of float64, shape (n, 12)
    """
    a = np.frombuffer(joined, dtype=np.uint8).reshape(n, NOTIFICATION_BYTES)
    seq = (a[:, 0].astype(np.int64) << 8) | a[:, 1]
    raw = _unpack_uint12_numpy(a[:, 2:].tobytes()).reshape(n, EEG_SAMPLES_PER_PACKET)
    return seq, EEG_SCALE_UV * (raw.astype(np.float64) + EEG_OFFSET)


def encode_muse_eeg(sequence: int, uv: np.ndarray) -> bytes:
    """Encode 12 EEG samples as a Muse notification (inverse of :func:`decode_muse_eeg`).

    Used by the simulated headband.

    Parameters
    ----------
    sequence : int
        Block counter, 0..65535 (callers wrap it with ``% 65536``).
    uv : array-like of float, shape (12,)
        Samples in µV. Each is rounded to the nearest raw count (ties to even, ``numpy.rint``)
        and clipped to 0..4095, i.e. to -1000.0..+999.51171875 µV.

    Returns
    -------
    payload : bytes
        20 bytes.
    """
    seq = int(sequence)
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"sequence must be in 0..65535, got {sequence!r}.")
    x = np.asarray(uv, dtype=np.float64)
    if x.shape != (EEG_SAMPLES_PER_PACKET,):
        raise ValueError(f"uv must have shape (12,), got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError("uv must be finite (a missing sample cannot be encoded).")
    raw = np.clip(np.rint(x / EEG_SCALE_UV - EEG_OFFSET), 0, _RAW_MAX).astype(np.uint16)
    return bytes([seq >> 8, seq & 0xFF]) + pack_uint12(raw)


def decode_muse_ppg(payload: bytes) -> tuple[int, np.ndarray]:
    """Decode one PPG notification (characteristics ``273e000f``, ``0010``, ``0011``).

    Parameters
    ----------
    payload : bytes
        Exactly 20 bytes: uint16 BE sequence, then 6 x uint24 BE samples.

    Returns
    -------
    sequence : int
        Raw 16-bit block counter.
    counts : ndarray of float64, shape (6,)
        Raw ADC counts, decoded as **unsigned** (muse-js and muse-lsl; BrainFlow reads them
        signed, PROTOCOLS §1.4).
    """
    payload = as_bytes("decode_muse_ppg", payload)
    _check_len("decode_muse_ppg", payload)
    return _seq(payload), unpack_uint24(payload[2:]).astype(np.float64)


def decode_muse_imu(payload: bytes, scale: float) -> tuple[int, np.ndarray]:
    """Decode one accelerometer or gyroscope notification.

    Parameters
    ----------
    payload : bytes
        Exactly 20 bytes: uint16 BE sequence, then 3 samples of (x, y, z) int16 BE.
    scale : float
        Units per raw count: :data:`ACC_SCALE_G` (g) or :data:`GYRO_SCALE_DPS` (deg/s).

    Returns
    -------
    sequence : int
        Raw 16-bit block counter.
    values : ndarray of float64, shape (3, 3)
        Rows are the axes x, y, z; columns the three samples, oldest first.
    """
    return _decode_imu(payload, float(scale), "decode_muse_imu")


def _decode_imu(payload: bytes, scale: float, name: str) -> tuple[int, np.ndarray]:
    payload = as_bytes(name, payload)
    _check_len(name, payload)
    raw = np.frombuffer(payload, dtype=">i2", offset=2).reshape(3, 3)  # (sample, axis)
    return _seq(payload), raw.T.astype(np.float64) * scale


def decode_muse_accelerometer(payload: bytes) -> tuple[int, np.ndarray]:
    """:func:`decode_muse_imu` with ``scale=ACC_SCALE_G`` (values in g)."""
    return _decode_imu(payload, ACC_SCALE_G, "decode_muse_accelerometer")


def decode_muse_gyroscope(payload: bytes) -> tuple[int, np.ndarray]:
    """:func:`decode_muse_imu` with ``scale=GYRO_SCALE_DPS`` (values in deg/s)."""
    return _decode_imu(payload, GYRO_SCALE_DPS, "decode_muse_gyroscope")


def decode_muse_telemetry(payload: bytes) -> dict:
    """Decode a telemetry notification (characteristic ``273e000b``).

    Parameters
    ----------
    payload : bytes
        Exactly 20 bytes (bytes 10..19 are padding and ignored).

    Returns
    -------
    telemetry : dict
        ``sequence`` (int), ``battery_pct`` (raw/512, float), ``fuel_gauge_mv`` (raw*2.2, float),
        ``adc_mv`` (raw uint16; meaning undocumented, "probably ADC mV"), ``temperature``
        (raw uint16, unit undocumented).
    """
    payload = as_bytes("decode_muse_telemetry", payload)
    _check_len("decode_muse_telemetry", payload)
    u = np.frombuffer(payload, dtype=">u2", count=5)
    return {
        "sequence": int(u[0]),
        "battery_pct": int(u[1]) / 512.0,
        "fuel_gauge_mv": int(u[2]) * 2.2,
        "adc_mv": int(u[3]),
        "temperature": int(u[4]),
    }


def decode_muse_control(payload: bytes) -> str:
    """Return the ASCII fragment of one control-reply notification (``byte0`` = length).

    Raises
    ------
    DecodeError
        If the payload is empty, ``byte0`` exceeds the bytes present, or a character is not
        printable ASCII.
    """
    payload = as_bytes("decode_muse_control", payload)
    if not payload:
        raise decode_error(
            "decode_muse_control", payload, "at byte 0: empty notification (no length byte)"
        )
    n = payload[0]
    if n > len(payload) - 1:
        raise decode_error(
            "decode_muse_control",
            payload,
            f"at byte 0: length byte says {n} characters but only {len(payload) - 1} follow",
        )
    frag = payload[1 : 1 + n]
    for i, c in enumerate(frag):
        if not 0x20 <= c < 0x7F:
            raise decode_error(
                "decode_muse_control",
                payload,
                f"at byte {i + 1}: 0x{c:02x} is not printable ASCII",
            )
    return frag.decode("ascii")


class MuseControlReassembler:
    """Reassemble JSON replies split across control notifications.

    Muse replies are flat JSON objects (no nesting) cut into 19-character fragments; an object may
    end in the middle of a notification and the next one start right after it
    (``'"rc":0}{"r'``). The reassembler scans characters, tracking string literals, and emits
    every object whose closing brace has arrived.

    Loss handling (a dropped notification leaves a half object): text outside an object is
    ignored; an opening brace inside an open object (outside a string) means the previous
    object's end was lost, so the partial text is discarded and counted in ``n_dropped``; an
    object that is not valid JSON is discarded and counted too. The pending text is capped at
    ``max_chars``.

    Examples
    --------
    >>> r = MuseControlReassembler()
    >>> r.feed(bytes([7]) + b'{"rc":0')
    []
    >>> r.feed(bytes([3]) + b'}{"')
    [{'rc': 0}]
    """

    def __init__(self, max_chars: int = 4096) -> None:
        self.max_chars = int(max_chars)
        self.n_dropped = 0
        self._buf: list[str] = []
        self._depth = 0
        self._in_str = False
        self._esc = False

    @property
    def pending(self) -> str:
        """Text of the object still waiting for its closing brace."""
        return "".join(self._buf)

    def reset(self) -> None:
        """Forget any partial object."""
        self._buf.clear()
        self._depth = 0
        self._in_str = False
        self._esc = False

    def feed(self, payload: bytes) -> list[dict]:
        """Add one notification; return the JSON objects it completed (possibly none).

        Parameters
        ----------
        payload : bytes
            The raw notification (``byte0`` = number of valid characters).

        Returns
        -------
        objects : list of dict
            Complete objects, in arrival order.
        """
        text = decode_muse_control(payload)
        return self.feed_text(text)

    def feed_text(self, text: str) -> list[dict]:
        """Like :meth:`feed` for an already-extracted ASCII fragment."""
        out: list[dict] = []
        for ch in text:
            if self._depth == 0:
                if ch == "{":
                    self._buf = ["{"]
                    self._depth = 1
                continue
            if self._in_str:
                self._buf.append(ch)
                if self._esc:
                    self._esc = False
                elif ch == "\\":
                    self._esc = True
                elif ch == '"':
                    self._in_str = False
                continue
            if ch == "{":  # lost end of the previous flat object: restart here
                self.n_dropped += 1
                self._buf = ["{"]
                continue
            self._buf.append(ch)
            if ch == '"':
                self._in_str = True
            elif ch == "}":
                obj_text = "".join(self._buf)
                self.reset()
                try:
                    obj = json.loads(obj_text)
                except ValueError:
                    self.n_dropped += 1
                    continue
                if isinstance(obj, dict):
                    out.append(obj)
                else:  # pragma: no cover - braces guarantee a dict
                    self.n_dropped += 1
            if len(self._buf) > self.max_chars:
                self.n_dropped += 1
                self.reset()
        return out


def unwrap_sequence(
    prev_unwrapped: int | None, raw: int, bits: int = 16, *, wrap_threshold: int | None = None
) -> int:
    """Unwrap a wrapping packet counter into a monotonic block index.

    Parameters
    ----------
    prev_unwrapped : int | None
        The unwrapped value of the previously accepted packet (``None`` for the first packet).
    raw : int
        The counter as received, ``0 <= raw < 2**bits``.
    bits : int
        Counter width (16 for legacy Muse, 8 for Athena per-TAG block indices).
    wrap_threshold : int | None
        A backward jump larger than this is a wrap. Default ``2**bits // 16`` (0x1000 for 16 bits,
        as muse-js).

    Returns
    -------
    unwrapped : int
        ``prev_unwrapped + delta``, where ``delta`` is the signed step from the previous raw
        counter: ``0xFFFF -> 0x0000`` is ``+1``; a backward jump of more than ``wrap_threshold``
        is a forward wrap (``+2**bits``); symmetrically a forward jump of more than
        ``2**bits - wrap_threshold`` is a late packet from before the wrap.

    Notes
    -----
    Small backward jumps (``-wrap_threshold <= delta < 0``) are kept as they are: the result is
    *lower* than ``prev_unwrapped`` (a reordered packet, placed at its true block index), and
    ``delta == 0`` returns ``prev_unwrapped`` (a duplicate). The caller decides what to do with
    them (e.g. fill an earlier gap, or drop duplicates); keep passing the highest value accepted
    so far as ``prev_unwrapped``. Forward jumps > 1 are gaps of ``delta - 1`` blocks.

    Examples
    --------
    >>> unwrap_sequence(0xFFFF, 0x0000)
    65536
    >>> unwrap_sequence(20, 16)
    16
    """
    mod = 1 << int(bits)
    raw = int(raw)
    if not 0 <= raw < mod:
        raise ValueError(f"raw counter must be in 0..{mod - 1} for bits={bits}, got {raw}.")
    if prev_unwrapped is None:
        return raw
    thr = mod // 16 if wrap_threshold is None else int(wrap_threshold)
    prev = int(prev_unwrapped)
    delta = raw - (prev % mod)
    if delta < -thr:
        delta += mod
    elif delta > mod - thr:
        delta -= mod
    return prev + delta
