"""A loaded model: one onnxruntime session over the bundle's graph, and the prediction paths.

One flight and a batch go through the same steps (resolve, features, one `session.run`,
calibration and the chain, factors), so a flight gets the same answer alone and in a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flightontime_core.bundle import CANCELLATION, Bundle, Manifest, ModelSpec
from flightontime_core.calibration import check, probability, scalar
from flightontime_core.errors import BundleError, FlightError
from flightontime_core.explain import GROUP_NAMES, Explainer
from flightontime_core.features import (
    N_FEATURES,
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


def _session(graph: bytes, threads: int) -> Any:
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
        self._delay: tuple[ModelSpec, ...] = tuple(
            m for m in behaviour.models if m.key != CANCELLATION
        )
        cancellation = [m for m in behaviour.models if m.key == CANCELLATION]
        self._cancellation: ModelSpec | None = cancellation[0] if cancellation else None
        for spec in behaviour.models:
            try:
                check(spec.calibration)
            except ValueError as exc:
                raise BundleError("manifest.json", f"model {spec.key}: {exc}") from None
        explanation = behaviour.explanation
        if explanation.groups != GROUP_NAMES:
            raise BundleError("manifest.json", "explanation groups differ from this code's")
        self._session = _session(bundle.graph, threads)
        self._input, self._output = behaviour.graph_input, behaviour.graph_output
        self._chain = [(m.column, scalar(m.calibration)) for m in self._delay]
        c = self._cancellation
        self._cancel = None if c is None else (c.column, scalar(c.calibration))
        first = explanation.first_column
        self._groups = slice(first, first + len(GROUP_NAMES))
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        width = outputs[0].shape[-1] if len(outputs) == 1 else None
        if (
            len(inputs) != 1
            or inputs[0].name != self._input
            or len(outputs) != 1
            or outputs[0].name != self._output
            or width != first + len(GROUP_NAMES)
            or sorted(m.column for m in behaviour.models) != list(range(first))
        ):
            raise BundleError("model.onnx", "the graph's input and output differ from the manifest")
        self.resolver = Resolver(self.tables, uses_weather=bool(self.weather_fields))
        self._explainer = Explainer(self.tables)

    @property
    def has_cancellation(self) -> bool:
        """Whether the model also answers the chance of a cancellation."""
        return self._cancellation is not None

    # -- scoring rows of features ---------------------------------------------------------------

    def raw_scores(self, x: np.ndarray) -> np.ndarray:
        """The graph's output for (n, N_FEATURES) float32 features: every model's log-odds,
        then the primary model's contributions per factor group."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be (n, {N_FEATURES}), got {x.shape}")
        out: np.ndarray = self._session.run([self._output], {self._input: x})[0]
        return out

    def score(self, x: np.ndarray, *, explain: bool = True) -> Scores:
        """Probabilities (and factor ranks) for an (n, N_FEATURES) float32 feature matrix."""
        n = x.shape[0]
        if n == 0:
            empty = np.empty((0, len(self.thresholds)))
            none = np.empty((0, 3), dtype=np.int64) if explain else None
            return Scores(empty, np.empty(0) if self.has_cancellation else None, none, none)
        raw = self.raw_scores(x)
        answers = list(map(self._probabilities, raw[:, : self._groups.start].tolist()))
        probabilities = np.array([a[0] for a in answers])
        cancellation = None
        if self.has_cancellation:
            cancellation = np.array([a[1] for a in answers], dtype=np.float64)
        top = weights = None
        if explain:
            top, weights = self._explainer.rank(raw[:, self._groups], x)
        return Scores(probabilities, cancellation, top, weights)

    def _probabilities(self, log_odds: list[float]) -> tuple[list[float], float | None]:
        """One flight's probabilities per threshold and of a cancellation, from the graph's
        log-odds; plain floats, the same operations for a flight alone and in a batch."""
        chained: list[float] = []
        for column, calibrated in self._chain:
            p = calibrated(probability(log_odds[column]))
            # P(>= T_k) = P(>= T_k-1) x P(>= T_k | >= T_k-1): a stricter label never gets
            # a higher chance.
            chained.append(p * chained[-1] if chained else p)
        if self._cancel is None:
            return chained, None
        column, calibrated = self._cancel
        return chained, calibrated(probability(log_odds[column]))

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
        raw: list[float] = self.raw_scores(x)[0].tolist()
        probabilities, cancellation = self._probabilities(raw)
        # The row as the model saw it (float32), as the batch path reads it.
        seen: list[float] = x[0].tolist()
        groups, weights = self._explainer.rank_row(raw[self._groups], seen)
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
        if resolved.positions:
            columns = resolved.columns
            x = build_features(columns, self.tables)
            raw = self.raw_scores(x)
            top, weights = self._explainer.rank(raw[:, self._groups], x)
            factors = self._explainer.factors(
                top.tolist(),
                weights.tolist(),
                x.tolist(),
                columns.origin.tolist(),
                columns.destination.tolist(),
            )
            answers = map(self._probabilities, raw[:, : self._groups.start].tolist())
            for i, (probabilities, cancellation), found, notices in zip(
                resolved.positions, answers, factors, resolved.notices, strict=True
            ):
                out[i] = self._prediction(probabilities, cancellation, found, notices)
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
    path: str | Path, *, threads: int = 1, decision_threshold: float | None = None
) -> Model:
    """Load and verify a model bundle directory; raises BundleError naming what is wrong.

    `threads`: onnxruntime's threads per call (one per serving worker is usually right; more
    speeds up large batches). `decision_threshold`: overrides the bundle's cut-off for
    `delayed`.
    """
    if threads < 1:
        raise ValueError("threads must be >= 1")
    return Model(Bundle.read(path), threads=threads, decision_threshold=decision_threshold)
