"""Validation helpers with one error wording (modelled on MNE's ``_check_option``).

Public functions call these on their first lines so that every bad argument produces the same
shape of message, naming the parameter, what was allowed and what was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["check_option", "check_positive", "check_data_2d", "check_1d", "check_sfreq"]


def _fmt_allowed(allowed: Iterable[Any]) -> str:
    items = [repr(a) for a in allowed]
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def check_option(parameter: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a uniform ``ValueError``.

    Parameters
    ----------
    parameter : str
        Name of the parameter, as the caller wrote it.
    value : object
        The value given.
    allowed : iterable
        The accepted values.

    Returns
    -------
    value : object
        The value, unchanged.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(
            f"Invalid value for the {parameter!r} parameter. Allowed values are "
            f"{_fmt_allowed(allowed)}, but got {value!r} instead."
        )
    return value


def check_positive(parameter: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` if it is finite and > 0 (or >= 0), else raise ``ValueError``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{parameter!r} must be a number, but got {value!r} instead.") from None
    ok = math.isfinite(v) and (v >= 0 if allow_zero else v > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{parameter!r} must be finite and {bound}, but got {value!r} instead.")
    return v


def check_sfreq(sfreq: float) -> float:
    """Return a validated sampling frequency in Hz."""
    return check_positive("sfreq", sfreq)


def check_data_2d(data: Any, *, name: str = "data", allow_nan: bool = True) -> np.ndarray:
    """Return ``data`` as a float64 array shaped ``(n_channels, n_times)``.

    Raises
    ------
    ValueError
        If the array is not 2-D, is empty, or (with ``allow_nan=False``) holds NaN or inf.
    """
    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2D array of shape (n_channels, n_times), got shape {arr.shape}."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}.")
    if not allow_nan and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} holds a non-finite value at channel {bad[0]}, sample {bad[1]}; "
            "mark gaps explicitly instead of passing NaN here."
        )
    return arr


def check_1d(values: Any, *, name: str, allow_nan: bool = False, min_len: int = 0) -> np.ndarray:
    """Return ``values`` as a 1-D float64 array with at least ``min_len`` elements."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1D array, got shape {arr.shape}.")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.size}.")
    if not allow_nan and not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{name} holds a non-finite value at position {i}.")
    return arr
