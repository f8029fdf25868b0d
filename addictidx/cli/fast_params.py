"""Typer option values of plain types converted without building pydantic validators.

Typer (>= 0.2x) converts every command-line value through a pydantic ``TypeAdapter``: the first
command run in a process imports pydantic and builds one validator per parameter, about
0.1 CPU-s on a small machine, which is a fifth of what a whole ``addictidx rescore`` of one hour
may cost (issue 16.4). The values our commands take are plain (``str``, ``int``, ``float``,
``pathlib.Path`` and lists of them, without bounds or path checks beyond Typer's defaults), and
for the values a person types (``5``, ``0.25``, ``P301``, ``data/rec.csv``) the conversion is
``int(v)``, ``float(v)``, ``v`` or ``Path(v)`` (a flag is already ``True`` or ``False``).

:func:`install` wraps Typer's per-parameter converter factory: a parameter of such a type gets
a converter that handles those common spellings itself and hands every other value (``1_000``,
``1e3``, ``" 5"``, ``"abc"``, an empty string) to the converter Typer would have built, built
only then. Values, error messages and exit codes are therefore Typer's own; only the cost
differs. Parameters of any other kind (bounds, choices, dates, files, tuples, custom parsers)
keep Typer's converter unchanged. When the installed Typer lacks the hook (an older Typer that
does not use pydantic, or a newer one that moved it), :func:`install` does nothing.
tests/test_cli_fast_params.py checks that every converted value equals Typer's own.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["install", "installed"]

_INT = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")
_PATH_FLAGS = ("exists", "resolve_path", "allow_dash", "writable", "path_type", "parser")

_state: dict[str, object] = {}


def _plain_leaf(annotation, info) -> str | None:
    """The kind of a leaf annotation this module converts itself, else None."""
    if getattr(info, "parser", None) is not None or getattr(info, "click_type", None):
        return None
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if annotation in (int, float):
        if info.min is not None or info.max is not None or info.clamp:
            return None
        return annotation.__name__
    if annotation is Path:
        if any(getattr(info, k, None) for k in _PATH_FLAGS):
            return None
        if not (info.file_okay and info.dir_okay and info.readable):
            return None
        return "path"
    return None


class _PlainParam:
    """Converter for one plain parameter; other values go to Typer's own, built on demand."""

    def __init__(self, descriptor, kind: str, is_list: bool, build, coerce_path) -> None:
        self.descriptor = descriptor
        self.kind = kind
        self.is_list = is_list
        self._build = build
        self._coerce_path = coerce_path
        self._typer = None

    def _typers(self):
        if self._typer is None:
            self._typer = self._build(self.descriptor)
        return self._typer

    def _leaf(self, value, param, ctx):
        """Converted value, or ``_PlainParam`` itself when Typer's converter must decide."""
        if self.kind == "bool":
            return value if type(value) is bool else self
        info = self.descriptor.parameter_info
        if type(value) is not str:  # a default: already of the type, or Typer decides
            if self.kind in ("int", "float") and type(value) is (
                int if self.kind == "int" else float
            ):
                return value
            if self.kind == "path" and type(value) in (type(Path()), Path):
                return self._coerce_path(value, info, path_type=Path, param=param, ctx=ctx)
            return self
        if self.kind == "str":
            return value
        if self.kind == "int":
            return int(value) if _INT.fullmatch(value) else self
        if self.kind == "float":
            return float(value) if _FLOAT.fullmatch(value) else self
        if not value or "\x00" in value:
            return self
        return self._coerce_path(Path(value), info, path_type=Path, param=param, ctx=ctx)

    def coerce(self, value, param, ctx):
        """Typer's ``RuntimeParam.coerce``: missing values as Typer returns them."""
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi and isinstance(value, str):
            return self._typers().coerce(value, param=param, ctx=ctx)
        return self._coerce_value(value, param, ctx)

    def _coerce_value(self, value, param, ctx):
        if self.is_list:
            if not isinstance(value, (list, tuple)):
                return self._typers()._coerce_value(value, param=param, ctx=ctx)
            out = [self._leaf(v, param, ctx) for v in value]
            if any(v is self for v in out):
                return self._typers()._coerce_value(value, param=param, ctx=ctx)
            return out
        out = self._leaf(value, param, ctx)
        if out is self:
            return self._typers()._coerce_value(value, param=param, ctx=ctx)
        return out


def install() -> bool:
    """Route plain Typer parameters through :class:`_PlainParam` (idempotent).

    Returns
    -------
    installed : bool
        False when this Typer has no ``typer.core.build_runtime_param`` hook (nothing changed).
    """
    if "original" in _state:
        return True
    try:
        import typer.core as tcore
        from typer._param_types import coerce_cli_path
        from typer._typing import get_args, get_origin
    except ImportError:
        return False
    original = getattr(tcore, "build_runtime_param", None)
    if original is None:
        return False

    def build_runtime_param(descriptor):
        ann = descriptor.annotation
        info = descriptor.parameter_info
        is_list = get_origin(ann) is list
        leaf = get_args(ann)[0] if is_list and len(get_args(ann)) == 1 else ann
        kind = None if descriptor.file_annotation is not None else _plain_leaf(leaf, info)
        if kind is None:
            return original(descriptor)
        return _PlainParam(descriptor, kind, is_list, original, coerce_cli_path)

    tcore.build_runtime_param = build_runtime_param
    _state["original"] = original
    return True


def installed() -> bool:
    """Whether :func:`install` replaced Typer's converter factory in this process."""
    return "original" in _state
