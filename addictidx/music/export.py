"""Playlists for any player: M3U (extended) and XSPF, and time-stretched copies.

M3U lists absolute file paths with ``#EXTINF`` (seconds, title); XSPF (the XML Shareable Playlist
Format 1, xspf.org) lists ``file://`` URIs with title, creator, duration (ms) and an annotation
naming the step tempo. Players play files as they are: for the planned tempo to be heard,
:func:`write_stretched` renders each stretched entry with :func:`librosa.effects.time_stretch`
(phase vocoder, pitch kept) into a folder, and the exports then point at those copies.
"""

from __future__ import annotations

from pathlib import Path

from addictidx.music.playlist import Playlist, PlaylistEntry

__all__ = ["write_m3u", "write_xspf", "write_stretched", "entry_note"]


def entry_note(e: PlaylistEntry) -> str:
    """``step 80 bpm: 76.0 bpm track x1.053 (same)`` for a playlist entry."""
    return (
        f"step {e.step_bpm} bpm: {e.track.tempo_bpm:.1f} bpm track"
        + (f" x{e.stretch_rate:.3f}" if e.stretch_rate != 1.0 else "")
        + f" ({e.relation}), plays {e.played_bpm:.1f} bpm"
    )


def _paths(pl: Playlist, files: dict[int, Path] | None) -> list[Path]:
    return [
        Path(files[i]) if files and i in files else Path(e.track.path)
        for i, e in enumerate(pl.entries)
    ]


def write_m3u(pl: Playlist, path: str | Path, *, files: dict[int, Path] | None = None) -> Path:
    """Write an extended M3U (UTF-8); ``files`` maps entry index -> stretched copy."""
    lines = ["#EXTM3U", f"#PLAYLIST:iso-principle {pl.start_bpm} -> {int(pl.target_bpm)} bpm"]
    for e, p in zip(pl.entries, _paths(pl, files)):
        label = e.track.label.replace("\n", " ").replace(",", " ")
        lines.append(f"#EXTINF:{int(round(e.duration_s))},{label} [{entry_note(e)}]")
        lines.append(str(p.resolve()))
    out = Path(path)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def write_xspf(pl: Playlist, path: str | Path, *, files: dict[int, Path] | None = None) -> Path:
    """Write an XSPF 1 playlist; ``files`` maps entry index -> stretched copy."""
    import xml.etree.ElementTree as ET

    ns = "http://xspf.org/ns/0/"
    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}playlist", version="1")
    ET.SubElement(
        root, f"{{{ns}}}title"
    ).text = f"iso-principle {pl.start_bpm} -> {int(pl.target_bpm)} bpm, {pl.minutes:g} min"
    tl = ET.SubElement(root, f"{{{ns}}}trackList")
    for e, p in zip(pl.entries, _paths(pl, files)):
        tr = ET.SubElement(tl, f"{{{ns}}}track")
        ET.SubElement(tr, f"{{{ns}}}location").text = p.resolve().as_uri()
        ET.SubElement(tr, f"{{{ns}}}title").text = e.track.title or Path(e.track.path).name
        if e.track.artist:
            ET.SubElement(tr, f"{{{ns}}}creator").text = e.track.artist
        ET.SubElement(tr, f"{{{ns}}}duration").text = str(int(round(e.duration_s * 1000)))
        ET.SubElement(tr, f"{{{ns}}}annotation").text = entry_note(e)
    out = Path(path)
    ET.ElementTree(root).write(out, encoding="utf-8", xml_declaration=True)
    return out


def write_stretched(pl: Playlist, directory: str | Path) -> dict[int, Path]:
    """Render every stretched entry (rate != 1) as FLAC in ``directory``; index -> file."""
    import librosa
    import numpy as np
    import soundfile as sf

    from addictidx.music.analysis import decode

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out: dict[int, Path] = {}
    done: dict[tuple[int, float], Path] = {}
    for i, e in enumerate(pl.entries):
        if e.stretch_rate == 1.0:
            continue
        key = (e.track.id, round(e.stretch_rate, 4))
        if key not in done:
            x, sfreq, _ = decode(e.track.path)
            y = np.stack([librosa.effects.time_stretch(ch, rate=e.stretch_rate) for ch in x])
            p = d / f"track{e.track.id}_x{e.stretch_rate:.4f}.flac"
            sf.write(str(p), y.T, int(sfreq))
            done[key] = p
        out[i] = done[key]
    return out
