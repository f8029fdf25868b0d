"""End-to-end real-time benchmark of the production path (``addictidx bench``).

Many simulated live sessions are served by one thread: byte-exact BLE notifications ->
:class:`~addictidx.acquire.StreamHub` (decode, assemble, gap-marked buffers) -> incremental
index features (:class:`~addictidx.features.RollingEpochs`,
:func:`~addictidx.features.rr_index_features`) -> :func:`~addictidx.sessions.scoring.
score_sessions` (ONNX index) -> prescription. The latency, capacity and CPU figures therefore
describe the code a live session runs. A test replays the same recording through a live
session and through this harness and gets the same index (tests/test_bench.py).

CPU ratios against the reference (``cpu_ratio_vs_reference``, ``cpu_ratio_vs_lean_reference``)
are taken at the ``p99_at`` run (500 sessions on one core, the serving load), with that run's
ingest added to the reference; the single-session ratios (``*_single_session``, where fixed
per-tick costs are shared by nobody: the conservative figures) and the capacity ratios
(``*_at_capacity``) are reported beside them (:data:`~addictidx.bench.report.RATIO_NOTE`).

Modules: :mod:`.config` (parameters, results), :mod:`.sources` (notification streams),
:mod:`.server` (the server model and its tick loop), :mod:`.timeline` (hand-over and due
times, the real-time replay of service times), :mod:`.capacity` (capacity search, memory
per session), :mod:`.reference` (MNE + NeuroKit2 + scikit-learn doing the same work),
:mod:`.report` (the whole benchmark as one JSON dict).
"""

from addictidx.bench.capacity import find_capacity, session_memory_bytes
from addictidx.bench.config import BenchConfig, RunResult, latency_summary
from addictidx.bench.reference import run_reference, sklearn_index_pipeline
from addictidx.bench.report import machine_info, run_benchmark
from addictidx.bench.server import SessionServer, run_sessions
from addictidx.bench.sources import BenchSources, ecg_notifications, make_sources
from addictidx.bench.timeline import schedule

__all__ = [
    "BenchConfig",
    "BenchSources",
    "RunResult",
    "SessionServer",
    "ecg_notifications",
    "find_capacity",
    "latency_summary",
    "machine_info",
    "make_sources",
    "run_benchmark",
    "run_reference",
    "run_sessions",
    "schedule",
    "session_memory_bytes",
    "sklearn_index_pipeline",
]
