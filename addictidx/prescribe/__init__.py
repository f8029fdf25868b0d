"""Exercise and music suggestions from the index band and the pre-session state (EVIDENCE §7(iii)-(iv)).

Suggestions for staff and participant, never orders. Importing this package is light (no
onnx, onnxruntime or scipy).
"""

from addictidx.prescribe.rules import BANDS, STATES, Rule, RuleTable, load_rules, prescribe
from addictidx.prescribe.screening import (
    AMBER_SYMPTOMS,
    RED_SYMPTOMS,
    STAFF_FLAGS,
    Screening,
    hr_target_bpm,
    hrmax_tanaka,
    infer_state,
    karvonen_bpm,
)

__all__ = [
    "AMBER_SYMPTOMS",
    "BANDS",
    "RED_SYMPTOMS",
    "Rule",
    "RuleTable",
    "STAFF_FLAGS",
    "STATES",
    "Screening",
    "hr_target_bpm",
    "hrmax_tanaka",
    "infer_state",
    "karvonen_bpm",
    "load_rules",
    "prescribe",
]
