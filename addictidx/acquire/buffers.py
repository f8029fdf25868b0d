"""Fixed-size buffers holding the most recent samples of a stream.

* :class:`RingBuffer` for regularly sampled streams (EEG): fixed numpy storage
  ``(n_channels, capacity)``, ``write(chunk)`` is one or two slice copies, ``latest(seconds)``
  returns a :class:`~addictidx._core.types.Window` copy with its gap fraction.
* :class:`EventBuffer` for irregular streams (RR intervals, HR values): the last ``capacity``
  events with their times, selected by time.

Both keep NaN gap fill as written (assemblers mark missing samples; buffers never interpolate).

Thread safety: one writer (the consumer task draining the notification queue) and any number of
readers (the scoring worker) may use a buffer concurrently; ``write`` and the read methods hold an
internal lock only for the duration of a slice copy, so readers always get a consistent copy.
Several concurrent writers are not supported (the interleaving of their chunks is undefined).
"""

from __future__ import annotations

import math
import threading

import numpy as np

from addictidx._core.types import Chunk, StreamSpec, Window
from addictidx._core.validate import check_positive

__all__ = ["RingBuffer", "EventBuffer", "RingPool", "write_many"]

#: Rings from which write_many's one indexed copy per page costs less than a write per ring
#: (its fixed cost, some 25 numpy calls, is that of about 12 ring writes).
WRITE_MANY_MIN_RINGS = 12


def _nan_fraction(data: np.ndarray) -> float:
    # count / size: the value np.isnan(data).mean() gives, without np.mean's Python layer
    return np.count_nonzero(np.isnan(data)) / data.size if data.size else 0.0


class _Page:
    """Storage of ``size`` rings of one shape: values ``(size, n_channels, capacity)``, times
    ``(size, capacity)``, one lock."""

    def __init__(self, size: int, n_channels: int, capacity: int) -> None:
        self.data = np.empty((size, n_channels, capacity))
        self.times = np.empty((size, capacity))
        self.lock = threading.Lock()
        self.size = size
        self.used = 0


class RingPool:
    """Shared storage of many ring buffers, so that one call writes many (:func:`write_many`).

    A server serving many sessions gives every session's hub the same pool; each buffer's
    storage is a slot of a page of the pool (NaN until written). A buffer made without a pool
    gets a page of its own. Buffers of one page share its lock.

    Parameters
    ----------
    page_bytes : int
        Largest page; a page holds ``page_bytes // slot_bytes`` slots (at least 1, at most
        ``max_per_page``). A page is reserved with ``np.empty`` and a slot is written (NaN)
        only when a buffer takes it, so the memory a page occupies grows with the slots taken
        (:meth:`unused_bytes` is the part reserved but never written). One page per ring shape
        keeps :func:`write_many` to one indexed copy per call.
    max_per_page : int
        Most slots per page.
    """

    def __init__(self, page_bytes: int = 64 << 20, max_per_page: int = 4096) -> None:
        self.page_bytes = int(page_bytes)
        self.max_per_page = max(1, int(max_per_page))
        self._pages: dict[tuple[int, int], _Page] = {}

    def unused_bytes(self) -> int:
        """Bytes of the pages' slots no buffer has taken (reserved, never written: the OS maps
        them only when written)."""
        return sum(
            (p.size - p.used) * (p.data[0].nbytes + p.times[0].nbytes)
            for p in self._pages.values()
        )

    def take(self, n_channels: int, capacity: int) -> tuple[_Page, int]:
        """A free slot ``(page, index)`` for a ring of ``n_channels`` x ``capacity``."""
        key = (int(n_channels), int(capacity))
        page = self._pages.get(key)
        if page is None or page.used == page.size:
            slot_bytes = 8 * (n_channels + 1) * capacity
            size = min(self.max_per_page, max(1, self.page_bytes // slot_bytes))
            page = self._pages[key] = _Page(size, n_channels, capacity)
        slot = page.used
        page.used += 1
        page.data[slot] = np.nan
        page.times[slot] = np.nan
        return page, slot


class _Ring:
    """Storage: values ``(n_channels, capacity)`` and times ``(capacity,)`` (a pool slot)."""

    def __init__(self, spec: StreamSpec, capacity: int, pool: RingPool | None = None) -> None:
        self.spec = spec
        self.capacity = int(capacity)
        if pool is None:
            pool = RingPool(max_per_page=1)
        self._page, self._slot = pool.take(spec.n_channels, self.capacity)
        self._data = self._page.data[self._slot]
        self._times = self._page.times[self._slot]
        self._lock = self._page.lock
        # the values of a one-channel ring (write_values)
        self._row0 = self._data[0] if spec.n_channels == 1 else None
        # the next write position is total_written % capacity and the ring holds
        # min(total_written, capacity) samples: one counter is the ring's whole state
        self.total_written = 0
        self.n_missing = 0

    @property
    def n_available(self) -> int:
        """Number of samples (events) currently held."""
        return min(self.total_written, self.capacity)

    def write(self, chunk: Chunk) -> None:
        """Append a chunk (oldest samples are overwritten when full).

        Parameters
        ----------
        chunk : Chunk
            Samples of this buffer's stream (same ``spec.key`` and channel count).
        """
        spec = chunk.spec
        if spec is not self.spec and (
            spec.key != self.spec.key or spec.n_channels != self.spec.n_channels
        ):
            raise ValueError(
                f"Chunk of stream {chunk.spec.key!r} ({chunk.spec.n_channels} channels) cannot be "
                f"written to the buffer of {self.spec.key!r} ({self.spec.n_channels} channels)."
            )
        self.write_arrays(chunk.data, chunk.times, chunk.n_missing)

    def write_arrays(self, data: np.ndarray, times: np.ndarray, n_missing: int = 0) -> None:
        """:meth:`write` of a chunk's ``data`` ``(n_channels, n)``, ``times`` ``(n,)`` and
        ``n_missing``, unchecked (for assemblers writing many blocks in one call)."""
        n = times.shape[0]
        if n == 0:
            return
        cap = self.capacity
        with self._lock:
            pos = self.total_written % cap
            self.total_written += n
            self.n_missing += int(n_missing)
            if n >= cap:  # the last cap samples, the oldest at the next write position
                p = (pos + n) % cap
                self._data[:, p:] = data[:, n - cap : n - p]
                self._data[:, :p] = data[:, n - p :]
                self._times[p:] = times[n - cap : n - p]
                self._times[:p] = times[n - p :]
                return
            first = min(n, cap - pos)
            self._data[:, pos : pos + first] = data[:, :first]
            self._times[pos : pos + first] = times[:first]
            rest = n - first
            if rest:
                self._data[:, :rest] = data[:, first:]
                self._times[:rest] = times[first:]

    def write_values(self, values, times, n_missing: int = 0) -> None:
        """:meth:`write_arrays` of samples given as Python floats (``values`` of a one-channel
        ring and ``times`` of equal length), element by element: no arrays built for the one
        to ten values of a Heart Rate Measurement (other rings: ``values`` nested per channel,
        written as arrays)."""
        n = len(times)
        cap = self.capacity
        row = self._row0
        if n == 1 and row is not None and cap > 1:  # one value (a heart rate, one beat)
            with self._lock:
                pos = self.total_written % cap
                self.total_written += 1
                if n_missing:
                    self.n_missing += int(n_missing)
                row[pos] = values[0]
                self._times[pos] = times[0]
            return
        if n == 0:
            return
        if n >= cap or row is None:  # (n_channels, n) values: as arrays
            data = np.array(values, dtype=np.float64).reshape(self.spec.n_channels, n)
            self.write_arrays(data, np.array(times, dtype=np.float64), n_missing)
            return
        tm = self._times
        with self._lock:
            pos = self.total_written % cap
            self.total_written += n
            self.n_missing += int(n_missing)
            for v, ti in zip(values, times):
                row[pos] = v
                tm[pos] = ti
                pos += 1
                if pos == cap:
                    pos = 0

    def _last(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Copy of the last ``n`` samples in time order (caller holds the lock)."""
        total, cap = self.total_written, self.capacity
        n = min(int(n), total, cap)
        start = (total - n) % cap
        if n == 0:
            return np.empty((self.spec.n_channels, 0)), np.empty(0)
        if start + n <= self.capacity:
            return self._data[:, start : start + n].copy(), self._times[start : start + n].copy()
        k = self.capacity - start
        data = np.concatenate((self._data[:, start:], self._data[:, : n - k]), axis=1)
        times = np.concatenate((self._times[start:], self._times[: n - k]))
        return data, times


class RingBuffer(_Ring):
    """The latest ``capacity_s`` seconds of a regularly sampled stream.

    Parameters
    ----------
    spec : StreamSpec
        The stream (``spec.sfreq`` must be set).
    capacity_s : float
        Seconds kept; storage is ``ceil(capacity_s * sfreq)`` samples.

    Attributes
    ----------
    total_written : int
        Samples written since creation (including gap fill).
    n_missing : int
        Gap-fill samples written since creation (sum of ``chunk.n_missing``).

    Examples
    --------
    >>> from addictidx._core.types import StreamSpec, Chunk
    >>> spec = StreamSpec("sim", "eeg", "eeg", ("Cz",), 4.0, "uV")
    >>> buf = RingBuffer(spec, capacity_s=2.0)
    >>> buf.write(Chunk(spec, np.arange(10.0)[None], np.arange(10) / 4.0))
    >>> buf.latest(1.0).data
    array([[6., 7., 8., 9.]])
    """

    def __init__(
        self, spec: StreamSpec, capacity_s: float, *, pool: RingPool | None = None
    ) -> None:
        if spec.sfreq is None:
            raise ValueError(
                f"RingBuffer needs a regularly sampled stream; {spec.key!r} has sfreq=None "
                "(use EventBuffer for irregular streams)."
            )
        self.capacity_s = check_positive("capacity_s", capacity_s)
        self.sfreq = float(spec.sfreq)
        n = max(1, int(math.ceil(self.capacity_s * self.sfreq - 1e-9)))
        super().__init__(spec, n, pool)

    def latest(self, seconds: float) -> Window:
        """Copy the last ``seconds`` of samples (fewer if the buffer holds fewer).

        Parameters
        ----------
        seconds : float
            Window length; ``round(seconds * sfreq)`` samples.

        Returns
        -------
        window : Window
            ``gap_fraction`` is the fraction of values (channels x samples) that are NaN.
        """
        seconds = check_positive("seconds", seconds)
        with self._lock:
            data, times = self._last(int(round(seconds * self.sfreq)))
        return Window(self.spec, data, times, self.sfreq, _nan_fraction(data))

    def samples(self, start: int, stop: int) -> np.ndarray:
        """Copy of the samples ``[start, stop)``, counted from the first sample written.

        Reads whole stretches by their sample numbers (e.g. the complete 2-s epochs of a
        stream) without :meth:`latest`'s times and gap fraction.

        Parameters
        ----------
        start, stop : int
            Sample numbers; every sample in ``[start, stop)`` must still be held.

        Returns
        -------
        ndarray, shape (n_channels, stop - start)

        Raises
        ------
        ValueError
            If some of the samples are not held (not yet written, or overwritten).
        """
        with self._lock:
            total, cap = self.total_written, self.capacity
            if not max(0, total - cap) <= start <= stop <= total:
                raise ValueError(
                    f"Samples [{start}, {stop}) are not all held: the buffer holds "
                    f"[{max(0, total - cap)}, {total})."
                )
            a, n = start % cap, stop - start
            if a + n <= cap:
                return self._data[:, a : a + n].copy()
            return np.concatenate((self._data[:, a:], self._data[:, : n - (cap - a)]), axis=1)


class EventBuffer(_Ring):
    """The last ``capacity`` events of an irregular stream (RR intervals, HR values).

    Parameters
    ----------
    spec : StreamSpec
        The stream (usually ``sfreq=None``).
    capacity : int
        Events kept (e.g. 4096 RR intervals, about an hour at 70 bpm).
    pool : RingPool | None
        Shared storage (as :class:`RingBuffer`); None: storage of its own.

    Notes
    -----
    Events are kept in write order (the order the assembler produced them, which is time order
    for one device); selections by time use the event times, not the order.
    """

    def __init__(self, spec: StreamSpec, capacity: int, *, pool: RingPool | None = None) -> None:
        if int(capacity) < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}.")
        super().__init__(spec, int(capacity), pool)

    def _select(self, t_after: float | None, t_until: float | None) -> Window:
        """Events with ``t_after < t <= t_until`` (None: no bound), in write order; only those
        are copied (the held events' times are compared where they are)."""
        with self._lock:
            total, cap = self.total_written, self.capacity
            n = min(total, cap)
            start = (total - n) % cap
            if start + n <= cap and t_after is not None and t_until is not None:
                # a window of events held in one ring segment: one mask, two compress copies
                tm = self._times[start : start + n]
                keep = tm > t_after
                keep &= tm <= t_until
                d = self._data[:, start : start + n].compress(keep, axis=1)
                t = tm.compress(keep)
            else:
                d, t = self._select_spans(start, n, t_after, t_until)
        return Window(self.spec, d, t, None, _nan_fraction(d))

    def values_between(self, t_after: float, t_until: float) -> np.ndarray:
        """The values of the events with ``t_after < t <= t_until``, in write order.

        ``latest(t_until - t_after, now=t_until).data`` without the times, the gap fraction
        and the :class:`~addictidx._core.types.Window` around them: a server reading the RR
        window of many sessions every second needs the values only.

        Parameters
        ----------
        t_after, t_until : float
            Bounds of the time span on the session clock.

        Returns
        -------
        ndarray, shape (n_channels, n_events)
            A copy.
        """
        with self._lock:
            total, cap = self.total_written, self.capacity
            n = min(total, cap)
            start = (total - n) % cap
            if start + n <= cap:  # one ring segment: one mask, one compress copy
                tm = self._times[start : start + n]
                keep = tm > t_after
                keep &= tm <= t_until
                return self._data[:, start : start + n].compress(keep, axis=1)
            return self._select_spans(start, n, t_after, t_until)[0]

    def _select_spans(self, start: int, n: int, t_after, t_until):
        """:meth:`_select`'s values and times, segment by segment (caller holds the lock)."""
        cap = self.capacity
        if start + n <= cap:  # the held events in write order: one or two ring segments
            spans = ((start, start + n),)
        else:
            spans = ((start, cap), (0, start + n - cap))
        data, times = [], []
        for a, b in spans:
            tm = self._times[a:b]
            if t_after is not None and t_until is not None:
                keep = (tm > t_after) & (tm <= t_until)
            elif t_after is not None:
                keep = tm > t_after
            elif t_until is not None:
                keep = tm <= t_until
            else:
                keep = None
            if keep is None or keep.all():
                data.append(self._data[:, a:b].copy())
                times.append(tm.copy())
            else:
                data.append(self._data[:, a:b][:, keep])
                times.append(tm[keep])
        if len(data) == 1:
            return data[0], times[0]
        return np.concatenate(data, axis=1), np.concatenate(times)

    def latest(self, seconds: float, *, now: float | None = None) -> Window:
        """Events with ``now - seconds < t <= now``.

        Parameters
        ----------
        seconds : float
            Length of the time span.
        now : float | None
            End of the span on the session clock (default: the latest event time held).

        Returns
        -------
        window : Window
            Events in write order, ``sfreq=None``.
        """
        seconds = check_positive("seconds", seconds)
        if now is None:
            with self._lock:
                _, times = self._last(self.capacity)
            if times.size == 0:
                return Window(self.spec, np.empty((self.spec.n_channels, 0)), times, None, 0.0)
            now = float(np.nanmax(times))
        return self._select(now - seconds, now)

    def values_since(self, t: float) -> Window:
        """Events with time ``> t`` (e.g. the beats since the last scoring tick)."""
        return self._select(float(t), None)


def write_many(buffers, values: np.ndarray, times: np.ndarray, lengths) -> None:
    """Append samples to many ring buffers at once (one indexed copy per storage page).

    The same as ``buffers[i].write_arrays(values[a:b].T, times[a:b])`` for each ``i`` with
    ``a:b`` its ``lengths[i]`` rows, for gap-free samples (``n_missing`` 0).

    Parameters
    ----------
    buffers : sequence of RingBuffer
        Distinct buffers, all with the same channel count.
    values : ndarray, shape (n, n_channels)
        The samples of every buffer, buffer after buffer (one row per sample).
    times : ndarray, shape (n,)
        Their times.
    lengths : sequence of int
        Samples of each buffer (``sum(lengths) == n``).
    """
    m = len(buffers)
    if m == 0:
        return
    if m < WRITE_MANY_MIN_RINGS:  # a few: ring by ring (the indexed copy's fixed cost is larger)
        a = 0
        for b, k in zip(buffers, np.asarray(lengths).tolist()):
            b.write_arrays(values[a : a + k].T, times[a : a + k])
            a += k
        return
    lens = np.asarray(lengths, dtype=np.int64)
    # C-level passes over the buffers for their storage and state
    # the rings' storage and state (list comprehensions: faster than attrgetter maps)
    page_of = [b._page for b in buffers]
    total = np.fromiter([b.total_written for b in buffers], np.int64, m)
    slot = np.fromiter([b._slot for b in buffers], np.int64, m)
    if page_of.count(page_of[0]) == m:
        pages = {page_of[0]: None}
        caps = np.full(m, page_of[0].times.shape[1], dtype=np.int64)  # a page: one capacity
    else:
        pages = {}
        for i, pg in enumerate(page_of):
            pages.setdefault(pg, []).append(i)
        caps = np.fromiter((pg.times.shape[1] for pg in page_of), np.int64, m)
    if (lens >= caps).any():  # a ring overwritten whole: buffer by buffer
        ends = np.cumsum(lens).tolist()
        for b, z, k in zip(buffers, ends, lens.tolist()):
            b.write_arrays(values[z - k : z].T, times[z - k : z])
        return
    pos = total % caps
    n0 = int(lens[0])
    if (lens == n0).all():  # the same number of samples each: (buffer, sample) grids
        if n0 == 0:
            return
        col = ((pos[:, None] + np.arange(n0)) % caps[:, None]).reshape(-1)
        row = np.repeat(slot, n0)
    else:
        # each buffer's samples go to consecutive positions from its next write position
        first = pos - (np.cumsum(lens) - lens)
        col = (np.repeat(first, lens) + np.arange(int(lens.sum()))) % np.repeat(caps, lens)
        row = np.repeat(slot, lens)
    for page, idx in pages.items():
        if idx is None:
            r, c, v, tt = row, col, values, times
            rings = zip(buffers, lens.tolist())
        else:
            lens_l = lens.tolist()
            rings = ((buffers[i], lens_l[i]) for i in idx)
            mine = np.zeros(m, dtype=bool)
            mine[idx] = True
            sel = np.flatnonzero(np.repeat(mine, lens))
            r, c, v, tt = row[sel], col[sel], values[sel], times[sel]
        n_ch, k_cap = page.data.shape[1:]
        at = r * k_cap + c  # flat index into the page's times, (slot, position)
        # flat index into the page's values, (slot, channel, position): channel-major, so
        # that each channel's samples go to consecutive positions
        vat = (at + r * ((n_ch - 1) * k_cap)) + (np.arange(n_ch) * k_cap)[:, None]
        with page.lock:
            page.data.reshape(-1)[vat] = v.T
            page.times.reshape(-1)[at] = tt
            for b, k in rings:
                b.total_written += k
