"""The model bundle: a directory of LightGBM text models, JSON tables and a manifest with the
sha256 of every file. Loading verifies it all; predicting needs numpy and lightgbm only.

Layout (names in FILES of the manifest):
    manifest.json           format version, model version, data, split, metrics, sha256 of files
    delay_<T>min.txt        one LightGBM text model per label threshold T (minutes): the first
                            on every flight, each next one on the flights late by the previous
                            threshold (its probabilities multiply down the chain)
    cancelled.txt           cancellation model (absent when the source has no cancelled flights)
    calibration.json        one calibrator per model ("none", "isotonic" knots or Platt a, b)
    feature_tables.json     vocabularies, smoothed historical rates, schedule density
    evaluation.json         curves and bins behind the model card's plots
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from flightontime.features import (
    FEATURE_NAMES,
    FeatureTables,
    FlightInputs,
    build_features,
    build_row,
    datetime_minutes,
    route_key,
)
from flightontime.model.calibration import Calibrator
from flightontime.model.factors import GROUP_KEY_FEATURES, GROUP_MATRIX, FactorWriter
from flightontime.model.predictor import LeafPaths, LeafScorer

# 2: delay models are a chain of conditional models (format 1 had independent ones).
FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"
TABLES_FILE = "feature_tables.json"
CALIBRATION_FILE = "calibration.json"
EVALUATION_FILE = "evaluation.json"
CANCELLATION_FILE = "cancelled.txt"
CANCELLATION_KEY = "cancelled"


def model_file(threshold: int) -> str:
    """File name of the delay model for a label threshold in minutes."""
    return f"delay_{threshold}min.txt"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def content_version(
    files: Mapping[str, str], thresholds: Sequence[int], decision_threshold: float
) -> str:
    """Model version derived from content: same models, tables and threshold, same version."""
    lines = [f"{name} {digest}" for name, digest in sorted(files.items())]
    lines.append(f"thresholds {','.join(str(t) for t in thresholds)}")
    lines.append(f"decision_threshold {decision_threshold!r}")
    lines.append(f"features {','.join(FEATURE_NAMES)}")
    return "m-" + sha256_bytes("\n".join(lines).encode())[:16]


class BundleError(Exception):
    """A bundle that cannot be used: missing, tampered, partial or from another format."""

    def __init__(self, file: str | None, reason: str) -> None:
        super().__init__(f"{file}: {reason}" if file else reason)
        self.file = file
        self.reason = reason


@dataclass(slots=True)
class RowPrediction:
    """The answer for one flight in plain Python values (the single-request path)."""

    probabilities: list[float]  # calibrated, one per threshold, non-increasing
    cancellation: float | None  # None when the bundle has no cancellation model
    factors: list[str] | None  # top three factors, plain English; None when not explained


@dataclass
class Prediction:
    """Answers for n flights."""

    probabilities: (
        np.ndarray
    )  # (n, len(thresholds)) calibrated, non-increasing along axis 1 (a chain)
    cancellation: np.ndarray | None  # (n,), None when the bundle has no cancellation model
    factors: list[list[str]] | None  # top three factors per flight, plain English


# -- the bundle ----------------------------------------------------------------------------------


class Bundle:
    """A verified model bundle, ready to predict."""

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        tables: FeatureTables,
        boosters: Sequence[lgb.Booster],
        calibrators: Sequence[Calibrator],
        cancellation: lgb.Booster | None,
        cancellation_calibrator: Calibrator | None,
        engine: str = "auto",
    ) -> None:
        """`engine`: how the trees are walked, "auto" (lignum when verified) or "lightgbm"."""
        self.path = path
        self.manifest = manifest
        self.version: str = manifest["model_version"]
        self.thresholds: tuple[int, ...] = tuple(int(t) for t in manifest["thresholds"])
        self.decision_threshold = float(manifest["decision_threshold"])
        self.weather_fields: tuple[str, ...] = tuple(manifest["inputs"]["weather_fields"])
        self.has_cancellation = cancellation is not None
        self.tables = tables
        self.boosters = tuple(boosters)
        self.calibrators = tuple(calibrators)
        self.cancellation_booster = cancellation
        self.cancellation_calibrator = cancellation_calibrator or Calibrator("none")
        n = len(FEATURE_NAMES)
        models = [*self.boosters, *([cancellation] if cancellation is not None else [])]
        dumps = [b.dump_model() for b in models]  # every tree, read once
        self._sigmoids = [_binary_sigmoid(d) for d in dumps]
        paths = [LeafPaths.of(d, n) for d in dumps]
        grouped = paths[0].paths @ GROUP_MATRIX  # the primary model's contributions per group
        self._scorer = LeafScorer(models, dumps, paths, grouped, GROUP_KEY_FEATURES, engine)
        # What walks the trees, and why (a fallback to LightGBM says what lignum lacked).
        self.tree_engine = self._scorer.engine
        self.tree_engine_note = self._scorer.engine_note
        self._factors = FactorWriter(tables)
        # Batches: every core (one row: one thread, see LeafScorer).
        self._threads = _cores()

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, engine: str = "auto") -> Bundle:
        """Load and verify a bundle (sha256 of every file, format version, feature list);
        `engine` as in `Bundle`."""
        path = Path(path)
        manifest = _read_manifest(path)
        files: dict[str, str] = manifest["files"]
        contents = {name: _read_verified(path, name, digest) for name, digest in files.items()}
        thresholds = [int(t) for t in manifest["thresholds"]]
        expected = content_version(
            {k: v for k, v in files.items() if k != EVALUATION_FILE},
            thresholds,
            float(manifest["decision_threshold"]),
        )
        if manifest.get("model_version") != expected:
            raise BundleError(
                MANIFEST_FILE,
                "model_version does not match the files, thresholds and decision threshold "
                "(manifest edited by hand?)",
            )

        def need(name: str) -> bytes:
            if name not in contents:
                raise BundleError(name, "required file not listed in the manifest")
            return contents[name]

        try:
            tables = FeatureTables.from_json(need(TABLES_FILE))
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(TABLES_FILE, f"unreadable feature tables: {exc}") from exc
        try:
            calibration = json.loads(need(CALIBRATION_FILE))
            calibrators = [Calibrator.from_dict(calibration[str(t)]) for t in thresholds]
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(CALIBRATION_FILE, f"unreadable calibrators: {exc}") from exc
        boosters = [_booster(model_file(t), need(model_file(t))) for t in thresholds]
        cancellation = None
        cancellation_calibrator = None
        if manifest["cancellation"]["available"]:
            cancellation = _booster(CANCELLATION_FILE, need(CANCELLATION_FILE))
            try:
                cancellation_calibrator = Calibrator.from_dict(calibration[CANCELLATION_KEY])
            except (ValueError, KeyError, TypeError) as exc:
                raise BundleError(CALIBRATION_FILE, f"unreadable calibrators: {exc}") from exc
        return cls(
            path,
            manifest,
            tables,
            boosters,
            calibrators,
            cancellation,
            cancellation_calibrator,
            engine,
        )

    # -- questions the API asks ------------------------------------------------------------------

    def canonical_airline(self, code: str) -> str | None:
        """The vocabulary's form of an airline code (IATA or ICAO), None if never seen."""
        index = self.tables.airline_code(code.strip().upper())
        return None if index is None else self.tables.airlines[index]

    def knows_airport(self, icao: str) -> bool:
        """Whether the training window had flights from or to this airport."""
        return icao in self.tables.origin_index or icao in self.tables.destination_index

    def knows_route(self, origin_icao: str, destination_icao: str) -> bool:
        """Whether the training window had this route."""
        return route_key(origin_icao, destination_icao) in self.tables.route_index

    # -- prediction ------------------------------------------------------------------------------

    def predict(self, inputs: FlightInputs, explain: bool = True) -> Prediction:
        """Calibrated probabilities per threshold, cancellation risk and top factors."""
        x = build_features(inputs, self.tables)
        n = x.shape[0]
        if n == 0:
            empty = np.empty((0, len(self.thresholds)))
            return Prediction(empty, np.empty(0) if self.has_cancellation else None, [])
        if n == 1:
            one = self._predict_row(
                x[0],
                str(inputs.airline[0]),
                str(inputs.origin[0]),
                str(inputs.destination[0]),
                explain,
            )
            return Prediction(
                np.array([one.probabilities]),
                None if one.cancellation is None else np.array([one.cancellation]),
                None if one.factors is None else [one.factors],
            )
        # Every model from one walk of the merged trees (LeafScorer), probabilities as the
        # one-row path computes them.
        grouped, scores = self._scorer.score_many(x, self._threads)
        raw = np.empty((n, len(self.thresholds)))
        for k in range(len(self.thresholds)):
            raw[:, k] = self._probabilities(scores[:, k].tolist(), k)
        cancel_raw: np.ndarray | None = None
        if self.has_cancellation:
            cancel_raw = np.array(self._probabilities(scores[:, -1].tolist(), len(self.boosters)))
        return self._finish(
            raw,
            cancel_raw,
            grouped if explain else None,
            x,
            inputs.airline.tolist(),
            inputs.origin.tolist(),
            inputs.destination.tolist(),
        )

    def predict_row(
        self,
        airline: str,
        origin: str,
        destination: str,
        departure_local: datetime,
        distance_m: float,
        weather: Sequence[float] | None = None,
        explain: bool = True,
    ) -> RowPrediction:
        """`predict` for one flight given as plain values (no FlightInputs, same answer).

        `airline` upper case, airports ICAO, departure naive local time at the origin, weather
        in `WEATHER_FIELDS` order (NaN where not given) or None.
        """
        row = build_row(
            self.tables,
            airline,
            origin,
            destination,
            datetime_minutes(departure_local),
            float(distance_m),
            weather,
        )
        return self._predict_row(row, airline, origin, destination, explain)

    def _predict_row(
        self,
        row: Sequence[float] | np.ndarray,
        airline: str,
        origin: str,
        destination: str,
        explain: bool,
    ) -> RowPrediction:
        """One row: every model from one leaf finder call and two row sums (`LeafScorer`),
        then plain Python floats; on one row numpy's per-call overhead would cost more than the
        arithmetic. Same answers as the batch path, bit for bit (tests/model/test_bundle.py)."""
        contributions, scores = self._scorer.score(row)
        raw = [self._probability(r, k) for k, r in enumerate(scores)]
        probabilities = [self.calibrators[0].apply_one(raw[0])]
        for k in range(1, len(self.thresholds)):
            probabilities.append(probabilities[-1] * self.calibrators[k].apply_one(raw[k]))
        x = row if isinstance(row, list) else list(row)
        return RowPrediction(
            probabilities,
            self.cancellation_calibrator.apply_one(raw[-1]) if self.has_cancellation else None,
            self._factors.row(contributions, x, airline, origin, destination) if explain else None,
        )

    def _finish(
        self,
        raw: np.ndarray,
        cancel_raw: np.ndarray | None,
        grouped: np.ndarray | None,
        x: np.ndarray,
        airline: Sequence[str],
        origin: Sequence[str],
        destination: Sequence[str],
    ) -> Prediction:
        # P(>= T_k) = P(>= T_k-1) x P(>= T_k | >= T_k-1): a stricter label never gets a
        # higher chance.
        probabilities = np.empty_like(raw)
        probabilities[:, 0] = self.calibrators[0].apply(raw[:, 0])
        for k in range(1, raw.shape[1]):
            probabilities[:, k] = probabilities[:, k - 1] * self.calibrators[k].apply(raw[:, k])
        cancellation = (
            self.cancellation_calibrator.apply(cancel_raw) if cancel_raw is not None else None
        )
        factors = (
            self._factors.factors(grouped, x, airline, origin, destination)
            if grouped is not None
            else None
        )
        return Prediction(probabilities, cancellation, factors)

    def _probability(self, raw_score: float, model: int) -> float:
        """LightGBM's binary transform, 1 / (1 + exp(-sigmoid * raw)), with the C library's exp
        (math.exp, like LightGBM's std::exp; numpy's vectorised exp may differ in the last bit).
        `model` indexes the delay models, then the cancellation model."""
        try:
            return 1.0 / (1.0 + math.exp(-self._sigmoids[model] * raw_score))
        except OverflowError:
            return 0.0

    def _probabilities(self, raw_scores: list[float], model: int) -> list[float]:
        """`_probability` of each raw score (the same operations, without a call per score)."""
        minus_sigmoid, exp = -self._sigmoids[model], math.exp
        try:
            return [1.0 / (1.0 + exp(minus_sigmoid * r)) for r in raw_scores]
        except OverflowError:  # a score beyond exp's range: the careful way, score by score
            return [self._probability(r, model) for r in raw_scores]


def _binary_sigmoid(dump: dict[str, Any]) -> float:
    """The sigmoid parameter of a plain binary objective (the only kind training writes), from
    a model's `dump_model()` JSON."""
    objective = str(dump.get("objective", ""))
    words = objective.split()
    if words and words[0] == "binary":
        for word in words[1:]:
            if word.startswith("sigmoid:"):
                try:
                    return float(word.removeprefix("sigmoid:"))
                except ValueError:
                    break
    raise BundleError(None, f"model objective {objective!r}: only 'binary sigmoid:<s>' is served")


def _cores() -> int:
    """CPUs this process may run on (threads for batch predictions)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _read_manifest(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise BundleError(None, f"model bundle directory {path} does not exist")
    try:
        manifest = json.loads((path / MANIFEST_FILE).read_bytes())
    except FileNotFoundError as exc:
        raise BundleError(MANIFEST_FILE, f"missing in {path}") from exc
    except ValueError as exc:
        raise BundleError(MANIFEST_FILE, f"not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(MANIFEST_FILE, "not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            MANIFEST_FILE, f"format version {version!r}; this code reads version {FORMAT_VERSION}"
        )
    try:
        names = tuple(manifest["features"]["names"])
        files = manifest["files"]
        thresholds = [int(t) for t in manifest["thresholds"]]
        givens = [manifest["models"][str(t)]["given"] for t in thresholds]
        float(manifest["decision_threshold"])
        tuple(manifest["inputs"]["weather_fields"])
        bool(manifest["cancellation"]["available"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(MANIFEST_FILE, f"incomplete manifest: {exc!r}") from exc
    if names != FEATURE_NAMES:
        raise BundleError(
            MANIFEST_FILE, "the bundle's feature list differs from this code's (retrain it)"
        )
    if not thresholds or not isinstance(files, dict):
        raise BundleError(MANIFEST_FILE, "no thresholds or no file list")
    # The chain the probabilities are multiplied along must be the one the models were fitted
    # for: each delay model conditional on the previous threshold.
    for previous, threshold, given in zip([None, *thresholds], thresholds, givens, strict=False):
        if given != previous:
            raise BundleError(
                MANIFEST_FILE,
                f"the {threshold}-minute model must be conditional on "
                f"{'no threshold' if previous is None else f'{previous} minutes'}, "
                f"the manifest says {given!r}",
            )
    return manifest


def _read_verified(path: Path, name: str, digest: str) -> bytes:
    # Only plain names: a manifest must not point outside its own directory.
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise BundleError(name, "file names in the manifest must be plain names")
    try:
        data = (path / name).read_bytes()
    except FileNotFoundError as exc:
        raise BundleError(name, "listed in the manifest but missing (partial bundle)") from exc
    if sha256_bytes(data) != digest:
        raise BundleError(name, "sha256 does not match the manifest (tampered or partial file)")
    return data


def _booster(name: str, data: bytes) -> lgb.Booster:
    try:
        booster = lgb.Booster(model_str=data.decode("utf-8"))
    except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
        raise BundleError(name, f"not a LightGBM text model: {exc}") from exc
    if booster.num_feature() != len(FEATURE_NAMES):
        raise BundleError(
            name, f"model has {booster.num_feature()} features, expected {len(FEATURE_NAMES)}"
        )
    return booster


def write_files(directory: Path, files: Mapping[str, bytes]) -> dict[str, str]:
    """Write files into a bundle directory; returns their sha256 by name."""
    directory.mkdir(parents=True, exist_ok=True)
    digests: dict[str, str] = {}
    for name, data in files.items():
        (directory / name).write_bytes(data)
        digests[name] = sha256_bytes(data)
    return digests


def write_manifest(directory: Path, manifest: Mapping[str, Any]) -> None:
    """Write manifest.json (readable, stable key order as given)."""
    text = json.dumps(_finite(manifest), indent=2, allow_nan=False, default=_json_default) + "\n"
    (directory / MANIFEST_FILE).write_text(text, encoding="utf-8")


def _finite(value: Any) -> Any:
    # JSON has no NaN: an undefined metric (one class absent) is written as null.
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
