"""Notifications -> :class:`~addictidx._core.types.Chunk` on the session clock, gaps marked.

:class:`MuseEegAssembler` groups the per-electrode notifications of a classic Muse into blocks
by their **sequence number** (never by arrival order, which real headbands do not keep), turns
missing blocks into NaN samples at their expected times, and timestamps every sample from the
sequence counter. :class:`HrsAssembler` (:mod:`addictidx.acquire.hrs_assemble`, re-exported
here) turns Heart Rate Measurement notifications into an RR stream (beat times back-computed
from the arrival time) and an HR stream, never dropping a value that arrived.

Both are plain synchronous objects with no asyncio and no I/O: a BLE notification handler calls
``feed`` (microseconds of work) and forwards the returned chunks. One assembler per device
connection; they are not thread-safe (call ``feed`` from one thread, as bleak does).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from addictidx._core.types import Chunk, StreamSpec
from addictidx.acquire.decoders.muse_classic import (
    decode_muse_eeg,
    decode_muse_eeg_values,
    unwrap_sequence,
)
from addictidx.acquire.eeg_clock import ArrivalFit, init_eeg_timing
from addictidx.acquire.hrs_assemble import HrsAssembler

__all__ = ["MuseEegAssembler", "HrsAssembler", "steady_states", "advance_steady_many"]


class MuseEegAssembler:
    """Assemble classic-Muse EEG notifications into gap-marked chunks.

    Parameters
    ----------
    spec : StreamSpec
        The EEG stream (channels in row order, ``sfreq`` 256, ``samples_per_packet`` 12).
    channel_by_uuid : mapping of str to str
        Channel name (one of ``spec.channels``) per characteristic UUID. Every channel of
        ``spec`` must have one characteristic.
    clock : {"anchor", "lstsq"}
        How sample times are derived (see Notes).
    max_lag_blocks : int
        A block that is still incomplete is emitted (NaN rows for the electrodes that did not
        arrive) once a packet of a block at least this many blocks newer has arrived. 1 = "as soon
        as the next block starts"; raise it when the link reorders across blocks.
    fit_memory_s : float
        With ``clock="lstsq"``: time constant of the exponential forgetting of old arrivals.

    Attributes
    ----------
    n_packets : int
        Notifications accepted.
    n_late : int
        Notifications of a block that had already been emitted (discarded, counted).
    n_duplicate : int
        Repeated notifications of the same electrode and block (the first one is kept).
    n_missing_blocks : int
        Blocks emitted entirely as NaN.
    n_partial_blocks : int
        Blocks emitted with NaN rows for some electrodes.

    Notes
    -----
    Sample ``k`` of the block with unwrapped sequence ``s`` is at
    ``t0 + (12 (s - s0) + k) / sfreq``. With ``clock="anchor"`` (muse-js style), ``s0`` is the
    first block received and ``t0`` its arrival time minus 11 samples, i.e. the first block's last
    sample is placed at its arrival (muse-js subtracts one sample more: a constant offset). Times
    are then drift-free relative to the device clock and jitter-free, but carry the latency of the
    first packet. Until the first block is emitted, complete blocks are held like incomplete
    ones (``max_lag_blocks``), and a packet of an older block moves the start back instead of
    being discarded as late: the first packet to arrive need not be the first one sent. With
    ``clock="lstsq"`` (muse-lsl style), ``t0 + idx / sfreq`` is replaced by the
    line ``a + b * idx`` fitted by exponentially weighted least squares to the first arrival of
    each block against the index of its last sample; it follows the drift between device and
    host clocks and averages latency instead of taking the first one. The slope is used only
    once the fit spans 1 s and stays within 1 % of ``1 / sfreq``, else the nominal slope with the
    fitted mean offset. Each chunk is timestamped with the fit at the time it is emitted, so
    consecutive chunks may be offset by tiny steps as the fit updates.

    Sequence numbers are unwrapped across 65535 -> 0 with
    :func:`~addictidx.acquire.decoders.muse_classic.unwrap_sequence`. Call :meth:`reset` after a
    reconnect: the headband may restart its counter, and the time lost cannot be measured from the
    counter (insert the gap from the connection supervisor instead).
    """

    def __init__(
        self,
        spec: StreamSpec,
        channel_by_uuid: Mapping[str, str],
        *,
        clock: str = "anchor",
        max_lag_blocks: int = 1,
        fit_memory_s: float = 600.0,
    ) -> None:
        init_eeg_timing(self, spec, clock, max_lag_blocks, fit_memory_s)
        self._anchor = self.clock == "anchor"  # read by steady_states
        self.spp = int(spec.samples_per_packet or 12)
        rows: dict[str, int] = {}
        for uuid, ch in channel_by_uuid.items():
            if ch not in spec.channels:
                continue
            rows[str(uuid).lower()] = spec.channels.index(ch)
        missing = set(range(spec.n_channels)) - set(rows.values())
        if missing:
            names = [spec.channels[i] for i in sorted(missing)]
            raise ValueError(f"channel_by_uuid has no characteristic for channel(s) {names}.")
        self._row_by_uuid = rows
        self._row_cache: dict[str, int] = {}  # characteristic as received -> row
        self._n_ch = spec.n_channels
        self._spp_ramp = np.arange(self.spp, dtype=np.float64)
        self._nan_block = np.full((self._n_ch, self.spp), np.nan)  # copied per new block
        self.reset()

    def reset(self) -> None:
        """Forget all state (after a reconnect); the next packet re-anchors the clock."""
        self._high: int | None = None
        self._next = 0
        self._s0 = 0
        self._t0 = 0.0
        self._pending: dict[int, list] = {}
        self._fit: ArrivalFit | None = None
        self._last_rx = float("nan")
        self._n_emitted = 0
        self.n_packets = 0
        self.n_late = 0
        self.n_duplicate = 0
        self.n_missing_blocks = 0
        self.n_partial_blocks = 0

    # -- time -------------------------------------------------------------------------------
    def _times(self, first_block: int, n_blocks: int) -> np.ndarray:
        if n_blocks == 1:
            ramp = self._spp_ramp
        else:
            ramp = np.arange(self.spp * n_blocks, dtype=np.float64)
        idx = ramp + float(self.spp * (first_block - self._s0))
        if self._fit is not None:
            a, b = self._fit.coefficients()
            return a + b * idx
        idx /= self.sfreq  # t0 + idx / sfreq, the same operations in place
        idx += self._t0
        return idx

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, characteristic: str, payload: bytes, received_at: float) -> list[Chunk]:
        """Add one EEG notification; return the chunks it completed (oldest first).

        Parameters
        ----------
        characteristic : str
            UUID of the characteristic that sent it.
        payload : bytes
            The 20-byte notification.
        received_at : float
            Arrival time on the session clock (s).

        Returns
        -------
        chunks : list of Chunk
            0 or more chunks, each one block (4, 12) or a run of missing blocks (NaN).

        Raises
        ------
        ValueError
            If ``characteristic`` is not one of this stream's.
        DecodeError
            If the payload is not a valid EEG notification.
        """
        row = self._row_cache.get(characteristic)
        if row is None:
            row = self.row_of(characteristic)
        raw_seq, uv = decode_muse_eeg(payload)
        return self._add(row, raw_seq, uv, received_at)

    def feed_block(self, characteristic: str, payload: bytes, received_at: float):
        """:meth:`feed` for a consumer of samples only: the steady case without chunks.

        A packet of block ``next`` of a steady assembler (:meth:`steady_state`: clock
        ``"anchor"``, a block emitted already, nothing pending but a partial ``next`` block)
        whose electrode has not arrived yet changes the state as :meth:`feed` does; when it
        completes the block, the block's samples and times are returned instead of its chunk
        (:meth:`feed` would return that one chunk: ``seq`` the block, ``received_at`` this
        arrival, no missing sample). Every other packet goes through :meth:`feed`'s path.

        Returns
        -------
        tuple or list of Chunk
            ``(samples (n_channels, spp), times (spp,))`` of the block completed, or
            :meth:`feed`'s chunks (an empty list: nothing completed).
        """
        row = self._row_cache.get(characteristic)
        if row is None:
            row = self.row_of(characteristic)
        raw_seq, uv = decode_muse_eeg_values(payload)  # (copied into the block's row)
        high = self._high
        if high is None or not self._anchor or not self._n_emitted:
            return self._add(row, raw_seq, uv, received_at)
        delta = raw_seq - (high % 0x10000)  # unwrap_sequence, as _add inlines it
        if delta < -0x1000:
            delta += 0x10000
        elif delta > 0x10000 - 0x1000:
            delta -= 0x10000
        s = high + delta
        pending = self._pending
        block = pending.get(s)
        if s != self._next or high > s or len(pending) != (block is not None):
            return self._add(row, raw_seq, uv, received_at)
        if block is None:
            block = [self._nan_block.copy(), [False] * self._n_ch, received_at, 0]
            pending[s] = block
        elif block[1][row]:  # a duplicate: counted by _add (state unchanged so far)
            return self._add(row, raw_seq, uv, received_at)
        self.n_packets += 1
        self._last_rx = received_at
        block[0][row] = uv
        block[1][row] = True
        block[2] = received_at
        block[3] += 1
        self._high = s
        if block[3] < self._n_ch:  # _add: not due (final = s - max_lag_blocks < s)
            return []
        del pending[s]  # _emit of the one complete block
        self._n_emitted += 1
        self._next = s + 1
        return block[0], self._times(s, 1)

    def feed_decoded(
        self, characteristic: str, sequence: int, uv: np.ndarray, received_at: float
    ) -> list[Chunk]:
        """Like :meth:`feed` for a notification already decoded (e.g. by
        :func:`~addictidx.acquire.decoders.muse_classic.decode_muse_eeg_batch`).

        Parameters
        ----------
        characteristic : str
            UUID of the characteristic that sent it.
        sequence : int
            The raw 16-bit block counter of the notification.
        uv : ndarray, shape (12,)
            Its samples in µV (copied).
        received_at : float
            Arrival time on the session clock (s).

        Returns
        -------
        chunks : list of Chunk
            As :meth:`feed`: ``feed(c, p, t)`` equals
            ``feed_decoded(c, *decode_muse_eeg(p), t)``.
        """
        row = self._row_cache.get(characteristic)
        if row is None:
            row = self.row_of(characteristic)
        return self._add(row, int(sequence), uv, received_at)

    def row_of(self, characteristic: str) -> int:
        """Row (electrode) of ``characteristic`` in this stream's chunks; ValueError if none."""
        row = self._row_by_uuid.get(characteristic.lower())
        if row is None:
            raise ValueError(
                f"Characteristic {characteristic!r} is not an EEG characteristic of stream "
                f"{self.spec.key!r} (known: {sorted(self._row_by_uuid)})."
            )
        self._row_cache[characteristic] = row
        return row

    # -- the steady state, for a batched feed (acquire.feed_batch) ----------------------------
    def steady_state(self) -> tuple | None:
        """The state a run of whole blocks in order continues, or None (then feed one by one).

        Steady: clock ``"anchor"``, a block emitted already and no block pending except a
        partial ``next`` one. Returns ``(next, s0, t0, sfreq, pending)`` (sample ``k`` of block
        ``s`` is at ``t0 + (spp (s - s0) + k) / sfreq``) with ``pending`` the partial block's
        ``(samples, electrode arrived)`` or None. Every packet of a steady assembler that belongs
        to ``next, next + 1, ...`` in that order, each block's electrodes once, completes and
        emits whole blocks only (see :func:`steady_states`, :func:`advance_steady_many`).
        """
        if self.clock != "anchor" or not self._n_emitted:
            return None
        pending, nxt = self._pending, self._next
        if not pending:
            return nxt, self._s0, self._t0, self.sfreq, None
        if len(pending) == 1 and nxt in pending:
            block = pending[nxt]
            return nxt, self._s0, self._t0, self.sfreq, (block[0], block[1])
        return None

    def _add(self, row: int, raw_seq: int, uv, received_at: float) -> list[Chunk]:
        high = self._high
        if high is None or not 0 <= raw_seq < 0x10000:
            s = unwrap_sequence(high, raw_seq)  # the first packet, or the error message
        else:  # unwrap_sequence(high, raw_seq) for 16 bits, inlined (85 calls/s per headband)
            delta = raw_seq - (high % 0x10000)
            if delta < -0x1000:
                delta += 0x10000
            elif delta > 0x10000 - 0x1000:
                delta -= 0x10000
            s = high + delta
        if high is None:
            self._high = self._next = self._s0 = s
            self._t0 = received_at - (self.spp - 1) / self.sfreq
            if self.clock == "lstsq":
                blocks_per_s = self.sfreq / self.spp
                self._fit = ArrivalFit(
                    self.sfreq, self.fit_memory_s * blocks_per_s, int(self.sfreq), 0.01
                )
        if s < self._next:
            if self._n_emitted or self._high - s >= 64:
                self.n_late += 1
                return []
            # nothing emitted yet: an older block that arrives late moves the start back (the
            # first packet received need not be the first one sent)
            self._next = s
        self.n_packets += 1
        self._last_rx = received_at
        block = self._pending.get(s)
        if block is None:
            # [samples, electrode arrived, last arrival, number of electrodes arrived]
            block = [self._nan_block.copy(), [False] * self._n_ch, received_at, 0]
            self._pending[s] = block
            if self._fit is not None:
                self._fit.add(self.spp * (s - self._s0) + self.spp - 1, received_at)
        if block[1][row]:
            self.n_duplicate += 1
        else:
            block[0][row] = uv
            block[1][row] = True
            block[2] = received_at
            block[3] += 1
        if s > self._high:
            self._high = s
        final = self._high - self.max_lag_blocks
        # _emit has work only when the next block may go out: it is due (<= final), or this
        # packet completed it after the first emission (complete blocks do not wait then)
        if self._next <= final or (s == self._next and block[3] == self._n_ch and self._n_emitted):
            return self._emit(final_upto=final, now=received_at)
        return []

    def flush(self) -> list[Chunk]:
        """Emit every pending block now (NaN rows for electrodes that have not arrived).

        Call at the end of a recording or before :meth:`reset`.
        """
        if self._high is None:
            return []
        return self._emit(final_upto=self._high, now=self._last_rx)

    def _emit(self, final_upto: int, now: float) -> list[Chunk]:
        """Emit blocks from ``_next`` on: complete ones always, others up to ``final_upto``."""
        out: list[Chunk] = []
        n_ch = self._n_ch
        pending = self._pending
        while self._next <= self._high:
            x = self._next
            block = pending.get(x)
            if block is not None:
                complete = block[3] == n_ch
                # until the first block is out, complete blocks wait like incomplete ones so
                # that older blocks arriving late can still move the start back
                if (not complete or not self._n_emitted) and x > final_upto:
                    break
                del pending[x]
                n_missing = (n_ch - block[3]) * self.spp
                if n_missing:
                    self.n_partial_blocks += 1
                out.append(
                    Chunk(
                        self.spec,
                        block[0],
                        self._times(x, 1),
                        seq=x,
                        received_at=block[2],
                        n_missing=n_missing,
                    )
                )
                self._n_emitted += 1
                self._next = x + 1
                continue
            if x > final_upto:
                break
            # a run of blocks of which nothing arrived: one NaN chunk
            end = x + 1
            while end <= final_upto and end not in pending:
                end += 1
            n = end - x
            self.n_missing_blocks += n
            data = np.full((n_ch, self.spp * n), np.nan)
            out.append(
                Chunk(
                    self.spec, data, self._times(x, n), seq=x, received_at=now, n_missing=data.size
                )
            )
            self._n_emitted += 1
            self._next = end
        return out


def steady_states(asms) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """:meth:`MuseEegAssembler.steady_state` of many assemblers at once.

    Parameters
    ----------
    asms : list of MuseEegAssembler
        ``H`` assemblers.

    Returns
    -------
    steady : ndarray of bool, shape (H,)
        Whether each one's :meth:`~MuseEegAssembler.steady_state` is not None.
    blocks : ndarray of int64, shape (2, H)
        ``next`` and ``s0`` of each (meaningless where not steady).
    clock : ndarray of float64, shape (2, H)
        ``t0`` and ``sfreq`` of each.
    pending : list
        The partial ``next`` block ``(samples, electrode arrived)`` of each, or None.
    """
    H = len(asms)
    # one list comprehension per field (faster than attrgetter maps on CPython 3.11+)
    steady = np.fromiter([a._anchor for a in asms], bool, H)
    steady &= np.fromiter([a._n_emitted for a in asms], np.int64, H) > 0
    pend = [a._pending for a in asms]
    n_pend = np.fromiter(map(len, pend), np.intp, H)
    steady &= n_pend <= 1
    blocks = np.empty((2, H), dtype=np.int64)
    blocks[0] = np.fromiter([a._next for a in asms], np.int64, H)
    blocks[1] = np.fromiter([a._s0 for a in asms], np.int64, H)
    clock = np.empty((2, H), dtype=np.float64)
    clock[0] = np.fromiter([a._t0 for a in asms], np.float64, H)
    clock[1] = np.fromiter([a.sfreq for a in asms], np.float64, H)
    partial: list = [None] * H
    one = np.flatnonzero(steady & (n_pend == 1))
    if one.size:
        for k, x in zip(one.tolist(), blocks[0, one].tolist()):
            block = pend[k].get(x)
            if block is None:  # a pending block other than ``next``
                steady[k] = False
            else:
                partial[k] = (block[0], block[1])
    return steady, blocks, clock, partial


def advance_steady_many(asms, n_packets, n_blocks, last_rx, partials) -> None:
    """Apply to each assembler the packets fed as a run of whole blocks from its steady state.

    Parameters
    ----------
    asms : list of MuseEegAssembler
        Assemblers, each steady (:meth:`~MuseEegAssembler.steady_state` not None).
    n_packets : list of int
        Packets of each one's run.
    n_blocks : list of int
        Whole blocks each run completed (emitted by the caller, from ``next`` on).
    last_rx : list of float
        Arrival time of each run's last packet.
    partials : list
        The block each run left partial, ``[samples, electrode arrived, last arrival, number
        arrived]``, or None (the run ended on a whole block).
    """
    for a, k, f, lrx, pa in zip(asms, n_packets, n_blocks, last_rx, partials):
        pending, nxt = a._pending, a._next
        if pending:
            pending.pop(nxt, None)
        nxt += f
        a._next = nxt
        a._n_emitted += f
        a.n_packets += k
        a._last_rx = lrx
        if pa is not None:
            pending[nxt] = pa
        top = nxt if pa is not None else nxt - 1
        if top > a._high:
            a._high = top
