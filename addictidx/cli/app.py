"""Command-line interface: ``addictidx <command>``.

Heavy libraries (scipy, onnxruntime, mne, neurokit2) are imported inside the commands that need
them, so ``addictidx --help`` and ``addictidx --version`` start fast. Errors raised on purpose
(:class:`addictidx._core.AddictIdxError`, ``ValueError`` from validation) are printed as one line
on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from pathlib import Path

import typer

import addictidx
from addictidx.cli import fast_params

fast_params.install()  # plain option values converted without pydantic (see fast_params)

app = typer.Typer(
    name="addictidx",
    help=(
        "Wearable EEG + HRV addiction index (a physiological deviation index from the person's "
        "own "
        "baseline) and exercise/music decision support for rehabilitation staff. "
        "Decision support only: not a diagnosis, drug test, lie detector or disciplinary score."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
profiles_app = typer.Typer(help="Device profiles (work without a device).", no_args_is_help=True)
sessions_app = typer.Typer(help="Stored assessment sessions.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")
app.add_typer(sessions_app, name="sessions")


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"addictidx: error: {message}", err=True)
    raise typer.Exit(code)


def clean_errors(func):
    """Turn expected errors into one clear line and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from addictidx._core.errors import AddictIdxError

        try:
            return func(*args, **kwargs)
        except (AddictIdxError, ValueError, FileNotFoundError, PermissionError) as exc:
            fail(str(exc))

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"addictidx {addictidx.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool | None = typer.Option(
        None, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Root options."""


def default_store() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("addictidx", appauthor=False)) / "store"


# ``demo``, ``assess``, ``rescore`` and the ``sessions`` commands live in
# addictidx/cli/sessions.py.


# --------------------------------------------------------------------------------------------
@profiles_app.command("list")
@clean_errors
def profiles_list() -> None:
    """List the shipped device profiles."""
    from addictidx.acquire.profiles import list_profiles, load_profile

    for name in list_profiles():
        p = load_profile(name)
        streams = ", ".join(s.name for s in p.streams)
        typer.echo(f"{name:<16} {p.label:<36} streams: {streams}")


@profiles_app.command("show")
@clean_errors
def profiles_show(
    name: str = typer.Argument(..., help="Profile name or path to a TOML file."),
) -> None:
    """Show one device profile as JSON."""
    from addictidx.acquire.profiles import load_profile

    typer.echo(json.dumps(_jsonable(load_profile(name)), indent=2))


def _jsonable(obj):
    """Frozen dataclasses, read-only mappings and tuples as plain JSON data."""
    import dataclasses
    from collections.abc import Mapping

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


# --------------------------------------------------------------------------------------------
@app.command("index")
@clean_errors
def index_cmd(
    features: Path = typer.Option(..., "--features", help="JSON file: feature values by name."),
    baseline: Path = typer.Option(
        ..., "--baseline", help='JSON file: {"feature": {"median": m, "mad": d}}.'
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compute the addiction index from features and a baseline."""
    from addictidx.models import load_baseline_json, score_index
    from addictidx.report.summary import index_result_dict

    try:
        feats = json.loads(Path(features).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{features}: not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(feats, dict):
        raise ValueError(f"{features}: expected a JSON object of feature values by name.")
    result = score_index(feats, load_baseline_json(baseline))
    out = index_result_dict(result)
    if json_out:
        typer.echo(json.dumps(out, indent=2))
    else:
        from addictidx.report.summary import format_index

        typer.echo(format_index(result))


@app.command("prescribe")
@clean_errors
def prescribe_cmd(
    index: float | None = typer.Option(None, "--index", help="Addiction index 0-100."),
    age: int | None = typer.Option(
        None, "--age", help="Age in years (18-90); required unless --hrmax is given."
    ),
    resting_hr: float = typer.Option(..., "--resting-hr", help="Resting heart rate (bpm)."),
    hrmax: float | None = typer.Option(
        None, "--hrmax", help="Measured HRmax (bpm); replaces the age-predicted one."
    ),
    state: str | None = typer.Option(
        None, "--state", help="Override the inferred state: green, amber or red."
    ),
    override_reason: str | None = typer.Option(
        None, "--reason", help="Why staff set --state (written into the rationale)."
    ),
    screened: bool = typer.Option(
        False,
        "--screened/--not-screened",
        help="Staff confirm the person completed the pre-session medical screening. Default "
        "(as in assess, dashboard and demo): not screened = light intensity only "
        "(EVIDENCE.md 7(iv)).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Suggest an exercise or music session from the index and physiology."""
    from addictidx.cli.clinical import require_age, screening_answers
    from addictidx.prescribe import prescribe

    age = require_age(age, hrmax=hrmax, accepts_hrmax=True)
    if state is not None:
        state = state.lower()
    rx = prescribe(
        index,
        age=age,
        resting_hr=resting_hr,
        hrmax=hrmax,
        state=state,
        override_state=True,
        override_reason=override_reason,
        screening=screening_answers(screened),
    )
    if json_out:
        typer.echo(json.dumps(rx.to_dict(), indent=2))
    else:
        from addictidx.report.summary import format_prescription

        typer.echo(format_prescription(rx))


def app_for(args: list[str]) -> typer.Typer:
    """``app``, or, when ``args`` starts with a top-level command's name, ``app`` holding only it.

    Typer builds the parameters of every command of an app before it runs one (about 0.02
    CPU-s for this app, the signatures and annotations of ~70 commands); the copy runs that
    command exactly as ``app`` does (same root options, program name, usage and errors).
    Anything else (``--help``, ``--version``, a group such as ``sessions``, a typo) gets
    ``app`` itself.
    """
    if not args or args[0].startswith("-"):
        return app
    from typer.main import get_command_name

    chosen = [
        c
        for c in app.registered_commands
        if (c.name or get_command_name(c.callback.__name__)) == args[0]
    ]
    if len(chosen) != 1:
        return app
    one = copy.copy(app)
    one.registered_commands = chosen
    one.registered_groups = []
    return one


def register_commands() -> None:
    """Import every command module (:mod:`addictidx.cli.commands`): each adds its commands to
    ``app`` when first imported."""
    from addictidx.cli import commands  # noqa: F401


def main() -> None:
    """Run the Typer app on ``sys.argv`` (through :func:`addictidx.cli.main`)."""
    # (No gc.freeze() at exit to skip the last collection, ~0.04 CPU-s: gRPC's server, as
    # `federated serve` runs it, then crashed with SIGSEGV at interpreter shutdown.)
    register_commands()
    app_for(sys.argv[1:])()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
