"""``addictidx federated serve|join|simulate``: multi-site training with Flower (issue 20)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from addictidx.cli.app import app, clean_errors

__all__ = ["serve_cmd", "join_cmd", "simulate_cmd"]

federated_app = typer.Typer(
    help="Federated training of the research classifier (Flower; Python >= 3.11).",
    no_args_is_help=True,
)
app.add_typer(federated_app, name="federated")

_DP_HELP = "Central DP: Gaussian noise multiplier on the averaged updates (0 = off)."


def _require_flower() -> None:
    from addictidx.federated import flower_unavailable

    why = flower_unavailable()
    if why is not None:
        raise ValueError(why)


def _dp(noise: float, clip: float, delta: float):
    from addictidx.federated.server import DPSettings

    if noise < 0 or clip <= 0 or not 0 < delta < 1:
        raise ValueError("--dp-noise must be >= 0, --dp-clip > 0 and --dp-delta in (0, 1).")
    return None if noise == 0 else DPSettings(noise, clip, delta)


def _certs(cert_dir: Path | None):
    if cert_dir is None:
        return None
    names = ("ca.crt", "server.pem", "server.key")
    missing = [n for n in names if not (cert_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"--certificates {cert_dir}: missing {', '.join(missing)}.")
    return tuple((cert_dir / n).read_bytes() for n in names)


@federated_app.command("simulate")
@clean_errors
def simulate_cmd(
    dataset: str = typer.Option(..., "--dataset", help="Named labelled set: uci-alcoholism."),
    data: Path = typer.Option(..., "--data", help="Folder of the named data set."),
    sites: int = typer.Option(3, "--sites", help="Sites the subjects are split into."),
    rounds: int = typer.Option(20, "--rounds", help="Federated training rounds."),
    c: float = typer.Option(1.0, "--C", help="Inverse regularisation (federated and pooled)."),
    no_consent_site: list[int] = typer.Option(
        [], "--no-consent-site", help="Site index whose subjects gave no research consent."
    ),
    dp_noise: float = typer.Option(0.0, "--dp-noise", help=_DP_HELP),
    dp_clip: float = typer.Option(1.0, "--dp-clip", help="Central DP: update clipping norm."),
    dp_delta: float = typer.Option(1e-5, "--dp-delta", help="Central DP: delta."),
    n_boot: int = typer.Option(2000, "--n-boot", help="Bootstrap resamples for the 95% CIs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the site split, bootstrap, DP noise."),
    out: Path | None = typer.Option(None, "--out", help="Export the federated model here."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Split a data set's subjects into sites and train federatedly in one process."""
    _require_flower()
    from addictidx._core.validate import check_option
    from addictidx.federated.evaluate import simulate
    from addictidx.models.training import uci_feature_table

    check_option("--dataset", dataset, ("uci-alcoholism",))
    consent = [k not in set(no_consent_site) for k in range(sites)]
    result = simulate(
        uci_feature_table(data),
        n_sites=sites,
        rounds=rounds,
        C=c,
        dp=_dp(dp_noise, dp_clip, dp_delta),
        n_boot=n_boot,
        seed=seed,
        consent=consent,
        out_dir=out,
    )
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return

    def ci(v):
        return "n/a" if not v or v[0] is None else f"[{v[0]:.2f}, {v[1]:.2f}]"

    typer.echo(
        f"Federated (RESEARCH), {sites} sites, {rounds} rounds, leave-one-site-out: AUC "
        f"{result['federated_auc']:.3f} {ci(result['federated_auc_ci95'])}; pooled "
        f"{result['pooled_auc']:.3f} {ci(result['pooled_auc_ci95'])}; difference "
        f"{result['auc_difference']:+.3f}"
    )


@federated_app.command("serve")
@clean_errors
def serve_cmd(
    rounds: int = typer.Option(20, "--rounds", help="Training rounds."),
    min_sites: int = typer.Option(3, "--min-sites", help="Sites needed in every round."),
    address: str = typer.Option("0.0.0.0:8080", "--address", help="Address to listen on."),
    n_features: int = typer.Option(16, "--n-features", help="Features of the shared model."),
    certificates: Path | None = typer.Option(
        None, "--certificates", help="Folder with ca.crt, server.pem, server.key (TLS)."
    ),
    dp_noise: float = typer.Option(0.0, "--dp-noise", help=_DP_HELP),
    dp_clip: float = typer.Option(1.0, "--dp-clip", help="Central DP: update clipping norm."),
    dp_delta: float = typer.Option(1e-5, "--dp-delta", help="Central DP: delta."),
    out: Path | None = typer.Option(None, "--out", help="Write the final parameters (.npz)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Run the federated server; sites join with `federated join`."""
    _require_flower()
    import numpy as np

    from addictidx.federated.server import dp_epsilon, serve

    dp = _dp(dp_noise, dp_clip, dp_delta)
    model = serve(
        address,
        rounds=rounds,
        min_sites=min_sites,
        n_features=n_features,
        dp=dp,
        certificates=_certs(certificates),
    )
    if out is not None:
        np.savez(out, mean=model.mean, std=model.std, coef=model.coef, intercept=model.intercept)
    eps = None if dp is None else dp_epsilon(dp.noise_multiplier, rounds + 1, dp.delta)
    summary = {"rounds": rounds, "min_sites": min_sites, "dp_epsilon": eps, "out": str(out)}
    typer.echo(
        json.dumps(summary, indent=2) if json_out else f"Federated training done: {summary}"
    )


@federated_app.command("join")
@clean_errors
def join_cmd(
    server: str = typer.Option(..., "--server", help="Server address host:port."),
    store: Path = typer.Option(..., "--store", help="This site's store (consent, audit)."),
    table: Path = typer.Option(..., "--table", help="This site's labelled feature table (CSV)."),
    label: str = typer.Option(..., "--label", help="Label column (2 classes)."),
    group: str = typer.Option(..., "--group", help="Subject-code column."),
    c: float = typer.Option(1.0, "--C", help="Inverse regularisation."),
    root_cert: Path | None = typer.Option(None, "--root-cert", help="CA certificate (TLS)."),
    wait: float = typer.Option(
        120.0, "--wait", help="Seconds to wait for the server to listen (sites may start first)."
    ),
) -> None:
    """Take part in a federated training with this site's consenting subjects only."""
    _require_flower()
    from addictidx.federated.server import join
    from addictidx.federated.site import consenting_rows
    from addictidx.models.training import load_feature_table
    from addictidx.store import SessionStore

    tbl = load_feature_table(table, label=label, group=group)
    from addictidx.cli.sessions import existing_store

    with SessionStore(existing_store(store, None)) as st:  # never creates a store
        data = consenting_rows(st, tbl.X, tbl.y, tbl.groups, audit_detail={"server": server})
    typer.echo(
        f"Joining {server}: {data.n_subjects} consenting subject(s), {data.n_excluded} left out "
        "(no research consent); only model parameters and counts are sent.",
        err=True,
    )
    if wait < 0:
        raise ValueError(f"--wait must be >= 0 seconds, got {wait}.")
    try:
        join(
            server,
            data,
            C=c,
            root_cert=None if root_cert is None else root_cert.read_bytes(),
            wait_s=wait,
        )
    except ConnectionError as err:
        raise ValueError(str(err)) from None
