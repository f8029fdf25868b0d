"""The benchmark's server: many live sessions served by one thread, tick by tick.

Each session is what production runs: a :class:`~addictidx.acquire.StreamHub` (the decoders,
assemblers and gap-marked buffers a live session uses) fed byte-exact notifications, the
incremental index features (:class:`~addictidx.features.RollingEpochs` for the EEG,
:func:`~addictidx.features.rr_index_features` over the RR window of the hub's buffer) and
:func:`~addictidx.sessions.scoring.score_sessions` (one ONNX call for every session due in a
tick) followed by :func:`~addictidx.sessions.scoring.with_prescription`.

Server model (how latency and real time are defined)
----------------------------------------------------
Time advances in ticks of ``tick_s`` (25 ms, a typical BLE connection interval): the
notifications whose device time falls in a tick are handed over at the tick's end ``T_k`` (a
connection event). Each session's index is due every ``hop_s`` of its own clock (the sessions'
clocks are staggered evenly over :func:`stagger_period`: a hop, or two when an EEG epoch is
2 s). Processing tick ``k``: first the sessions whose index is due in it (every notification
not handed over yet, up to tick ``k``; their completed 2-s epochs in one batched check, their
features, one ONNX call, the prescriptions), then, every ``BenchConfig.rest_ingest_ticks``
ticks (2: 50 ms), the ingest and epochs of every other session in one batch (the server's
batching window: those buffers lag the radio by at most that; nothing is dropped).
A session's index thus waits for its own data only, not for every other session's ingest.

The replay runs as fast as possible and measures, per tick, the service time ``S_k`` and the
offset ``o_u`` at which each index update ``u`` of the tick was ready; the real-time schedule is
then replayed exactly: tick ``k`` starts at ``start_k = max(T_k, end_{k-1})`` and ends ``S_k``
later.

* **notification-to-index latency** of update ``u`` = ``start_k + o_u - T_k`` (from the
  hand-over of the notifications that complete its data to the prescription being ready;
  queueing included);
* **overrun** = a tick still running when the next one is handed over (``end_k > T_{k+1}``);
* **real time holds** at ``N`` sessions when overruns are at most ``max_overrun_rate`` (1 %) of
  ticks, p99 latency is at most ``latency_limit_ms`` (100 ms) and the final backlog is below
  one tick.

The benchmark's pre-generated notification streams (harness data a production server does
not hold) are frozen out of Python's cyclic garbage collector for the run (:func:`gc.freeze`);
the served sessions' objects are collected as in production.

Service times are measured with :func:`time.perf_counter` (wall) and :func:`time.thread_time`
(CPU of this thread). The capacity verdict uses the CPU clock by default
(``BenchConfig.clock``): on a shared machine the wall clock also counts time the OS gave to
other processes.
"""

from __future__ import annotations

import gc
import os
import time
from operator import attrgetter
from types import SimpleNamespace

import numpy as np

from addictidx._core.types import Chunk
from addictidx.acquire import StreamHub
from addictidx.acquire.buffers import RingPool
from addictidx.acquire.feed_batch import RouteBook, feed_routed
from addictidx.bench.config import BenchConfig, RunResult
from addictidx.bench.sources import HEADBAND, STRAP, BenchSources, make_sources
from addictidx.bench.timeline import plan_ticks, schedule, session_phases
from addictidx.features import RollingEpochs
from addictidx.sessions.scoring import SubjectHistory, score_sessions, with_prescription

__all__ = ["BenchSession", "SessionServer", "run_sessions"]

_TOTAL = attrgetter("total_written")

#: Screening of the benchmark's simulated people (the demo's).
SCREENING = {"medically_screened": True}


class BenchSession:
    """One served session: its stream hub, its place on the server's clock, its epochs."""

    __slots__ = ("i", "var", "phase", "hub", "feed", "eeg_buf", "rr_buf", "next_epoch")

    def __init__(
        self, i: int, var, phase: float, rr_capacity: int, buffer_s: float, pool=None
    ) -> None:
        self.i, self.var, self.phase = i, var, phase
        self.hub = StreamHub(
            {HEADBAND: var.headband.profile, STRAP: var.strap.profile},
            capacity_s=buffer_s,
            event_capacity=rr_capacity,
            max_lag_blocks=1,  # as a live session
            ring_pool=pool,  # the server's sessions share ring storage (one write per batch)
        )
        self.feed = self.hub.on_notification
        self.eeg_buf = self.hub.buffer(HEADBAND, "eeg")
        self.rr_buf = self.hub.buffer(STRAP, "rr")
        self.next_epoch = 0

    def prefill_rr(self, rr: np.ndarray) -> None:
        """The RR of a session running for a while: beats before t = 0."""
        times = -(np.cumsum(rr[::-1])[::-1] - rr)
        self.rr_buf.write(Chunk(self.rr_buf.spec, rr[None, :].copy(), times))

    def complete_epochs(self, n_per_epoch: int) -> list[tuple[int, np.ndarray]]:
        """The epochs completed since the last call: ``[(epoch number, (n_ch, n) samples)]``."""
        buf = self.eeg_buf
        n_new = buf.total_written // n_per_epoch - self.next_epoch
        if n_new <= 0:
            return []
        a = n_per_epoch * self.next_epoch
        x = buf.samples(a, a + n_per_epoch * n_new)
        out = [
            (self.next_epoch + j, x[:, j * n_per_epoch : (j + 1) * n_per_epoch])
            for j in range(n_new)
        ]
        self.next_epoch += n_new
        return out


class SessionServer:
    """``n_sessions`` sessions and the per-tick work of serving them (see the module doc)."""

    def __init__(self, n_sessions: int, duration_s: float, cfg: BenchConfig, sources):
        from addictidx.models import population_baseline
        from addictidx.prescribe import Screening

        self.cfg, self.sources = cfg, sources
        self.duration_s = float(duration_s)
        var0 = sources.variants[0]
        th = var0.headband.profile.stream("eeg").quality or None
        self.rolling = RollingEpochs(
            n_sessions, sources.sfreq, sources.ch_names, window_s=cfg.eeg_window_s, thresholds=th
        )
        self.nep = self.rolling.n_per_epoch
        V = len(sources.variants)
        rr_cap = int((cfg.rr_window_s + duration_s + 30.0) * 220 / 60) + 16
        buffer_s = 3 * self.rolling.epoch_s
        phases = session_phases(n_sessions, cfg, sources)
        pool = self.ring_pool = RingPool()
        self.sessions = [
            BenchSession(i, sources.variants[i % V], float(phases[i]), rr_cap, buffer_s, pool)
            for i in range(n_sessions)
        ]
        if cfg.prefill:
            pre = RollingEpochs(
                V, sources.sfreq, sources.ch_names, window_s=cfg.eeg_window_s, thresholds=th
            )
            K = self.rolling.n_slots
            for v, var in enumerate(sources.variants):
                pre.add(np.full(K, v), np.arange(-K, 0), var.eeg_prefill[-K:])
            for v in range(V):
                self.rolling.copy_stream(pre, v, np.arange(v, n_sessions, V))
            for s in self.sessions:
                s.prefill_rr(s.var.rr_prefill)
        self._eeg_bufs = [s.eeg_buf for s in self.sessions]
        self._take_routes()
        self._fed_to = np.zeros(n_sessions, dtype=np.intp)  # per session: first tick not fed
        self._next_end = np.full(n_sessions, self.nep, dtype=np.int64)  # samples to next epoch
        self._waiting: dict[int, list] = {}  # session -> epochs read, not yet checked
        self._n_waiting = 0  # epochs in _waiting
        # see _poll: the sessions to poll by tick, and the last tick polled
        self._poll_at: dict[int, list[int]] = {0: list(range(n_sessions))}
        self._polled = -1
        self._screening = Screening(**SCREENING)  # checked once, not per update
        self.history = SubjectHistory.population()
        self.baseline = population_baseline()

    # -- the plan: which notifications and updates fall in which tick -----------------------
    def plan(self) -> tuple[int, list, list]:
        """:func:`plan_ticks` of this server's sessions."""
        return plan_ticks(len(self.sessions), self.duration_s, self.cfg, self.sources)

    # -- per-tick work --------------------------------------------------------------------
    def _take_routes(self) -> None:
        """Each session's routes, taken once as a transport subscribes: the (device,
        characteristic) pairs of all variants numbered (``_pair_of``), the route id of pair
        ``p`` of session ``i`` at ``_route_ids[i, p]`` (-1: its variant has no such pair)."""
        pairs: dict[tuple[str, str], int] = {}
        for v in self.sources.variants:
            for d, c in zip(v.devices, v.chars):
                pairs.setdefault((d, c), len(pairs))
        self.routes = book = RouteBook()
        self._pair_of = pairs
        ids = np.full((len(self.sessions), len(pairs)), -1, dtype=np.intp)
        for s in self.sessions:
            for d, c in dict.fromkeys(zip(s.var.devices, s.var.chars)):
                ids[s.i, pairs[(d, c)]] = book.add(s.hub, d, c)
        self._route_ids = ids
        self._route_lists = ids.tolist()

    def ingest(self, idx, k: int, bounds) -> int:
        """Hand every notification of sessions ``idx`` not handed over yet, up to tick ``k``,
        to their hubs in one call (:func:`~addictidx.acquire.feed_batch.feed_routed`, the
        routes taken once: the EEG of all of them decoded and assembled together), as a
        server hands over its batching window of connection events."""
        if len(idx) < 32:  # a few sessions: their lists extended (no fixed numpy cost)
            return self._ingest_few(idx, k, bounds)
        tab = self._note_tables(bounds)
        idx = np.asarray(idx, dtype=np.intp)
        fed = self._fed_to
        a, z = tab.bounds[idx, fed[idx]], tab.bounds[idx, k + 1]
        fed[idx] = k + 1
        n = z - a
        has = n > 0
        if not has.any():
            return 0
        idx, a, n = idx[has], a[has], n[has]
        total = int(n.sum())
        # rows of the notes in the variants' concatenated streams, session after session
        first = tab.var_start[idx] + a
        rows = np.repeat(first - (np.cumsum(n) - n), n) + np.arange(total)
        # the notes' route ids and payloads picked from arrays (one C loop each)
        feed_routed(
            self.routes,
            self._route_ids[np.repeat(idx, n), tab.pair[rows]],
            tab.pays[rows].tolist(),
            tab.ts[rows],
        )
        return total

    def _ingest_few(self, idx, k: int, bounds) -> int:
        """:meth:`ingest` of a few sessions."""
        tab = self._note_tables(bounds)
        pair = tab.pair_l
        ids, pays, ts = [], [], []
        fed = self._fed_to
        for i in idx:
            b = bounds[i]
            a, z = b[fed[i]], b[k + 1]
            fed[i] = k + 1
            if a == z:
                continue
            s = self.sessions[i]
            v = s.var
            mine = self._route_lists[i]
            r0 = tab.var_start_l[i]
            ids.extend([mine[p] for p in pair[r0 + a : r0 + z]])
            pays.extend(v.payloads[a:z])
            ts.extend(v.t_l[a:z])
        if ids:
            feed_routed(self.routes, ids, pays, ts)
        return len(ids)

    def _note_tables(self, bounds) -> SimpleNamespace:
        """The notifications of all variants end to end (their (device, characteristic) pair
        numbers, payloads, times) and the tick bounds as one array (built once per plan)."""
        tab = getattr(self, "_tables", None)
        if tab is not None and tab.key is bounds:
            return tab
        variants = self.sources.variants
        start, pair, pays, ts = {}, [], [], []
        pair_of = self._pair_of
        for v in variants:
            start[id(v)] = len(pays)
            pair += [pair_of[dc] for dc in zip(v.devices, v.chars)]
            pays += v.payloads
            ts += v.t_l
        var_start = [start[id(s.var)] for s in self.sessions]
        self._tables = tab = SimpleNamespace(
            key=bounds,
            bounds=np.asarray(bounds, dtype=np.intp),
            var_start=np.array(var_start, dtype=np.intp),
            var_start_l=var_start,
            pair=np.array(pair, dtype=np.intp),
            pair_l=pair,
            pays=_objects(pays),
            ts=np.asarray(ts, dtype=np.float64),
        )
        return tab

    def epochs(self, idx=None, *, defer: bool = False, tick: int | None = None) -> int:
        """Check the epochs completed by sessions ``idx`` (default: all) in one batched call.

        Which sessions completed an epoch: their buffers' sample counts against each one's
        next epoch end (with ``tick``, all sessions once per tick: only those whose next epoch
        can be complete by then, :meth:`_poll`); only those sessions' buffers are read.
        With ``defer`` (sessions not due in this tick) the completed epochs are read but
        their check waits for the session's next index update (:meth:`epochs` without
        ``defer`` checks a session's waiting epochs with its own), or for 64 waiting epochs:
        one batched call instead of one per tick for a few stragglers.

        Returns
        -------
        int
            Epochs read.
        """
        if idx is None and tick is not None:
            ready = self._poll(tick)
        elif idx is None:
            written = np.fromiter(map(_TOTAL, self._eeg_bufs), np.int64, len(self._eeg_bufs))
            ready = np.flatnonzero(written >= self._next_end).tolist()
        else:  # the dozen sessions due: plain Python
            idx = idx.tolist() if isinstance(idx, np.ndarray) else list(idx)
            bufs, ends = self._eeg_bufs, self._next_end
            ready = [i for i in idx if bufs[i].total_written >= ends[i]]
        sessions, nep, waiting = self.sessions, self.nep, self._waiting
        n_read = 0
        for i in ready:
            s = sessions[i]
            got = s.complete_epochs(nep)
            n_read += len(got)
            waiting.setdefault(i, []).extend(got)
            self._next_end[i] = nep * (s.next_epoch + 1)
        self._n_waiting += n_read
        if defer and self._n_waiting < 64:
            return n_read
        if idx is None or defer:
            check = list(waiting)
        else:
            check = [i for i in idx if i in waiting]
        streams, nums, rows = [], [], []
        for i in check:
            got = waiting.pop(i)
            self._n_waiting -= len(got)
            for e, x in got:
                streams.append(i)
                nums.append(e)
                rows.append(x)
        if rows:
            # (n_channels, m, n) in memory as its (m, n_channels, n) view: add needs no copy
            self.rolling.add(streams, nums, np.stack(rows, axis=1).transpose(1, 0, 2))
        return n_read

    def _poll(self, tick: int) -> list:
        """Sessions whose next epoch is complete, of those polled at ``tick``.

        A session is polled from the first tick at which its next epoch can be complete: its
        missing samples cannot be sampled faster than the stream's rate, so after a poll it
        waits ``floor(missing / (sfreq * tick_s))`` ticks (at least one). The samples in
        flight arrive sooner, so an epoch may be read a few ticks late (by this poll or by
        the session's own update); which epochs are checked together changes no result.
        The sessions to poll are kept by tick (a dozen per tick at 500 sessions).
        """
        at, cand = self._poll_at, []
        for t in range(self._polled + 1, tick + 1):  # every tick since the last poll
            cand += at.pop(t, ())
        self._polled = max(self._polled, tick)
        bufs, ends, nep = self._eeg_bufs, self._next_end, self.nep
        per_tick = self.rolling.sfreq * self.cfg.tick_s
        ready = []
        for i in cand:
            w = bufs[i].total_written
            if w >= ends[i]:
                ready.append(i)  # read by the caller: its next end is then nep (w // nep + 1)
            short = nep * (w // nep + 1) - w  # samples missing to the next epoch end
            t = tick + max(1, int(short / per_tick))
            if t in at:
                at[t].append(i)
            else:
                at[t] = [i]
        return ready

    def features(self, upd):
        """The index features of the updates ``[(i, session_time)]``."""
        win, sessions = self.cfg.rr_window_s, self.sessions
        # the RR values of each window (EventBuffer.latest(win, now=st).data, without the
        # Window); every beat screened: with the median computed only for beats not surely
        # near it, remembering the previous window's verdicts cost more than it saved (removed)
        rr = [sessions[i].rr_buf.values_between(st - win, st)[0] for i, st in upd]
        return self.rolling.index_features_batch([i for i, _ in upd], [st for _, st in upd], rr)

    def score(self, feature_sets):
        """Index of every update (one ONNX call)."""
        return score_sessions(
            feature_sets, self.history, baselines=[self.baseline] * len(feature_sets)
        )

    def prescribe(self, scores):
        """The prescription of every update."""
        age, scr = self.cfg.age, self._screening
        return [with_prescription(s, age, scr) for s in scores]


def _objects(items: list) -> np.ndarray:
    """``items`` as a 1-D object array (bytes and hubs stay whole elements)."""
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_sessions(
    n_sessions: int,
    duration_s: float,
    cfg: BenchConfig = BenchConfig(),
    sources: BenchSources | None = None,
    *,
    keep_scores: bool = False,
) -> RunResult:
    """Serve ``n_sessions`` concurrent simulated sessions for ``duration_s`` of session time.

    Parameters
    ----------
    n_sessions : int
        Concurrent sessions served by this thread.
    duration_s : float
        Session time streamed per session (s).
    cfg : BenchConfig
        Benchmark parameters.
    sources : BenchSources | None
        Pre-generated streams (at least ``duration_s`` long); generated when omitted.
    keep_scores : bool
        Keep every ``(session, session_time, SessionScore)`` in ``RunResult.scores``.

    Returns
    -------
    RunResult
    """
    n_sessions = int(n_sessions)
    if n_sessions < 1:
        raise ValueError(f"n_sessions must be >= 1, got {n_sessions!r}.")
    if not duration_s >= cfg.hop_s:
        raise ValueError(f"duration_s must be >= hop_s ({cfg.hop_s} s), got {duration_s!r}.")
    if sources is None or sources.duration_s < duration_s:
        sources = make_sources(duration_s, cfg)
    # The pre-generated notification streams and their tick schedule stand in for the radio:
    # production holds no such lists. Freezing them (and whatever else exists now) out of the
    # cyclic garbage collector keeps its full collections from traversing harness data (at 900
    # sessions they made each full collection tens of ms longer). The server built below is
    # collected as in production.
    gc.collect()
    plan = plan_ticks(n_sessions, duration_s, cfg, sources)  # the radio's schedule: harness
    gc.freeze()
    try:
        return _serve(n_sessions, duration_s, cfg, sources, keep_scores, plan)
    finally:
        gc.unfreeze()


def _serve(n_sessions, duration_s, cfg, sources, keep_scores, plan) -> RunResult:
    """The body of :func:`run_sessions` (arguments checked, harness data frozen)."""
    rss0 = _rss_bytes()
    srv = SessionServer(n_sessions, duration_s, cfg, sources)
    n_ticks, bounds, due = plan
    all_idx = list(range(n_sessions))
    every = cfg.rest_ingest_ticks
    svc_wall, svc_cpu = np.zeros(n_ticks), np.zeros(n_ticks)
    off_wall: list[float] = []
    off_cpu: list[float] = []
    stage = dict.fromkeys(("ingest", "epochs", "features", "onnx_index", "prescribe"), 0.0)
    due_stage = dict.fromkeys(stage, 0.0)  # the same stages on the latency path only
    tick_of_update: list[int] = []
    scores_kept: list = []
    n_notes = n_with_index = 0
    last_index = None
    perf, tcpu = time.perf_counter, time.thread_time
    wall0, cpu0 = perf(), tcpu()
    for k in range(n_ticks):
        w0, c0 = perf(), tcpu()
        upd = due[k]
        first = sorted({i for i, _ in upd})
        if upd:
            # 1. the sessions due now: their data, their epochs, their index and prescription
            n_notes += srv.ingest(first, k, bounds)
            c1 = tcpu()
            srv.epochs(first)
            c2 = tcpu()
            fsets = srv.features(upd)
            c3 = tcpu()
            scores = srv.score(fsets)
            c4 = tcpu()
            scores = srv.prescribe(scores)
            c5 = tcpu()
            w_done = perf()
            for name, dt in (
                ("ingest", c1 - c0),
                ("epochs", c2 - c1),
                ("features", c3 - c2),
                ("onnx_index", c4 - c3),
                ("prescribe", c5 - c4),
            ):
                stage[name] += dt
                due_stage[name] += dt
            off_wall.extend([w_done - w0] * len(upd))
            off_cpu.extend([c5 - c0] * len(upd))
            tick_of_update.extend([k] * len(upd))
            for (i, st), sc in zip(upd, scores):
                if sc.index.index is not None:
                    n_with_index += 1
                    last_index = sc.index.index
                if keep_scores:
                    scores_kept.append((i, st, sc))
        # 2. at the end of each batching window (and of the run): every other session's
        # notifications since its last hand-over, and its epochs
        c5 = c6 = c7 = tcpu()
        if (k + 1) % every == 0 or k == n_ticks - 1:
            if upd:
                done = set(first)
                rest = [i for i in all_idx if i not in done]
            else:
                rest = all_idx
            n_notes += srv.ingest(rest, k, bounds)
            c6 = tcpu()
            srv.epochs(defer=True, tick=k)  # checked with the session's next update (or 64)
            c7 = tcpu()
        stage["ingest"] += c6 - c5
        stage["epochs"] += c7 - c6
        svc_wall[k] = perf() - w0
        svc_cpu[k] = c7 - c0
    wall = perf() - wall0
    cpu = tcpu() - cpu0
    rss1 = _rss_bytes()
    tou = np.asarray(tick_of_update, dtype=np.int64)
    tick = cfg.tick_s
    lat_w, ov_w, bl_w = schedule(svc_wall, tick, tou, np.asarray(off_wall))
    lat_c, ov_c, bl_c = schedule(svc_cpu, tick, tou, np.asarray(off_cpu))

    def held(lat, ov, bl):
        p99 = float(np.percentile(lat, 99)) if lat.size else 0.0
        return bool(ov <= cfg.max_overrun_rate and p99 <= cfg.latency_limit_ms and bl < tick)

    hw, hc = held(lat_w, ov_w, bl_w), held(lat_c, ov_c, bl_c)
    del srv
    return RunResult(
        n_sessions=n_sessions,
        duration_s=float(duration_s),
        tick_s=tick,
        n_ticks=n_ticks,
        n_notifications=n_notes,
        n_index_updates=int(tou.size),
        n_with_index=n_with_index,
        latency_ms=lat_w,
        latency_cpu_ms=lat_c,
        overrun_rate_wall=ov_w,
        overrun_rate_cpu=ov_c,
        backlog_wall_s=bl_w,
        backlog_cpu_s=bl_c,
        cpu_s=cpu,
        wall_s=wall,
        stage_cpu_s=stage,
        due_stage_cpu_s=due_stage,
        rss_growth_per_session_bytes=max(rss1 - rss0, 0) / n_sessions,
        held_wall=hw,
        held_cpu=hc,
        held=hc if cfg.clock == "cpu" else hw,
        last_index=last_index,
        scores=scores_kept,
    )
