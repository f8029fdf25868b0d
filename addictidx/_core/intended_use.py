"""The intended-use statement every surface that shows the index repeats (EVIDENCE.md §7(v))."""

from __future__ import annotations

__all__ = ["INTENDED_USE", "NOT_FOR", "DISCLAIMER_SHORT"]

INTENDED_USE = (
    "The addiction index (a physiological deviation index) reports how far today's resting "
    "heart-rate variability, heart rate and frontal/temporal EEG band ratios deviate from this "
    "person's own baseline (or, before 5 baseline sessions, from published population norms). "
    "It is decision support for rehabilitation staff planning exercise or music sessions."
)

NOT_FOR = (
    "It is not a diagnosis of substance use disorder, does not detect drug use, craving or "
    "'addiction level', does not predict relapse or dangerousness, is not a lie detector, does "
    "not "
    "read thoughts or infer emotions or intentions, and must "
    "never be used for discipline, release, privileges, rankings or comparisons between people. "
    "Not validated in this population; no accuracy is claimed. Exercise and music reduce "
    "self-reported craving, anxiety and depression in trials with small-to-moderate effects; they "
    "are not a cure."
)

DISCLAIMER_SHORT = (
    "Decision support only - not a diagnosis, drug test, lie detector or disciplinary score."
)
