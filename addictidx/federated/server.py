"""The federated server: Flower's FedAvg (optionally with central DP), in one process or on a
network.

* :func:`train_in_process` runs Flower's own :class:`flwr.server.Server` and strategy with the
  sites' clients in the same process (:class:`InProcessProxy`, no network, no Ray): the code
  path of ``federated simulate`` and of the evaluation.
* :func:`serve` / :func:`join` run the same strategy and clients over Flower's gRPC transport
  (``federated serve`` / ``federated join``).

Round 1 agrees on the feature standardisation (a weighted average of the sites' moments, which
FedAvg computes exactly); rounds 2..R+1 train the logistic regression by federated Newton steps
(FedAvg averages the sites' gradients and Hessians, :func:`~addictidx.federated.site.site_fit`).
Results are aggregated in site order (not arrival order), so a run is reproducible. With
``noise_multiplier > 0`` the strategy is wrapped in
:class:`flwr.server.strategy.DifferentialPrivacyServerSideFixedClipping` (updates clipped to
``clipping_norm``, Gaussian noise of standard deviation ``noise_multiplier * clipping_norm /
n_sites`` added to the average each round) and :func:`dp_epsilon` reports the privacy spent
(site-level DP).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from addictidx.federated.site import SiteData, initial_parameters, make_client, scaler_from

__all__ = [
    "FederatedModel",
    "DPSettings",
    "dp_epsilon",
    "make_strategy",
    "InProcessProxy",
    "train_in_process",
    "serve",
    "join",
]


@dataclass(frozen=True)
class FederatedModel:
    """The global model: standardisation and logistic regression."""

    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    rounds: int

    def predict_proba(self, X) -> np.ndarray:
        """P(class 1) of each row."""
        from scipy.special import expit

        z = ((np.asarray(X, dtype=np.float64) - self.mean) / self.std) @ self.coef.ravel()
        return expit(z + float(self.intercept.ravel()[0]))

    def sklearn_pipeline(self):
        """The same model as a fitted scikit-learn ``Pipeline`` (for the ONNX export)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        sc = StandardScaler()
        sc.mean_, sc.scale_, sc.var_ = self.mean.copy(), self.std.copy(), self.std**2
        sc.n_features_in_, sc.n_samples_seen_ = self.mean.size, 1
        lr = LogisticRegression()
        lr.coef_, lr.intercept_ = self.coef.reshape(1, -1).copy(), self.intercept.ravel().copy()
        lr.classes_, lr.n_features_in_ = np.array([0, 1]), self.mean.size
        return Pipeline([("scale", sc), ("logreg", lr)])


@dataclass(frozen=True)
class DPSettings:
    """Central differential privacy on the aggregated updates (site level)."""

    noise_multiplier: float
    clipping_norm: float
    delta: float = 1e-5


def dp_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon of ``rounds`` Gaussian mechanisms (every site in every round, no subsampling).

    Renyi DP of the Gaussian mechanism with sensitivity 1 and noise ``z``: ``alpha / (2 z^2)``
    per round, adding over ``T`` rounds; ``eps = T alpha / (2 z^2) + log(1/delta) / (alpha - 1)``
    (Mironov 2017, Prop. 3) is smallest at ``alpha = 1 + z sqrt(2 log(1/delta) / T)``, giving
    ``eps = T / (2 z^2) + sqrt(2 T log(1/delta)) / z``. ``inf`` without noise.
    """
    z, t = float(noise_multiplier), int(rounds)
    if z <= 0:
        return math.inf
    return t / (2 * z * z) + math.sqrt(2 * t * math.log(1 / delta)) / z


def make_strategy(n_features: int, n_sites: int, min_sites: int, dp: DPSettings | None = None):
    """FedAvg over every site each round, aggregated in site order; optionally DP-wrapped."""
    from flwr.common import ndarrays_to_parameters
    from flwr.server.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg

    class SiteOrderFedAvg(FedAvg):
        """FedAvg whose weighted average runs in site order (reproducible sums)."""

        def aggregate_fit(self, server_round, results, failures):
            if failures:  # a site failed: this round is not aggregated (no silent partial run)
                raise RuntimeError(f"round {server_round}: {len(failures)} site(s) failed")
            ordered = sorted(results, key=lambda r: str(r[0].cid))
            if server_round == 1:  # the moments round: every site's row count
                self.n_total = sum(int(r[1].num_examples) for r in ordered)
            return super().aggregate_fit(server_round, ordered, failures)

        def evaluate(self, server_round, parameters):
            self.global_parameters = parameters  # the global model after each round
            return None

    def fit_config(server_round: int) -> dict:
        if server_round == 1:
            return {"stage": "moments"}
        return {"stage": "train", "n_total": int(getattr(strategy, "n_total", 0))}

    strategy = SiteOrderFedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=min_sites,
        min_evaluate_clients=0,
        min_available_clients=min_sites,
        on_fit_config_fn=fit_config,
        fit_metrics_aggregation_fn=lambda metrics: {},  # sites send no metrics
        initial_parameters=ndarrays_to_parameters(initial_parameters(n_features)),
    )
    if dp is None or dp.noise_multiplier <= 0:
        return strategy
    return DifferentialPrivacyServerSideFixedClipping(
        strategy, dp.noise_multiplier, dp.clipping_norm, num_sampled_clients=n_sites
    )


class InProcessProxy:
    """Factory of a Flower ``ClientProxy`` that calls a client in this process.

    ``record(kind, message)`` (optional) receives every message the server gets back from the
    site (the message-inspection test uses it).
    """

    def __new__(cls, cid: str, client, record: Callable | None = None):
        from flwr.common import Code, FitRes, GetParametersRes, Status
        from flwr.common import ndarrays_to_parameters as to_params
        from flwr.common import parameters_to_ndarrays as from_params
        from flwr.server.client_proxy import ClientProxy

        ok = Status(code=Code.OK, message="")

        class _Proxy(ClientProxy):
            def get_properties(self, ins, timeout, group_id):
                raise NotImplementedError

            def get_parameters(self, ins, timeout, group_id):
                res = GetParametersRes(ok, to_params(client.get_parameters(ins.config)))
                if record is not None:
                    record("get_parameters", res)
                return res

            def fit(self, ins, timeout, group_id):
                params, n, metrics = client.fit(from_params(ins.parameters), ins.config)
                res = FitRes(ok, to_params(params), int(n), dict(metrics))
                if record is not None:
                    record("fit", res)
                return res

            def evaluate(self, ins, timeout, group_id):
                raise NotImplementedError

            def reconnect(self, ins, timeout, group_id):
                raise NotImplementedError

        return _Proxy(cid)


def _model_from(parameters, rounds: int) -> FederatedModel:
    from flwr.common import parameters_to_ndarrays

    mean, mean_sq, coef, intercept, _, _ = parameters_to_ndarrays(parameters)
    mu, sd = scaler_from(mean, mean_sq)
    return FederatedModel(mu, sd, np.asarray(coef), np.asarray(intercept), rounds)


def train_in_process(
    sites: Sequence[SiteData],
    *,
    rounds: int,
    C: float = 1.0,
    dp: DPSettings | None = None,
    record: Callable | None = None,
    seed: int = 0,
) -> FederatedModel:
    """Federated training with Flower's server and strategy, the sites' clients in-process.

    Parameters
    ----------
    sites : sequence of SiteData
        One per site (a site with no rows contributes nothing).
    rounds : int
        Training rounds (a first, extra round agrees on the standardisation).
    C : float
        Inverse regularisation of the logistic regression (as in pooled training).
    dp : DPSettings | None
        Central DP on the aggregated updates.
    record : callable(kind, message) | None
        Receives every message the server receives.
    seed : int
        Seed of the DP noise (numpy's global generator, which Flower's noise uses).
    """
    from flwr.server import Server, SimpleClientManager

    if rounds < 1:
        raise ValueError(f"'rounds' must be >= 1, but got {rounds!r} instead.")
    n_features = next(s.X.shape[1] for s in sites)
    manager = SimpleClientManager()
    for i, data in enumerate(sites):
        client = make_client(data, C=C)
        manager.register(InProcessProxy(f"site{i:03d}", client, record))
    strategy = make_strategy(n_features, len(sites), len(sites), dp)
    server = Server(client_manager=manager, strategy=strategy)
    server.set_max_workers(1)
    np.random.seed(seed)  # noqa: NPY002 - Flower's Gaussian noise draws from numpy's global RNG
    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    flwr_log.setLevel(logging.WARNING)  # one process: Flower's per-round INFO lines are noise
    try:
        server.fit(num_rounds=int(rounds) + 1, timeout=None)
    finally:
        flwr_log.setLevel(level)
    return _model_from(server.parameters, int(rounds))


def serve(
    address: str,
    *,
    rounds: int,
    min_sites: int,
    n_features: int,
    dp: DPSettings | None = None,
    certificates: tuple[bytes, bytes, bytes] | None = None,
) -> FederatedModel:
    """Run the federated server on ``address`` until ``rounds`` are done (Flower gRPC)."""
    from flwr.server import ServerConfig, start_server

    strategy = make_strategy(n_features, min_sites, min_sites, dp)
    start_server(
        server_address=address,
        config=ServerConfig(num_rounds=int(rounds) + 1),
        strategy=strategy,
        certificates=certificates,
    )
    inner = getattr(strategy, "strategy", strategy)
    return _model_from(inner.global_parameters, int(rounds))


def wait_for_server(address: str, wait_s: float) -> None:
    """Return once ``address`` (host:port) accepts TCP connections; ``ConnectionError`` after
    ``wait_s`` seconds (Flower's legacy client gives up at once when nothing listens yet)."""
    import socket
    import time

    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + float(wait_s)
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
            return
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                raise ConnectionError(
                    f"no federated server at {address} after {wait_s:g} s (is it running?)"
                ) from None
            time.sleep(0.2)


def join(
    address: str,
    data: SiteData,
    *,
    C: float,
    root_cert: bytes | None,
    wait_s: float = 120.0,
):
    """Take part in a federated training at ``address`` with this site's rows (Flower gRPC).

    Waits up to ``wait_s`` seconds for the server to listen (sites may start first).
    """
    from flwr.client import start_client

    client = make_client(data, C=C)
    wait_for_server(address, wait_s)
    start_client(
        server_address=address,
        client=client.to_client(),
        root_certificates=root_cert,
        insecure=root_cert is None,
    )
