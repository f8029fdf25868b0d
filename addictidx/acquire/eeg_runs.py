"""Classic-Muse EEG packets of many headbands assembled in one pass (the steady case).

A server serving many sessions hands over, per BLE connection interval, a few EEG packets of
each headband. In the steady case every headband's packets continue its last block in order:
blocks ``next, next + 1, ...``, each block's electrodes once (in any order), the last block
possibly partial. :func:`plan_eeg_runs` checks that for all headbands at once (numpy over the
packets of every headband) and lays the samples of every block into one array;
:func:`apply_eeg_runs` then writes each headband's whole blocks into its ring buffer with one
write and moves the assemblers on
(:func:`~addictidx.acquire.assemble.advance_steady_many`).

The result is the one :meth:`~addictidx.acquire.assemble.MuseEegAssembler.feed` gives packet
by packet: the same
samples, the same sample times (the same floating-point operations, ``t0 + (12 (s - s0) + k) /
sfreq``), the same counters; subscribers of the hub get the same one-block chunks. Every other
case (a lost, late, repeated or reordered block, a disconnect, the first packets, the
``lstsq`` clock) is left to the packet-by-packet path: :func:`plan_eeg_runs` reports those
headbands and changes nothing.
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter

import numpy as np

from addictidx.acquire.assemble import advance_steady_many
from addictidx.acquire.buffers import write_many

_SAMPLES, _ARRIVED = itemgetter(0), itemgetter(1)  # of a pending partial block

__all__ = ["EegRunPlan", "plan_eeg_runs", "apply_eeg_runs"]


class EegRunPlan:
    """Blocks of the headbands of one :func:`plan_eeg_runs` call (same channels, same block)."""

    __slots__ = (
        "handlers",
        "nxt",
        "ok",
        "n_notes",
        "start",
        "n_prior",
        "base",
        "n_whole",
        "whole_base",
        "samples",
        "times",
        "received",
        "occupied",
        "last_rx",
    )


def plan_eeg_runs(handlers, blocks, clock, pending, hn, seq, rows, uv, t) -> EegRunPlan:
    """Check and lay out the packets of many steady EEG assemblers of one block shape.

    Parameters
    ----------
    handlers : list of EegHandler
        ``H`` handlers (classic Muse EEG streams), each with at least one packet here.
    blocks : ndarray of int64, shape (2, H)
        ``next, s0`` of each one's steady assembler
        (:func:`~addictidx.acquire.assemble.steady_states`).
    clock : ndarray of float64, shape (2, H)
        Its ``t0, sfreq``.
    pending : list
        Each one's partial ``next`` block ``(samples, electrode arrived)`` or None.
    hn : ndarray of int, shape (m,)
        Handler index of every packet; packets grouped by handler (non-decreasing), each
        handler's packets in arrival order.
    seq : ndarray of int, shape (m,)
        Raw 16-bit block counters.
    rows : ndarray of int, shape (m,)
        Electrode row of every packet.
    uv : ndarray, shape (m, samples_per_packet)
        Decoded samples (µV).
    t : ndarray, shape (m,)
        Arrival times on each hub's session clock (s).

    Returns
    -------
    EegRunPlan
        ``plan.ok[h]`` tells whether handler ``h``'s packets are a steady run; the others must
        be fed packet by packet (nothing of theirs was changed).
    """
    H = len(handlers)
    asm0 = handlers[0].asm
    n_ch, spp = asm0.spec.n_channels, asm0.spp
    nxt, s0 = blocks
    with_prior = [k for k, s in enumerate(pending) if s is not None]
    n_prior = np.zeros(H, dtype=np.int64)
    if with_prior:
        wp = np.array(with_prior)
        prior = [pending[k] for k in with_prior]
        P = len(prior)
        # (P, n_ch); fromiter over the flags in one pass (np.array of lists: 3x the time)
        arrived = np.fromiter(chain.from_iterable(map(_ARRIVED, prior)), bool, P * n_ch)
        arrived = arrived.reshape(P, n_ch)
        n_prior[wp] = arrived.sum(axis=1)
    cnt = np.bincount(hn, minlength=H)
    start = np.cumsum(cnt) - cnt
    v = n_prior[hn] + (np.arange(hn.size) - start[hn])  # place in the handler's run
    blk = v // n_ch
    bad = seq != ((nxt[hn] + blk) & 0xFFFF)  # not the next block in order (16-bit counter)
    nb = (n_prior + cnt + n_ch - 1) // n_ch  # blocks touched per handler
    base = np.cumsum(nb) - nb
    B = int(nb.sum())
    gb = base[hn] + blk
    key = gb * n_ch + rows
    occupied = np.bincount(key, minlength=B * n_ch)
    samples = np.full((n_ch, B, spp), np.nan)
    if with_prior:
        occupied.reshape(B, n_ch)[base[wp]] += arrived
        # np.array of the blocks, (P, n_ch, spp): half the time of np.stack(axis=1)
        samples[:, base[wp], :] = np.array(list(map(_SAMPLES, prior))).transpose(1, 0, 2)
    bad |= occupied[key] > 1  # an electrode twice in one block
    ok = np.ones(H, dtype=bool)
    ok[hn[bad]] = False

    samples[rows, gb, :] = uv
    ends = np.empty(hn.size, dtype=bool)  # last packet of each block: its arrival is the block's
    ends[:-1] = gb[1:] != gb[:-1]
    ends[-1:] = True
    received = np.full(B, np.nan)
    received[gb[ends]] = t[ends]

    n_whole = (n_prior + cnt) // n_ch
    E = int(n_whole.sum())
    whole_base = np.cumsum(n_whole) - n_whole
    hb = np.repeat(np.arange(H), n_whole)
    x = nxt[hb] + (np.arange(E) - whole_base[hb])
    # MuseEegAssembler._times: idx = ramp + float(spp (x - s0)); idx /= sfreq; idx += t0
    times = np.arange(spp, dtype=np.float64) + (spp * (x - s0[hb])).astype(np.float64)[:, None]
    times /= clock[1, hb][:, None]
    times += clock[0, hb][:, None]

    plan = EegRunPlan()
    plan.handlers, plan.nxt, plan.ok = handlers, nxt, ok
    plan.n_notes, plan.start, plan.n_prior, plan.base = cnt, start, n_prior, base
    plan.n_whole, plan.whole_base = n_whole, whole_base
    plan.samples, plan.times, plan.received, plan.occupied = samples, times, received, occupied
    plan.last_rx = t[start + cnt - 1]
    return plan


def apply_eeg_runs(plan: EegRunPlan, which) -> None:
    """Emit the whole blocks of handlers ``which`` (indices with ``plan.ok``) and move their
    assemblers on; a partial last block stays pending, as packet by packet.

    The ring buffers of the handlers whose hub has no subscriber are written together
    (:func:`~addictidx.acquire.buffers.write_many`); the others chunk by chunk.
    """
    samples, times, received, occupied = plan.samples, plan.times, plan.received, plan.occupied
    n_ch, B, spp = samples.shape
    handlers = plan.handlers
    which = np.asarray(which, dtype=np.intp)
    wl = which.tolist()
    hs = [handlers[h] for h in wl]
    f = plan.n_whole[which]  # whole blocks of each
    b = plan.base[which]  # its first block
    e = plan.whole_base[which]  # its first row of times
    f_l = f.tolist()
    pub = [hd.hub.publishing for hd in hs]
    if any(pub):
        quiet = []
        for k, hd in enumerate(hs):
            if f_l[k]:
                if pub[k]:
                    bk, ek, fk = b[k], e[k], f_l[k]
                    hd.write_whole_blocks(
                        samples[:, bk : bk + fk].reshape(n_ch, -1),
                        times[ek : ek + fk].reshape(-1),
                        int(plan.nxt[wl[k]]),
                        received[bk : bk + fk],
                    )
                else:
                    quiet.append(k)
    else:  # nobody subscribed: every handler with a whole block into write_many
        quiet = np.flatnonzero(f).tolist()
    if quiet:
        q = np.asarray(quiet)
        fq = f[q]
        rep = np.repeat(q, fq)
        k = np.arange(rep.size) - np.repeat(np.cumsum(fq) - fq, fq)
        # channel-major (n_ch, samples): write_many takes its transpose (a view) and scatters
        # each channel's samples to consecutive ring positions
        values = samples[:, b[rep] + k].reshape(n_ch, -1)
        write_many([hs[i].buf for i in quiet], values.T, times[e[rep] + k].reshape(-1), fq * spp)
    # time of each handler's last emitted sample (NaN: no whole block)
    last_t = np.full(f.size, np.nan)
    if times.size:
        w = f > 0
        last_t[w] = times[e[w] + f[w] - 1, -1]
    last_t = last_t.tolist()
    n_left = (plan.n_prior[which] + plan.n_notes[which]) % n_ch
    partials = [None] * len(wl)
    part = np.flatnonzero(n_left)
    if part.size:
        p = b[part] + f[part]  # each one's partial block
        arrived = (occupied.reshape(B, n_ch)[p] > 0).tolist()
        pblocks = samples[:, p].transpose(1, 0, 2)  # iterated: one (n_ch, spp) view each
        for k, x, a, r, m in zip(
            part.tolist(), pblocks, arrived, received[p].tolist(), n_left[part].tolist()
        ):
            # [samples, electrode arrived, last arrival, number arrived] (MuseEegAssembler)
            partials[k] = [x.copy(), a, r, m]
    for hd, fk, lt in zip(hs, f_l, last_t):
        if fk:
            hd.last_time = lt
    n_notes, last_rx = plan.n_notes[which].tolist(), plan.last_rx[which].tolist()
    advance_steady_many([hd.asm for hd in hs], n_notes, f_l, last_rx, partials)
