"""A loaded model: one onnxruntime session over the bundle's graph, and the prediction path.

There is one path, over columns (`predict_table`): resolve the flights (each distinct route
and departure once), build the features, one `session.run`, the calibrations and the chain
in numpy, the factors ranked in numpy. One flight is a table of one, so it gets exactly its
answer in any batch. A flight sent with a forecast is answered by the bundle's "weather"
variant, one without by its "plain" variant, both in the same `session.run`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
from flightontime_core.calibration import calibrate, check, sigmoid
from flightontime_core.errors import BundleError, FlightError
from flightontime_core.explain import GROUP_NAMES, TOP, Explainer, Params
from flightontime_core.features import (
    N_FEATURES,
    WEATHER_SLICE,
    FeatureTables,
    assemble_features,
    route_features,
)
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import Flight, Weather
from flightontime_core.prediction import Prediction
from flightontime_core.prediction_table import PredictionTable
from flightontime_core.resolve import Resolved, Resolver


class _Runtime:
    """A variant as the prediction path uses it: graph names, the chain, the contributions."""

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
        self.chain = [(list(m.columns), m.calibration) for m in delay]
        self.cancel = (list(cancel[0].columns), cancel[0].calibration) if cancel else None
        # Models of one member and no calibration read their member's probability as it is:
        # then every step of the chain is one gather.
        plain = [(c, cal) for c, cal in self.chain if len(c) == 1 and cal.method == "none"]
        self.direct = [c[0] for c, _ in plain] if len(plain) == len(self.chain) else None
        first = variant.explanation.first_column
        self.width = first + len(GROUP_NAMES)
        self.log_odds = slice(0, first)
        self.groups = slice(first, self.width)

    def probabilities(self, log_odds: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Each row's probabilities per threshold and of a cancellation, from its row of the
        graph's log-odds (every member model's)."""
        members = sigmoid(log_odds)
        if self.direct is not None:
            steps = members.take(self.direct, axis=1)
        else:
            steps = np.empty((log_odds.shape[0], len(self.chain)))
            for k, (columns, calibration) in enumerate(self.chain):
                steps[:, k] = calibrate(calibration, _mean(members, columns))
        # P(>= T_k) = P(>= T_k-1) x P(>= T_k | >= T_k-1): a stricter label never gets a higher
        # chance.
        out = np.multiply.accumulate(steps, axis=1)  # cumprod, without its dispatch layer
        if self.cancel is None:
            return out, None
        columns, calibration = self.cancel
        return out, calibrate(calibration, _mean(members, columns))


def _mean(members: np.ndarray, columns: list[int]) -> np.ndarray:
    """The mean of a model's members' probabilities (one member: its probability)."""
    if len(columns) == 1:
        return members[:, columns[0]]
    return np.asarray(members[:, columns].mean(axis=1))


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

    # -- the prediction path ------------------------------------------------------------------

    def raw_scores(self, x: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The graph's outputs for (n, N_FEATURES) float32 features in one `session.run`, per
        variant: the row indices it answered and its output (every model member's log-odds,
        then the primary model's contributions per factor group); rows with any weather value
        go to the weather variant."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be (n, {N_FEATURES}), got {x.shape}")
        forecast = None
        if self._weather is not None:
            forecast = ~np.isnan(x[:, WEATHER_SLICE]).all(axis=1)
        return self._run(x, forecast)

    def _run(
        self, x: np.ndarray, forecast: np.ndarray | None
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """`raw_scores` with the rows that carry weather known (None: no row does)."""
        if self._weather is None or forecast is None or not forecast.any():
            runtime = self._plain
            feeds = {runtime.input: x}
            if self._weather is not None:
                feeds[self._weather.input] = self._empty
        elif forecast.all():
            runtime = self._weather
            feeds = {runtime.input: x, self._plain.input: self._empty}
        else:
            weather, plain = np.flatnonzero(forecast), np.flatnonzero(~forecast)
            feeds = {self._weather.input: x[weather], self._plain.input: x[plain]}
            outputs = self._session.run([self._weather.output, self._plain.output], feeds)
            return {
                WEATHER_VARIANT: (weather, outputs[0]),
                PLAIN_VARIANT: (plain, outputs[1]),
            }
        (out,) = self._session.run([runtime.output], feeds)
        return {runtime.name: (np.arange(x.shape[0]), out)} if out.shape[0] else {}

    def features(self, flights: FlightTable) -> np.ndarray:
        """The (m, N_FEATURES) float32 rows the model reads for the usable flights of a table
        (in input order; the others are left out)."""
        return self._features(self.resolver.table(flights))

    def _features(self, resolved: Resolved) -> np.ndarray:
        triples = [(r.airline, r.origin.icao, r.destination.icao) for r in resolved.routes]
        return assemble_features(
            self.tables,
            route_features(self.tables, triples),
            resolved.route,
            resolved.minutes,
            resolved.distance_m,
            resolved.weather,
        )

    def predict_table(self, flights: FlightTable) -> PredictionTable:
        """The answers of a table of flights, as columns (the one prediction path)."""
        resolved = self.resolver.table(flights)
        m = resolved.rows.size
        shape = (m, len(self.thresholds))
        probabilities: np.ndarray
        weights: np.ndarray
        params: list[Params]
        if not m:
            empty = np.empty((0, TOP), dtype=np.intp)
            probabilities, cancellation, top, weights = np.empty(shape), np.empty(0), empty, empty
            keys, params = empty, []
        else:
            x = self._features(resolved)
            forecast = None if resolved.weather is None else ~np.isnan(resolved.weather).all(axis=1)
            answered = [
                (rows, *self._answer(name, out, x, rows))
                for name, (rows, out) in self._run(x, forecast).items()
            ]
            if len(answered) == 1:  # one variant answered every row: its arrays as they are
                _, probabilities, cancelled, top, weights = answered[0]
                cancellation = np.full(m, np.nan) if cancelled is None else cancelled
            else:
                probabilities, cancellation = np.empty(shape), np.full(m, np.nan)
                top, weights = np.full((m, TOP), -1, dtype=np.intp), np.zeros((m, TOP))
                for rows, chained, cancelled, ranked, ranked_weights in answered:
                    probabilities[rows] = chained
                    if cancelled is not None:
                        cancellation[rows] = cancelled
                    top[rows], weights[rows] = ranked, ranked_weights
            airports = [(r.origin.icao, r.destination.icao) for r in resolved.routes]
            ids = [r.pair_id for r in resolved.routes]
            keys, params = self._explainer.keys(top, x, resolved.route, airports, ids)
        return PredictionTable(
            n=resolved.n,
            thresholds=self.thresholds,
            rows=resolved.rows,
            probabilities=probabilities,
            cancellation=cancellation,
            decision_threshold=np.full(m, self.decision_threshold),
            version=np.zeros(m, dtype=np.intp),
            versions=[self.version],
            factor_group=top,
            factor_weight=weights,
            factor_key=keys,
            factor_params=params,
            notice_index=resolved.notice_index,
            notices=resolved.notices,
            errors=resolved.errors,
        )

    def _answer(
        self, name: str, out: np.ndarray, x: np.ndarray, rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
        """One variant's rows: probabilities per threshold, of a cancellation, top groups and
        their weights."""
        runtime = self._variants[name]
        chained, cancelled = runtime.probabilities(out[:, runtime.log_odds])
        features = x if rows.size == x.shape[0] else x[rows]
        ranked, ranked_weights = self._explainer.rank(out[:, runtime.groups], features)
        return chained, cancelled, ranked, ranked_weights

    def predict(self, flight: Flight) -> Prediction:
        """The prediction for one flight; raises FlightError naming each problem."""
        answer = self.predict_table(FlightTable.from_flights([flight])).answer(0)
        if isinstance(answer, FlightError):
            raise answer
        return answer

    def predict_many(
        self, flights: Sequence[Flight | FlightError]
    ) -> list[Prediction | FlightError]:
        """Predictions for many flights, in order; a flight that cannot be predicted gets its
        FlightError in its place (the others are still answered; an item that is already a
        FlightError stays as it is)."""
        return self.predict_table(FlightTable.from_flights(flights)).predictions()

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
