"""Pseudonymous subject codes: the one rule every entry point checks.

A code is matched *whole* (``re.fullmatch``: a trailing newline is not "the end") against one
strict pattern, then refused when it has the shape of something identifying. The default
pattern is 3-32 letters and digits in groups joined by single ``-`` or ``_``, with at least one
letter and one digit (``P001``, ``SITE2-0042``, ``DEMO-001``); a site sets its own with
``ADDICTIDX_SUBJECT_CODE_PATTERN`` (a regular expression the whole code must match, e.g.
``BER-[0-9]{4}``). Whatever the pattern, codes are refused that contain whitespace or control
characters, or look like a date (``19800131``, ``31-01-1980``, a year group such as
``_1980``), a phone, ID or account number (9 or more digits, e.g. ``123-45-6789``), an IBAN, or
a name (two capitalised words, ``John_Smith``).
"""

from __future__ import annotations

import os
import re

__all__ = ["check_subject_code", "CODE_PATTERN_ENV", "DEFAULT_CODE_PATTERN"]

#: Environment variable holding a site's own code pattern.
CODE_PATTERN_ENV = "ADDICTIDX_SUBJECT_CODE_PATTERN"
#: Groups of letters/digits joined by single '-' or '_'.
DEFAULT_CODE_PATTERN = r"[A-Za-z0-9]+(?:[-_][A-Za-z0-9]+)*"

_YEAR = r"(?:19|20)\d\d"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01])"
_SEP = r"[-_.]?"
_DATE = re.compile(
    rf"(?<!\d)(?:{_YEAR}{_SEP}{_MONTH}{_SEP}{_DAY}|{_DAY}{_SEP}{_MONTH}{_SEP}{_YEAR}"
    rf"|{_MONTH}{_SEP}{_DAY}{_SEP}{_YEAR}|{_DAY}{_MONTH}\d\d)(?!\d)"
)
_YEAR_GROUP = re.compile(rf"(?:^|[-_]){_YEAR}(?:$|[-_])")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", re.I)
_NAME_WORD = re.compile(r"[A-Z][a-z]{1,}")


def _shape_problem(code: str) -> str | None:
    if any(c.isspace() or not c.isprintable() for c in code):
        return "it contains whitespace or control characters"
    if sum(c.isdigit() for c in code) >= 9:
        return "it looks like a phone, ID or account number (9 or more digits)"
    if _IBAN.fullmatch(code):
        return "it looks like an IBAN"
    if _DATE.search(code) or _YEAR_GROUP.search(code):
        return "it looks like a date (of birth?)"
    words = [g for g in re.split(r"[-_]", code) if _NAME_WORD.fullmatch(g)]
    if len(words) >= 2:
        return "it looks like a name"
    return None


def check_subject_code(code: str) -> str:
    """Validate a pseudonymous subject code and return it.

    Raises
    ------
    ValueError
        If the code does not match the site's pattern (see the module notes) or has the shape
        of a date, phone/ID/account number, IBAN or name.
    """
    pattern = os.environ.get(CODE_PATTERN_ENV) or None
    ok = isinstance(code, str) and 3 <= len(code) <= 32
    if ok:
        if pattern is None:
            ok = bool(re.fullmatch(DEFAULT_CODE_PATTERN, code))
            ok = ok and any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
        else:
            ok = bool(re.fullmatch(pattern, code))
        ok = ok and code.isascii()
    if not ok:
        rule = (
            f"the site's pattern {pattern!r}"
            if pattern
            else "3-32 letters and digits (groups joined by '-' or '_'), with at least one "
            "letter and one digit (e.g. 'P001')"
        )
        raise ValueError(
            f"Invalid subject code {code!r}: use a pseudonymous code of {rule}; never a name, "
            "date or ID number."
        )
    problem = _shape_problem(code)
    if problem:
        raise ValueError(
            f"Invalid subject code {code!r}: {problem}; use a pseudonymous code (e.g. 'P001'), "
            "never a name, date or ID number."
        )
    return code
