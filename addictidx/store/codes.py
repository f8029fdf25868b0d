"""Pseudonymous subject codes: the one rule every entry point checks."""

from __future__ import annotations

import re

__all__ = ["check_subject_code"]

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,31}$")


def check_subject_code(code: str) -> str:
    """Validate a pseudonymous subject code and return it.

    A code is 3-32 characters of letters, digits, ``-`` or ``_``, starts with a letter or digit
    and contains at least one digit (``P001``, ``SITE2-0042``). The digit rule keeps people from
    typing a name where a code belongs; the store never holds names or other identifiers.

    Raises
    ------
    ValueError
        If the code does not follow these rules.
    """
    if not isinstance(code, str) or not _CODE_RE.match(code) or not any(c.isdigit() for c in code):
        raise ValueError(
            f"Invalid subject code {code!r}: use a pseudonymous code of 3-32 letters, digits, '-' "
            "or '_' that contains at least one digit (e.g. 'P001'); never a name or ID number."
        )
    return code
