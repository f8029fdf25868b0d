"""The terminal's live view of an assessment (``assess``): what staff see while it runs.

:func:`live_rows` is plain data (label, text with rich markup) read from a
:class:`~addictidx.sessions.live.LiveAssessment` on every refresh; :class:`LiveView` lays it
out with rich. Once the rest phases are scored the index and the suggestion stay on screen, and
during the guided intervention the heart rate is shown against its target zone (issue 17.4).
"""

from __future__ import annotations

__all__ = ["LiveView", "live_rows", "plural"]


def plural(n: int, word: str) -> str:
    """``1 mark``, ``2 marks``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _rng(v, unit: str) -> str:
    return "-" if v is None else f"{v[0]}-{v[1]} {unit}"


def live_rows(live, subject: str, sid, keys: dict) -> list[tuple[str, object]]:
    """The rows of the live view; ``keys`` = the typed keys and what they do."""
    if live is None:
        return [("addictidx", "connecting...")]
    from rich.progress_bar import ProgressBar

    clock = live.clock
    total = live.protocol.duration_s
    phase = clock.phase
    ended = live.stopped or clock.done
    state = "[red]PAUSED - signal lost" if clock.paused else "[green]recording"
    if phase is not None and phase.kind == "check" and not clock.paused:
        state = "[yellow]device check (waiting for good signal)"
    if live.stopped:
        state = "[red]STOPPED by staff or a safety stop"
    elif clock.done:
        state = "[green]protocol complete, scoring"
    rows: list[tuple[str, object]] = [("subject / session", f"{subject} / #{sid}")]
    rows.append(("phase", f"{phase.name.replace('_', ' ') if phase else '-'}  {state}"))
    if phase is not None and phase.instruction and not ended:
        rows.append(("instruction", phase.instruction))
    done = total - clock.remaining_s()
    if ended:
        at = clock.last_t or 0.0
        rows.append(("time", f"ended at {at:.0f} s (planned {total:.0f} s)"))
    else:
        rows.append(("progress", ProgressBar(total=total, completed=done, width=40)))
        rows.append(("time left", f"{clock.remaining_s():.0f} s of {total:.0f} s"))
    hr = live.hr_bpm
    contact = {True: "contact", False: "[red]NO CONTACT[/]", None: "contact n/a"}
    bat = "  ".join(f"{d} {v:.0f}%" for d, v in live.battery.items())
    rows.append(
        (
            "heart rate",
            f"{'-' if hr is None else f'{hr:.0f} bpm'}  ({contact[live.strap_contact]})"
            + (f"  battery {bat}" if bat else ""),
        )
    )
    score = getattr(live, "scored", None)
    if score is not None:
        ix = score.index
        if ix.index is None:
            rows.append(("index", f"not computed: {ix.reason}"))
        else:
            ref = "own baseline" if ix.baseline == "personal" else "POPULATION norms"
            rows.append(
                ("index", f"{ix.index:.0f} {str(ix.band).upper()} (vs {ref}; decision support)")
            )
        rx = score.prescription
        if rx is not None:
            rows.append(("suggestion", f"{rx.activity} (state {rx.state.upper()})"))
            rows.append(
                (
                    "targets",
                    f"HR {_rng(rx.hr_target_bpm, 'bpm')} = {_rng(rx.intensity_pct_hrr, '% HRR')}"
                    f", {_rng(rx.duration_min, 'min')}, music {_rng(rx.music_bpm, 'bpm')}",
                )
            )
        else:
            rows.append(("suggestion", "none (no resting heart rate or no age)"))
        if phase is not None and phase.kind == "intervention" and not ended:
            zone = rx.hr_target_bpm if rx is not None else None
            if zone is not None and hr is not None:
                where = (
                    "[yellow]below[/]"
                    if hr < zone[0]
                    else "[red]above[/]"
                    if hr > zone[1]
                    else "[green]in[/]"
                )
                rows.append(
                    ("zone", f"HR {hr:.0f} bpm is {where} the zone {zone[0]}-{zone[1]} bpm")
                )
    if live.loop_events:
        e = live.loop_events[-1]
        rows.append(("closed loop", f"{e.t_s:.0f} s {e.kind.replace('_', ' ')}: {e.reason}"))
    q = live.channel_quality
    qs = "  ".join(f"[{'green' if v >= 0.6 else 'red'}]{ch} {v:.0%}[/]" for ch, v in q.items())
    rows.append(("EEG quality", qs or "-"))
    n = sum(1 for e in live.events if e[0] == "mark")
    rows.append(
        (
            "events",
            f"{plural(n, 'mark')}; type "
            + ", ".join(f"{k}={v}" for k, v in keys.items())
            + " + Enter",
        )
    )
    return rows


class LiveView:
    """A rich renderable that reads the live assessment on every refresh."""

    def __init__(self, subject: str, keys: dict) -> None:
        self.subject = subject
        self.keys = keys
        self.live = None
        self.sid = None

    def __rich__(self):
        from rich.table import Table

        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold")
        t.add_column()
        for label, value in live_rows(self.live, self.subject, self.sid, self.keys):
            t.add_row(label, value)
        return t
