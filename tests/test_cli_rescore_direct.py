"""``addictidx rescore FILE`` without Typer (cli/rescore_one.py, issue 16.4) says exactly what the
Typer command says: same stdout, stderr and exit code, whichever path runs it.

Each case runs twice as a user runs it (a subprocess): through ``addictidx.cli.main`` (which
takes the Typer-free path for the command lines it accepts) and through the Typer app itself
(``addictidx.cli.app.main``).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from addictidx.cli.rescore_one import parse_direct

_RUN = (
    "import os, sys\n"
    "sys.argv = ['addictidx', *{args!r}]\n"
    "def flag():\n"
    "    sys.stderr.write('TYPER=%s\\n' % ('typer' in sys.modules))\n"
    "    sys.stderr.flush()\n"
    "real_exit = os._exit\n"
    "def _exit(code):  # the direct path ends by os._exit (no interpreter teardown)\n"
    "    flag()\n"
    "    real_exit(code)\n"
    "os._exit = _exit\n"
    "from {module} import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    flag()\n"
)


def _run(args, module):
    code = _RUN.format(args=list(args), module=module)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    err, _, flag = proc.stderr.rpartition("TYPER=")
    return proc.returncode, proc.stdout, err, flag.strip() == "True"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from addictidx.readers import bundled_muse_eeg

    d = tmp_path_factory.mktemp("direct")
    rec = bundled_muse_eeg()
    n = int(90 * rec.sfreq)
    eeg = d / "rec.csv"
    rows = ["timestamps," + ",".join(rec.ch_names)]
    rows += [
        f"{1.6e9 + i / rec.sfreq:.3f}," + ",".join(f"{v:.3f}" for v in rec.data[:, i])
        for i in range(n)
    ]
    eeg.write_text("\n".join(rows) + "\n")
    rr = d / "rr.txt"
    rr.write_text("\n".join(["0.85", "0.9", "0.88", "0.92"] * 30) + "\n")
    rr_ms = d / "rr_ms.txt"
    rr_ms.write_text("\n".join(["850", "900", "880", "920"] * 30) + "\n")
    bad = d / "bad.csv"
    bad.write_text("timestamps,TP9,AF7,AF8,TP10\n1.0,2,3,4\n")
    return {"eeg": str(eeg), "rr": str(rr), "rr_ms": str(rr_ms), "bad": str(bad), "dir": str(d)}


CASES = [
    ("eeg", "--rr", "rr", "--json"),  # the benchmark's command line
    ("--json", "eeg", "--rr", "rr_ms"),  # options first, RR unit detected (a note)
    ("eeg", "--rr", "rr_ms", "--rr-unit", "ms"),  # text output
    ("eeg",),  # no RR: a note in the text
    ("eeg", "--rr", "missing.txt", "--json"),  # one-line error, exit 2
    ("bad", "--json"),  # malformed CSV: one-line error naming the line
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: " ".join(c))
def test_direct_path_says_what_typer_says(files, case):
    args = ["rescore"] + [files.get(w, w) for w in case]
    direct = _run(args, "addictidx.cli")
    typer_ = _run(args, "addictidx.cli.app")
    assert direct[3] is False, "the direct path imported Typer"
    assert typer_[3] is True
    assert direct[:3] == typer_[:3]
    assert direct[0] in (0, 2)


@pytest.mark.parametrize(
    "case",
    [
        ("eeg", "--help"),
        ("eeg", "--json", "--json"),
        ("eeg", "--rr=rr"),
        ("eeg", "--rr", "rr", "--rr", "rr"),
        ("eeg", "--rr-unit", "h"),
        ("eeg", "--rr-unit", "S"),
        ("eeg", "--out", "t.csv"),
        ("eeg", "--rr", "-x"),
        ("eeg", "eeg"),
        ("dir",),
        ("missing.csv",),
        ("",),
        ("eeg", "--"),
        ("eeg", "--rr"),
        (),
    ],
    ids=repr,
)
def test_anything_else_goes_to_typer(files, case):
    assert parse_direct([files.get(w, w) for w in case]) is None


def test_accepted_command_lines(files):
    got = parse_direct([files["eeg"], "--rr-unit", "ms", "--rr", "nowhere.txt", "--json"])
    assert got is not None
    assert (str(got["file"]), str(got["rr_file"]), got["rr_unit"], got["json_out"]) == (
        files["eeg"],
        "nowhere.txt",  # a missing RR file is Typer's too: the reader names it
        "ms",
        True,
    )


def test_refused_command_line_runs_typer(files):
    # --rr-unit h: Typer's path gives the CLI's one-line error, whichever entry point ran it
    args = ["rescore", files["eeg"], "--rr-unit", "h"]
    code, _, err, imported = _run(args, "addictidx.cli")
    assert (code, imported) == (2, True)
    assert "'--rr-unit'" in err and err.count("\n") == 1


def test_app_is_the_full_typer_app_in_a_direct_process(files):
    # a process started as a Typer-free rescore still gets the whole app on request
    code = (
        "import sys\n"
        f"sys.argv = ['addictidx', 'rescore', {files['eeg']!r}]\n"
        "import addictidx.cli as cli\n"
        "from addictidx.cli import app\n"
        "from addictidx.cli import app as again\n"
        "from typer.main import get_command\n"
        "print(cli._DIRECT, again is app, sorted(get_command(app).commands)[:3])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split(" ", 2)[:2] == ["True", "True"], out.stdout + out.stderr
    assert "'assess'" in out.stdout
