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
from flightontime_core.calibration import calibrate, check
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
        if behaviour.explanation.groups != GROUP_NAMES:
            raise BundleError("manifest.json", "explanation groups differ from this code's")
        self._session = _session(bundle.graph, threads)
        self._input = behaviour.graph_input
        self._outputs = [m.output for m in behaviour.models] + [behaviour.explanation.output]
        declared = {o.name for o in self._session.get_outputs()}
        missing = [name for name in self._outputs if name not in declared]
        inputs = self._session.get_inputs()
        if missing or len(inputs) != 1 or inputs[0].name != self._input:
            raise BundleError(
                "model.onnx",
                f"the graph does not have the manifest's input and outputs (missing {missing})",
            )
        self.resolver = Resolver(self.tables, uses_weather=bool(self.weather_fields))
        self._explainer = Explainer(self.tables)

    @property
    def has_cancellation(self) -> bool:
        """Whether the model also answers the chance of a cancellation."""
        return self._cancellation is not None

    # -- scoring rows of features ---------------------------------------------------------------

    def score(self, x: np.ndarray, *, explain: bool = True) -> Scores:
        """Probabilities (and factor ranks) for an (n, N_FEATURES) float32 feature matrix."""
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(f"features must be (n, {N_FEATURES}), got {x.shape}")
        n = x.shape[0]
        if n == 0:
            empty = np.empty((0, len(self.thresholds)))
            none = np.empty((0, 3), dtype=np.int64) if explain else None
            return Scores(empty, np.empty(0) if self.has_cancellation else None, none, none)
        outputs = self._session.run(self._outputs, {self._input: x})
        probabilities = np.empty((n, len(self._delay)))
        chained = np.ones(n)
        for k, spec in enumerate(self._delay):
            # P(>= T_k) = P(>= T_k-1) x P(>= T_k | >= T_k-1): a stricter label never gets a
            # higher chance.
            chained = chained * calibrate(spec.calibration, outputs[k])
            probabilities[:, k] = chained
        cancellation = None
        if self._cancellation is not None:
            cancellation = calibrate(self._cancellation.calibration, outputs[len(self._delay)])
        top = weights = None
        if explain:
            top, weights = self._explainer.rank(outputs[-1], x)
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
        row = build_row(
            self.tables,
            route.airline,
            route.origin.icao,
            route.destination.icao,
            minutes,
            km,
            weather,
        )
        x = np.array([row], dtype=np.float32)
        return self._answers(
            self.score(x), x, [route.origin.icao], [route.destination.icao], [notices]
        )[0]

    def predict_many(self, flights: Sequence[Flight]) -> list[Prediction | FlightError]:
        """Predictions for many flights in one vectorised pass, in order; a flight that cannot
        be predicted gets its FlightError in its place (the others are still answered)."""
        resolved = self.resolver.many(flights)
        out: list[Prediction | FlightError | None] = [None] * len(flights)
        for i, error in resolved.errors.items():
            out[i] = error
        if resolved.positions:
            columns = resolved.columns
            x = build_features(columns, self.tables)
            answers = self._answers(
                self.score(x),
                x,
                columns.origin.tolist(),
                columns.destination.tolist(),
                resolved.notices,
            )
            for i, answer in zip(resolved.positions, answers, strict=True):
                out[i] = answer
        return [a for a in out if a is not None]

    def _answers(
        self,
        scores: Scores,
        x: np.ndarray,
        origin: Sequence[str],
        destination: Sequence[str],
        notices: Sequence[tuple[Notice, ...]],
    ) -> list[Prediction]:
        assert scores.top is not None
        assert scores.weights is not None
        factors: list[tuple[Factor, ...]] = self._explainer.factors(
            scores.top, scores.weights, x, origin, destination
        )
        probabilities: list[list[float]] = scores.probabilities.tolist()
        cancellation: list[float | None] = (
            scores.cancellation.tolist()
            if scores.cancellation is not None
            else [None] * len(probabilities)
        )
        keys, threshold, version = self.thresholds, self.decision_threshold, self.version
        return [
            Prediction(
                delayed=p[0] >= threshold,
                probability=p[0],
                probabilities=dict(zip(keys, p, strict=True)),
                cancellation=c,
                factors=f,
                warnings=w,
                decision_threshold=threshold,
                model_version=version,
            )
            for p, c, f, w in zip(probabilities, cancellation, factors, notices, strict=True)
        ]

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
