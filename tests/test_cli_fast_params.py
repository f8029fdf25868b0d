"""addictidx.cli.fast_params: plain option values equal Typer's own conversion, without pydantic.

The reference is Typer's own converter (``typer._coercion.build_runtime_param``, pydantic
``TypeAdapter`` based) run on the same parameter and value: every value, or the error message
and type, must be identical.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer._click import Context

from addictidx.cli import fast_params

pytestmark = pytest.mark.skipif(
    not fast_params.install(), reason="this Typer has no build_runtime_param hook"
)

VALUES = {
    "n": [
        5,
        -2,
        2.0,
        True,
        "5",
        "0",
        "-3",
        "-0",
        "007",
        "1_000",
        " 5",
        "5 ",
        "+5",
        "5.0",
        "abc",
        "",
        "1e3",
        "99999999999999999999",
        "123456789012345678",
    ],
    "x": [
        2.5,
        3,
        float("inf"),
        "0.25",
        "1",
        "-0",
        "-0.5",
        "1e3",
        "inf",
        "nan",
        ".5",
        "5.",
        "abc",
        "",
        "1_0.5",
        " 2.5",
        "0.1000000000000000055511151231257827",
        "123456789012345.123456789012345",
    ],
    "code": ["P301", "", " a b ", "ü", "-"],
    "path": [
        Path("data/x.csv"),
        Path("/tmp"),
        "data/x.csv",
        "",
        "~",
        ".",
        "a b",
        "/tmp",
        "-",
        "does/not/exist.csv",
    ],
    "flag": [True, False],
    "paths": [("a.csv", "b.csv"), ("a.csv", ""), ()],
    "ns": [("1", "2"), ("1", "x"), ()],
}


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def cmd(
        paths: list[Path] = typer.Argument(None),
        n: int | None = typer.Option(None, "--n"),
        x: float | None = typer.Option(None, "--x"),
        code: str | None = typer.Option(None, "--code"),
        path: Path | None = typer.Option(None, "--path"),
        flag: bool = typer.Option(False, "--flag"),
        ns: list[int] = typer.Option(None, "--ns"),
        bounded: int = typer.Option(3, "--bounded", min=1),
    ) -> None:
        pass

    @app.command()
    def other() -> None:
        pass

    return app


def _outcome(fn):
    try:
        v = fn()
    except Exception as exc:  # compare the error itself
        return ("error", type(exc).__name__, str(getattr(exc, "message", exc)))
    if isinstance(v, float) and math.isnan(v):
        return ("value", float, "nan")
    return ("value", type(v), v if not isinstance(v, list) else [(type(i), i) for i in v])


def test_every_plain_value_converts_as_typer_does():
    from typer._coercion import build_runtime_param as typers_own

    cmd = typer.main.get_command(_app()).commands["cmd"]
    ctx = Context(cmd)
    params = {p.name: p for p in cmd.params}
    checked = 0
    for name, values in VALUES.items():
        p = params[name]
        fast = fast_params._PlainParam.__name__ == type(p.get_runtime_param()).__name__
        assert fast, f"{name} should take the plain converter"
        ref = typers_own(p.type_descriptor)
        for v in [None, *values]:
            fast, own = p.get_runtime_param(), ref
            got = _outcome(lambda v=v, p=p, c=fast: c.coerce(v, param=p, ctx=ctx))
            want = _outcome(lambda v=v, p=p, c=own: c.coerce(v, param=p, ctx=ctx))
            assert got == want, (name, v, got, want)
            checked += 1
    assert checked > 50


def test_other_parameters_keep_typers_converter():
    cmd = typer.main.get_command(_app()).commands["cmd"]
    bounded = next(p for p in cmd.params if p.name == "bounded")
    assert type(bounded.get_runtime_param()).__name__ != "_PlainParam"


def test_cli_parses_without_importing_pydantic(tmp_path):
    # a command line with a path list, a path, a string and flags, failing after parsing
    code = (
        "import sys\n"
        "from addictidx.cli import main\n"
        f"sys.argv = ['addictidx', 'rescore', {str(tmp_path / 'none.csv')!r}, '--rr-unit', 's',"
        " '--json']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    print('exit', e.code, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["exit", "2", "False"], out.stdout + out.stderr
    assert "none.csv" in out.stderr


def test_bad_values_keep_typers_message():
    from typer.testing import CliRunner

    res = CliRunner().invoke(_app(), ["cmd", "--n", "abc"])
    assert res.exit_code == 2
    assert "Invalid value for '--n'" in res.output
    res = CliRunner().invoke(_app(), ["cmd", "--n", "12", "--x", "0.5", "--code", "P301"])
    assert res.exit_code == 0, res.output


def test_one_file_rescore_imports_no_pydantic_or_numpy_ma(tmp_path):
    # what keeps a one-file rescore's fixed cost down (issue 16.4) stays in place
    from addictidx.readers import bundled_muse_eeg

    rec = bundled_muse_eeg()
    n = int(120 * rec.sfreq)
    eeg = tmp_path / "rec.csv"
    rows = ["timestamps," + ",".join(rec.ch_names)]
    rows += [
        f"{1.6e9 + i / rec.sfreq:.3f}," + ",".join(f"{v:.3f}" for v in rec.data[:, i])
        for i in range(n)
    ]
    eeg.write_text("\n".join(rows) + "\n")
    rr = tmp_path / "rr.txt"
    rr.write_text("\n".join(["0.85", "0.9", "0.88", "0.92"] * 40) + "\n")
    code = (
        "import sys, io, contextlib, gc\n"
        "from addictidx.cli import main\n"
        f"sys.argv = ['addictidx', 'rescore', {str(eeg)!r}, '--rr', {str(rr)!r}, '--json']\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        main()\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "print(code, 'pydantic' in sys.modules, 'numpy.ma' in sys.modules, '\"index\"' in "
        "out.getvalue())\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert res.stdout.split() == ["0", "False", "False", "True"], res.stdout + res.stderr
