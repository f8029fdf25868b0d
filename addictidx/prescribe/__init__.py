"""Exercise and music suggestions from the index band and the pre-session state (EVIDENCE
§7(iii)-(iv)).

Suggestions for staff and participant, never orders. The closed loop on live RR-derived heart rate
(zone guidance, music tempo, enforced safety stops) is in :mod:`addictidx.prescribe.controller`
(with :mod:`~addictidx.prescribe.safety` and :mod:`~addictidx.prescribe.tempo`); import it from
there. Importing this package is light (no onnx, onnxruntime or scipy).
"""

from addictidx.prescribe.rules import (
    BANDS,
    STATES,
    Modality,
    MusicLoopSpec,
    Rule,
    RuleTable,
    WeekLog,
    load_rules,
    prescribe,
    staff_override,
)
from addictidx.prescribe.screening import (
    ADULT_AGE_RANGE,
    AMBER_SYMPTOMS,
    RED_SYMPTOMS,
    STAFF_FLAGS,
    Screening,
    check_age,
    hr_target_bpm,
    hrmax_tanaka,
    infer_state,
    karvonen_bpm,
)

__all__ = [
    "ADULT_AGE_RANGE",
    "AMBER_SYMPTOMS",
    "BANDS",
    "Modality",
    "MusicLoopSpec",
    "WeekLog",
    "staff_override",
    "RED_SYMPTOMS",
    "Rule",
    "RuleTable",
    "STAFF_FLAGS",
    "STATES",
    "Screening",
    "check_age",
    "hr_target_bpm",
    "hrmax_tanaka",
    "infer_state",
    "karvonen_bpm",
    "load_rules",
    "prescribe",
]
