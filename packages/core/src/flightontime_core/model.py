"""A loaded model: one onnxruntime session over the bundle's graph, and the prediction paths.

One flight and a batch go through the same steps (resolve, features, one `session.run`,
probabilities, calibration and the chain on plain floats, factors), so a flight gets the same
answer alone and in a batch. A flight sent with a forecast is answered by the bundle's
"weather" variant, one without by its "plain" variant; a batch feeds each variant its rows in
the same `session.run`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flightontime_core.bundle import (
    CANCELLATION,
    PLAIN_VARIANT,
    WEATHER_VARIANT,
    Bundle,
    Manifest,
    Variant,
)
from flightontime_core.calibration import check, probability, scalar
from flightontime_core.errors import BundleError, FlightError
from flightontime_core.explain import GROUP_NAMES, Explainer
from flightontime_core.features import (
    N_FEATURES,
    WEATHER_SLICE,
    FeatureTables,
    FlightColumns,
    build_features,
    build_row,
)
from flightontime_core.flights import Flight, Weather
from flightontime_core.prediction import Factor, Notice, Prediction
from flightontime_core.resolve import Resolver


@dataclass(frozen=True)
class Scores:
    """Model outputs for n rows of features, before they become `Prediction`s."""

    probabilities: np.ndarray  # (n, len(thresholds)) float64, non-increasing along axis 1
    cancellation: np.ndarray | None  # (n,) float64; None without a cancellation model
    top: np.ndarray | None  # (n, 3) factor group indices, -1 where none; None: not explained
    weights: np.ndarray | None  # (n, 3) their log-odds contributions


class _Runtime:
    """A variant as the prediction paths use it: graph names, the chain, the contributions."""

    def __init__(self, variant: Variant) -> None:
        self.name = variant.name
        self.input = variant.graph_input
        self.output = variant.graph_output
        delay = [m for m in variant.models if m.key != CANCELLATION]
        cancel = [m for m in variant.models if m.key == CANCELLATION]
        for spec in variant.models:
            try:
                check(spec.calibration)
            except ValueError as exc:
                raise BundleError(
                    "manifest.json", f"variant {variant.name}, model {spec.key}: {exc}"
                ) from None
        self.chain = [(m.columns, scalar(m.calibration)) for m in delay]
        self.cancel = (cancel[0].columns, scalar(cancel[0].calibration)) if cancel else None
        first = variant.explanation.first_column
        self.width = first + len(GROUP_NAMES)
        self.log_odds = slice(0, first)
        self.groups = slice(first, self.width)

    def probabilities(self, log_odds: list[float]) -> tuple[list[float], float | None]:
        """One flight's probabilities per threshold and of a cancellation, from its row of the
        graph's log-odds. Plain floats and the C library's exp, log and tanh, row by row for
        a batch too: a flight gets the same floats alone and among others (numpy's vectorised
        functions may round the last bit differently), and one flight pays no numpy call."""
        chained: list[float] = []
        previous = 1.0
        for columns, calibrated in self.chain:
            # P(>= T_k) = P(>= T_k-1) x P(>= T_k | >= T_k-1): a stricter label never gets a
            # higher chance.
            step = calibrated(_mean_probability(log_odds, columns))
            previous = step * previous if chained else step
            chained.append(previous)
        if self.cancel is None:
            return chained, None
        columns, calibrated = self.cancel
        return chained, calibrated(_mean_probability(log_odds, columns))


def _mean_probability(log_odds: list[float], columns: tuple[int, ...]) -> float:
    """The mean of a model's members' probabilities (one member: its probability)."""
    if len(columns) == 1:
        return probability(log_odds[columns[0]])
    total = 0.0
    for c in columns:
        total += probability(log_odds[c])
    return total / len(columns)


def runtime_session(graph: bytes, threads: int = 1) -> Any:
    """An onnxruntime session over a graph with the options every prediction path uses."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types, not one base class
        raise BundleError("model.onnx", f"onnxruntime cannot load the graph: {exc}") from None


class Model:
    """A verified model bundle, ready to predict flights."""

    def __init__(
        self, bundle: Bundle, *, threads: int = 1, decision_threshold: float | None = None
    ) -> None:
        self.bundle = bundle
        behaviour = bundle.behaviour
        self.manifest: Manifest = bundle.manifest
        self.version: str = bundle.manifest.model_version
        self.thresholds: tuple[int, ...] = behaviour.thresholds
        if decision_threshold is not None and not 0.0 < decision_threshold < 1.0:
            raise ValueError("decision_threshold must be between 0 and 1")
        self.decision_threshold: float = (
            behaviour.decision_threshold if decision_threshold is None else decision_threshold
        )
        self.weather_fields: tuple[str, ...] = behaviour.weather_fields
        self.tables: FeatureTables = bundle.tables
        if any(v.explanation.groups != GROUP_NAMES for v in behaviour.variants):
            raise BundleError("manifest.json", "explanation groups differ from this code's")
        self._variants = {v.name: _Runtime(v) for v in behaviour.variants}
        self._plain = self._variants[PLAIN_VARIANT]
        self._weather = self._variants.get(WEATHER_VARIANT)
        self.has_cancellation: bool = self._plain.cancel is not None
        self._session = runtime_session(bundle.graph, threads)
        inputs = {i.name: i.shape for i in self._session.get_inputs()}
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        expected_in = {r.input for r in self._variants.values()}
        expected_out = {r.output: r.width for r in self._variants.values()}
        if set(inputs) != expected_in or {k: v[-1] for k, v in outputs.items()} != expected_out:
            raise BundleError(
                "model.onnx", "the graph's inputs and outputs differ from the manifest"
            )
        self._empty = np.empty((0, N_FEATURES), dtype=np.float32)
        self._outputs = [r.output for r in self._variants.values()]
        # Each variant's input must feed its own output: one probe row on each in turn.
        probe = np.zeros((1, N_FEATURES), dtype=np.float32)
        for runtime in self._variants.values():
            feeds = {
                r.input: probe if r is runtime else self._empty for r in self._variants.values()
            }
            rows = [o.shape[0] for o in self._session.run(self._outputs, feeds)]
            if rows != [int(r is runtime) for r in self._variants.values()]:
                raise BundleError(
                    "model.onnx",
                    "the graph's inputs and outputs differ from the manifest: "
                    f"{runtime.input} does not feed {runtime.output}",
                )
        self.resolver = Resolver(self.tables, uses_weather=self._weather is not None)
        self._explainer = Explainer(self.tables)

    # -- scoring rows of features ---------------------------------------------------------------

    def _split(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Row indices per variant: rows with any weather value go to the weather variant."""
        if self._weather is None:
            return {PLAIN_VARIANT: np.arange(x.shape[0])}
        weather = ~np.isnan(x[:, WEATHER_SLICE]).all(axis=1)
        return {
            WEATHER_VARIANT: np.flatnonzero(weather),
            PLAIN_VARIANT: np.flatnonzero(~weather),
        }

    def raw_scores(self, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The graph's outputs for (n, N_FEATURES) float32 features, per variant: the row
        indices it answered and its output (every model member's log-odds, then the primary
        model's contributions per factor group)."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be (n, {N_FEATURES}), got {x.shape}")
        rows = self._split(x)
        feeds = {
            runtime.input: x[rows[name]] if name in rows else self._empty
            for name, runtime in self._variants.items()
        }
        outputs = self._session.run(self._outputs, feeds)
        return {
            name: (rows[name], out)
            for name, out in zip(self._variants, outputs, strict=True)
            if rows[name].size
        }

    def score(self, x: np.ndarray, *, explain: bool = True) -> Scores:
        """Probabilities (and factor ranks) for an (n, N_FEATURES) float32 feature matrix."""
        n = x.shape[0]
        probabilities = np.empty((n, len(self.thresholds)))
        cancellation = np.empty(n) if self.has_cancellation else None
        top = np.full((n, 3), -1, dtype=np.int64) if explain else None
        weights = np.zeros((n, 3)) if explain else None
        for name, (rows, out) in self.raw_scores(x).items():
            runtime = self._variants[name]
            answers = list(map(runtime.probabilities, out[:, runtime.log_odds].tolist()))
            probabilities[rows] = [a[0] for a in answers]
            if cancellation is not None:
                cancellation[rows] = [a[1] for a in answers]
            if top is not None and weights is not None:
                top[rows], weights[rows] = self._explainer.rank(out[:, runtime.groups], x[rows])
        return Scores(probabilities, cancellation, top, weights)

    def score_columns(self, columns: FlightColumns, *, explain: bool = False) -> Scores:
        """`score` for resolved flight columns (a training or scoring table)."""
        return self.score(build_features(columns, self.tables), explain=explain)

    # -- flights ------------------------------------------------------------------------------

    def predict(self, flight: Flight) -> Prediction:
        """The prediction for one flight; raises FlightError naming each problem."""
        resolved = self.resolver.flight(flight)
        if isinstance(resolved, FlightError):
            raise resolved
        route, minutes, km, weather, notices = resolved
        origin, destination = route.origin.icao, route.destination.icao
        row = build_row(self.tables, route.airline, origin, destination, minutes, km, weather)
        x = np.array([row], dtype=np.float32)
        runtime = self._plain if weather is None or self._weather is None else self._weather
        feeds = {r.input: x if r is runtime else self._empty for r in self._variants.values()}
        out: list[float] = self._session.run([runtime.output], feeds)[0][0].tolist()
        probabilities, cancellation = runtime.probabilities(out[runtime.log_odds])
        # The row as the model saw it (float32), as the batch path reads it.
        seen: list[float] = x[0].tolist()
        groups, weights = self._explainer.rank_row(out[runtime.groups], seen)
        factors = self._explainer.factors([groups], [weights], [seen], [origin], [destination])
        return self._prediction(probabilities, cancellation, factors[0], notices)

    def predict_many(
        self, flights: Sequence[Flight | FlightError]
    ) -> list[Prediction | FlightError]:
        """Predictions for many flights in one vectorised pass, in order; a flight that cannot
        be predicted gets its FlightError in its place (the others are still answered; an item
        that is already a FlightError stays as it is)."""
        resolved = self.resolver.many(flights)
        out: list[Prediction | FlightError | None] = [None] * len(flights)
        for i, error in resolved.errors.items():
            out[i] = error
        if not resolved.positions:
            return [a for a in out if a is not None]
        columns = resolved.columns
        x = build_features(columns, self.tables)
        origin = columns.origin.tolist()
        destination = columns.destination.tolist()
        for name, (rows, scores) in self.raw_scores(x).items():
            runtime = self._variants[name]
            top, weights = self._explainer.rank(scores[:, runtime.groups], x[rows])
            at: list[int] = rows.tolist()
            factors = self._explainer.factors(
                top.tolist(),
                weights.tolist(),
                x[rows].tolist(),
                [origin[i] for i in at],
                [destination[i] for i in at],
            )
            answers = map(runtime.probabilities, scores[:, runtime.log_odds].tolist())
            for i, (probabilities, chance), found in zip(at, answers, factors, strict=True):
                out[resolved.positions[i]] = self._prediction(
                    probabilities, chance, found, resolved.notices[i]
                )
        return [a for a in out if a is not None]

    def _prediction(
        self,
        probabilities: list[float],
        cancellation: float | None,
        factors: tuple[Factor, ...],
        notices: tuple[Notice, ...],
    ) -> Prediction:
        return Prediction(
            delayed=probabilities[0] >= self.decision_threshold,
            probability=probabilities[0],
            probabilities=dict(zip(self.thresholds, probabilities, strict=True)),
            cancellation=cancellation,
            factors=factors,
            warnings=notices,
            decision_threshold=self.decision_threshold,
            model_version=self.version,
        )

    # -- readiness ----------------------------------------------------------------------------

    def self_test(self, tolerance: float = 1e-5) -> list[str]:
        """Predict the bundle's stored flights and list every answer that moved (empty: ok).

        The bundle stores flights on routes the model knows with the probabilities training
        measured through this same path; a different runtime, feature code or reference data
        that changes an answer shows up here before any client sees it.
        """
        cases = self.manifest.self_test
        if not cases:
            return ["the bundle stores no self-test flights"]
        flights = [
            Flight(
                airline=c.airline,
                origin=c.origin,
                destination=c.destination,
                departure=c.departure,
                distance_m=c.distance_m,
                weather=Weather(**c.weather) if c.weather else None,
            )
            for c in cases
        ]
        problems: list[str] = []
        for case, answer in zip(cases, self.predict_many(flights), strict=True):
            label = f"{case.airline} {case.origin}-{case.destination} {case.departure}"
            if isinstance(answer, FlightError):
                problems.append(f"{label}: {answer}")
                continue
            got = {str(k): v for k, v in answer.probabilities.items()}
            if answer.cancellation is not None:
                got[CANCELLATION] = answer.cancellation
            for key, expected in case.probabilities.items():
                value = got.get(key)
                if value is None or not math.isfinite(value) or abs(value - expected) > tolerance:
                    problems.append(f"{label}: P({key}) = {value}, the bundle says {expected}")
        return problems


def load_model(
    path: str | Path,
    *,
    threads: int = 1,
    decision_threshold: float | None = None,
    signed_manifest: str | None = None,
) -> Model:
    """Load and verify a model bundle directory; raises BundleError naming what is wrong.

    `threads`: onnxruntime's threads per call (one per serving worker is usually right; more
    speeds up large batches but changes the order trees are summed in, so the last digits of
    a probability can depend on the batch). `decision_threshold`: overrides the bundle's
    cut-off for `delayed`. `signed_manifest`: the manifest's sha256 from a verified signature
    (`signing.verify_signature`), checked on the bytes loaded.
    """
    if threads < 1:
        raise ValueError("threads must be >= 1")
    bundle = Bundle.read(path, signed_manifest=signed_manifest)
    return Model(bundle, threads=threads, decision_threshold=decision_threshold)
