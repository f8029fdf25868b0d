"""Analyse one audio file: decode, tags, tempo, loudness, energy, content hash.

Libraries: :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis, MP3 with libsndfile >= 1.1)
decodes; files it cannot read go through :func:`librosa.load`, which falls back to
:mod:`audioread` (ffmpeg/GStreamer when installed). :mod:`mutagen` reads title, artist and a
BPM tag. :mod:`librosa` gives the onset envelopes of the tempo estimate
(:mod:`addictidx.music.tempo`) and the RMS energy. Loudness is integrated loudness in LUFS
(ITU-R BS.1770-4 K-weighting and gating) by :mod:`pyloudnorm` when it is installed, else the
RMS level in dBFS; :data:`TrackAnalysis.loudness_method` says which.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from addictidx.music.tempo import ANALYSIS_SFREQ, estimate_tempo

__all__ = [
    "AUDIO_EXTENSIONS",
    "ANALYSIS_VERSION",
    "MAX_TEMPO_SECONDS",
    "TrackAnalysis",
    "TrackTags",
    "AudioDecodeError",
    "analyse_file",
    "file_sha256",
    "read_tags",
    "decode",
]

#: File extensions a scan looks at (lower case).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3")
#: Bumped when the analysis changes: rows of an older version are analysed again.
ANALYSIS_VERSION = 1
#: The tempo is estimated on at most this many seconds from the middle of a track.
MAX_TEMPO_SECONDS = 120.0


class AudioDecodeError(ValueError):
    """A file that no installed decoder can read (one line naming the file)."""


@dataclass(frozen=True)
class TrackTags:
    """What the file's tags say (``None`` = no tag)."""

    title: str | None = None
    artist: str | None = None
    bpm: float | None = None


@dataclass(frozen=True)
class TrackAnalysis:
    """One analysed file.

    Attributes
    ----------
    sha256 : str
        Hash of the file's bytes.
    duration_s : float
    sfreq : float
        The file's sampling rate (Hz).
    n_channels : int
    title, artist : str | None
        From the tags.
    tag_bpm : float | None
        BPM tag, if any.
    tempo_bpm : float
        Estimated tempo (NaN: no pulse found).
    tempo_confidence : float
        Pulse clarity 0-1.
    beat_strength : float
        Mean onset strength at the beats over the mean (1 = no beat).
    octave_reason : str
        How the tempo octave was chosen.
    loudness : float
        Integrated loudness (LUFS) or RMS level (dBFS), see ``loudness_method``.
    loudness_method : str
        ``"lufs"`` (pyloudnorm, ITU-R BS.1770-4) or ``"rms_dbfs"``.
    energy_rms_dbfs : float
        Mean frame RMS (librosa, 2048-sample frames) in dB full scale.
    decoder : str
        ``"soundfile"`` or ``"audioread"``.
    """

    sha256: str
    duration_s: float
    sfreq: float
    n_channels: int
    title: str | None
    artist: str | None
    tag_bpm: float | None
    tempo_bpm: float
    tempo_confidence: float
    beat_strength: float
    octave_reason: str
    loudness: float
    loudness_method: str
    energy_rms_dbfs: float
    decoder: str


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _first(tags, *keys) -> str | None:
    for k in keys:
        try:
            v = tags.get(k)
        except (KeyError, ValueError, TypeError):
            v = None
        if v:
            v = v[0] if isinstance(v, (list, tuple)) else v
            text = str(v).strip()
            if text:
                return text
    return None


def read_tags(path: str | Path) -> TrackTags:
    """Title, artist and BPM tag by mutagen (empty :class:`TrackTags` when there are none)."""
    import mutagen

    try:
        f = mutagen.File(str(path), easy=True)
    except Exception:  # noqa: BLE001 - unreadable tags are no tags; decoding decides
        return TrackTags()
    tags = getattr(f, "tags", None)
    if not tags:
        return TrackTags()
    bpm = None
    raw = _first(tags, "bpm", "tempo", "TBPM")
    if raw is not None:
        try:
            bpm = float(raw.replace(",", "."))
        except ValueError:
            bpm = None
        if bpm is not None and not (math.isfinite(bpm) and 20.0 <= bpm <= 400.0):
            bpm = None
    return TrackTags(_first(tags, "title"), _first(tags, "artist"), bpm)


def decode(path: str | Path) -> tuple[np.ndarray, float, str]:
    """Decode a file to ``(samples (n_channels, n_times) float32, sfreq, decoder)``.

    Raises
    ------
    AudioDecodeError
        No installed decoder reads it, or it holds no samples.
    """
    import soundfile as sf

    try:
        with _quiet_c_stderr():  # libmpg123 prints resync notes on fd 2
            data, sfreq = sf.read(str(path), dtype="float32", always_2d=True)
        x, decoder = data.T, "soundfile"
    except Exception as exc:  # noqa: BLE001 - libsndfile refuses: try audioread
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = re.sub(r"^Error opening .*?: ", "", first).rstrip(".")
        if "does not exist or is not a regular file" in first:  # libsndfile's generic refusal
            first = "format not recognised"
        try:
            import warnings

            import librosa

            with warnings.catch_warnings(), _quiet_c_stderr():
                warnings.simplefilter("ignore")
                y, sfreq = librosa.load(str(path), sr=None, mono=False)
            x, decoder = np.atleast_2d(y).astype(np.float32), "audioread"
        except Exception:  # noqa: BLE001
            raise AudioDecodeError(
                f"{path}: not decodable as wav/flac/ogg/mp3 (libsndfile: {first}; "
                "audioread found no decoder that reads it)"
            ) from None
    if x.size == 0 or x.shape[1] == 0:
        raise AudioDecodeError(f"{path}: no audio samples")
    if not np.all(np.isfinite(x)):
        raise AudioDecodeError(f"{path}: audio holds non-finite samples")
    return x, float(sfreq), decoder


@contextlib.contextmanager
def _quiet_c_stderr():
    """Silence file descriptor 2 (messages C decoders print) for the duration."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no fd 2
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _loudness(x: np.ndarray, sfreq: float) -> tuple[float, str]:
    try:
        import pyloudnorm
    except ImportError:
        pyloudnorm = None
    if pyloudnorm is not None and x.shape[1] >= int(0.4 * sfreq) + 1:
        meter = pyloudnorm.Meter(int(sfreq))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(meter.integrated_loudness(x.T.astype(np.float64)))
        return (value if math.isfinite(value) else -math.inf), "lufs"
    ms = float(np.mean(np.square(x, dtype=np.float64)))
    return (10.0 * math.log10(ms) if ms > 0 else -math.inf), "rms_dbfs"


def _middle(y: np.ndarray, sfreq: float, seconds: float) -> np.ndarray:
    n = int(seconds * sfreq)
    if y.size <= n:
        return y
    a = (y.size - n) // 2
    return y[a : a + n]


def analyse_file(path: str | Path, *, sha256: str | None = None) -> TrackAnalysis:
    """Analyse one audio file (see the module notes).

    Parameters
    ----------
    path : path-like
    sha256 : str | None
        The file's hash when the caller already computed it.

    Raises
    ------
    AudioDecodeError
        The file cannot be decoded.
    """
    import librosa

    x, sfreq, decoder = decode(path)
    tags = read_tags(path)
    loud, method = _loudness(x, sfreq)
    mono = x.mean(axis=0)
    if int(sfreq) != ANALYSIS_SFREQ:
        mono = librosa.resample(mono, orig_sr=sfreq, target_sr=ANALYSIS_SFREQ)
    est = estimate_tempo(
        _middle(mono, ANALYSIS_SFREQ, MAX_TEMPO_SECONDS), ANALYSIS_SFREQ, tag_bpm=tags.bpm
    )
    rms = librosa.feature.rms(y=mono, frame_length=2048, hop_length=512)[0]
    mean_rms = float(np.mean(rms)) if rms.size else 0.0
    energy = 20.0 * math.log10(mean_rms) if mean_rms > 0 else -math.inf
    return TrackAnalysis(
        sha256=sha256 or file_sha256(path),
        duration_s=float(x.shape[1] / sfreq),
        sfreq=float(sfreq),
        n_channels=int(x.shape[0]),
        title=tags.title,
        artist=tags.artist,
        tag_bpm=tags.bpm,
        tempo_bpm=est.tempo_bpm,
        tempo_confidence=est.confidence,
        beat_strength=est.beat_strength,
        octave_reason=est.octave_reason,
        loudness=loud,
        loudness_method=method,
        energy_rms_dbfs=energy,
        decoder=decoder,
    )
