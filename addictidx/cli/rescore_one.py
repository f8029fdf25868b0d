"""``addictidx rescore FILE``: the one-recording output, and that command line run without Typer.

:func:`one_file_output` is what ``rescore`` prints for one recording (text, or JSON with notes
and gaps); ``cli/rescore.py`` calls it for Typer.

:func:`run_direct` runs ``rescore FILE [--rr FILE] [--rr-unit s|ms] [--json]`` without
importing Typer (issue 16.4): importing Typer and building the command costs ~0.06 CPU-s,
more than a tenth of rescoring one hour. It takes that command line only when Typer would
read it exactly so and run the one-recording path: each option at most once, spelled
``--opt VALUE`` (no ``=``, no value starting with ``-``), one readable regular file, an
``--rr-unit`` of ``s`` or ``ms``, UTF-8 standard streams, not Windows (where Click expands
wildcards), no shell-completion request. Anything else (``--help``, another option, a folder,
a typo, a path Typer would refuse) returns ``None`` and Typer runs the command as always, with
its own parsing and messages. Output is written as ``typer.echo`` writes it (ANSI escape
sequences stripped when the stream is not a terminal, flushed); errors are the CLI's one line
``addictidx: error: ...`` with exit 2 (:func:`addictidx.cli.app.clean_errors`); an interrupt
ends as under Typer (exit 130; end of input: ``Aborted!``, exit 1; a closed pipe: exit 1).
tests/test_cli_rescore_direct.py compares both paths' output, error and exit code.
"""

from __future__ import annotations

import codecs
import errno
import json
import os
import re
import stat
import sys
from pathlib import Path

__all__ = ["one_file_output", "run_direct", "echo", "parse_direct", "exit_now"]

#: Click's pattern of ANSI style codes (``click._compat._ansi_re``), stripped off a non-terminal.
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")
_VALUE_OPTIONS = {"--rr": "rr_file", "--rr-unit": "rr_unit"}
_FLAGS = {"--json": "json_out"}


def echo(message: str, err: bool = False) -> None:
    """Write ``message`` and a newline as ``typer.echo`` does on a UTF-8 POSIX stream."""
    stream = sys.stderr if err else sys.stdout
    out = message + "\n"
    if not stream.isatty():
        out = _ANSI.sub("", out)
    stream.write(out)
    stream.flush()


def one_file_output(file, rr_file, rr_unit, json_out: bool, echo=echo) -> None:
    """Rescore one recording and print the result (text, or JSON with notes and gaps).

    Parameters
    ----------
    file, rr_file : path-like | None
        The recording and its separate RR file (or None).
    rr_unit : {"s", "ms"} | None
        Unit of RR values in files that do not name it.
    json_out : bool
        Print JSON.
    echo : callable
        ``echo(text, err=False)``: ``typer.echo`` under Typer, :func:`echo` without.
    """
    from addictidx.cluster.rescore import rescore_recording
    from addictidx.report.summary import format_index, index_result_dict

    r = rescore_recording(str(file), None if rr_file is None else str(rr_file), rr_unit=rr_unit)
    clean, result, notes = dict(r.features), r.result, list(r.notes)
    if json_out:
        out = index_result_dict(result)
        out["source"] = r.source
        out["features"] = clean
        out["notes"] = notes
        out["gaps"] = [
            {"onset_s": g.onset_s, "duration_s": g.duration_s, "reason": g.reason} for g in r.gaps
        ]
        for n in notes:
            echo(f"note: {n}", err=True)
        echo(json.dumps(out, indent=2))
        return
    echo(f"Re-scored {r.source} against population norms.")
    echo("  " + "  ".join(f"{k} {'-' if v is None else f'{v:.4g}'}" for k, v in clean.items()))
    echo(format_index(result))
    for n in notes:
        echo(f"Note: {n}")


def _utf8(stream) -> bool:
    enc = getattr(stream, "encoding", None)
    try:
        return enc is not None and codecs.lookup(enc).name == "utf-8"
    except LookupError:
        return False


def _path_as_typer_takes(value: str, *, must_be_file: bool) -> Path | None:
    """``Path(value)`` when Typer would pass it on unchanged (and, if asked, it is a readable
    regular file), else None."""
    if not value or "\x00" in value:
        return None
    try:
        st = os.stat(value)
    except OSError:
        return None if must_be_file else Path(value)
    if must_be_file and not stat.S_ISREG(st.st_mode):
        return None
    if not os.access(value, os.R_OK):  # Typer refuses it with its own message
        return None
    return Path(value)


def parse_direct(args: list[str]) -> dict | None:
    """The options of ``rescore ARGS`` when this module runs them, else None.

    Parameters
    ----------
    args : list of str
        The words after ``rescore``.

    Returns
    -------
    options : dict | None
        ``file``, ``rr_file``, ``rr_unit``, ``json_out``; None when Typer must run the command.
    """
    if sys.platform.startswith("win") or not (_utf8(sys.stdout) and _utf8(sys.stderr)):
        return None
    if any(k.endswith("_COMPLETE") for k in os.environ):
        return None
    opts: dict = {"rr_file": None, "rr_unit": None, "json_out": False}
    seen: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word in seen:
            return None
        if word in _FLAGS:
            opts[_FLAGS[word]] = True
        elif word in _VALUE_OPTIONS:
            if i + 1 == len(args) or args[i + 1].startswith("-"):
                return None
            opts[_VALUE_OPTIONS[word]] = args[i + 1]
            i += 1
        elif word.startswith("-"):
            return None
        else:
            positional.append(word)
            word = ""
        if word:
            seen.add(word)
        i += 1
    if len(positional) != 1 or opts["rr_unit"] not in (None, "s", "ms"):
        return None
    opts["file"] = _path_as_typer_takes(positional[0], must_be_file=True)
    if opts["file"] is None:
        return None
    if opts["rr_file"] is not None:
        opts["rr_file"] = _path_as_typer_takes(opts["rr_file"], must_be_file=False)
        if opts["rr_file"] is None:
            return None
    return opts


def run_direct(args: list[str]) -> int | None:
    """Run ``rescore ARGS`` without Typer when :func:`parse_direct` takes them.

    Returns
    -------
    exit_code : int | None
        The exit code, or None when Typer must run the command (nothing was done).
    """
    opts = parse_direct(args)
    if opts is None:
        return None
    from addictidx._core.errors import AddictIdxError

    try:
        try:
            one_file_output(
                opts["file"], opts["rr_file"], opts["rr_unit"], opts["json_out"], echo=echo
            )
        except (AddictIdxError, ValueError, FileNotFoundError, PermissionError) as exc:
            echo(f"addictidx: error: {exc}", err=True)
            return 2
    except EOFError:
        echo("", err=True)
        echo("Aborted!", err=True)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.stdout = _Pacified(sys.stdout)
        sys.stderr = _Pacified(sys.stderr)
        return 1
    return 0


def exit_now(code: int) -> None:
    """End the process with ``code`` once the output is flushed, skipping the interpreter's
    teardown.

    Freeing every module and object of a finished one-file rescore costs ~0.025 CPU-s and
    serves nothing: :func:`echo` flushed each line, the command writes no file, starts no
    thread and registers no exit handler. Only the Typer-free path ends so (never the Typer
    app: ``federated serve``'s gRPC server, for one, needs its orderly shutdown).
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            code = code or 1
        except (AttributeError, ValueError):  # replaced or closed by the caller
            pass
    os._exit(code)


class _Pacified:
    """A stream whose flush ignores a closed pipe (Click's ``PacifyFlushWrapper``)."""

    def __init__(self, wrapped) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as e:
            if e.errno != errno.EPIPE:
                raise

    def __getattr__(self, attr):
        return getattr(self.wrapped, attr)
