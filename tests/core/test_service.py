"""The transport-neutral service: a verified, self-tested model, its answers and its
description (never a secret)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from flightontime_core import BundleError, Flight, FlightError, Model, PredictionService
from flightontime_core.bundle import MANIFEST_FILE
from flightontime_core.service import public

FLIGHT = Flight(airline="UA", origin="EWR", destination="ORD", departure="2013-12-24T18:45:00")


@pytest.fixture(scope="module")
def service(default_model_dir: Path) -> PredictionService:
    return PredictionService.load(default_model_dir)


def test_service_answers_as_the_model(service: PredictionService, default_model: Model) -> None:
    assert service.version == default_model.version
    assert service.thresholds == default_model.thresholds
    assert service.decision_threshold == default_model.decision_threshold
    assert service.predict(FLIGHT) == default_model.predict(FLIGHT)
    bad = Flight(airline="UA", origin="EWR", destination="EWR", departure="2013-12-24T18:45")
    out = service.predict_many([FLIGHT, bad])
    assert out[0] == default_model.predict(FLIGHT)
    assert isinstance(out[1], FlightError)
    with pytest.raises(FlightError):
        service.predict(bad)


def test_service_loads_with_options(default_model_dir: Path) -> None:
    service = PredictionService.load(default_model_dir, threads=2, decision_threshold=0.9)
    assert service.decision_threshold == 0.9
    assert service.predict(FLIGHT).decision_threshold == 0.9


def test_describe_is_the_manifest_as_plain_data(
    service: PredictionService, default_model_dir: Path
) -> None:
    described = service.describe()
    manifest = json.loads((default_model_dir / MANIFEST_FILE).read_text())
    bundles = described.pop("bundles")
    assert json.loads(json.dumps(described)) == public(
        {"countries": [], **manifest}  # a manifest without the field declares none
    )
    assert bundles == [
        {
            "name": default_model_dir.name,
            "model_version": service.version,
            "countries": manifest.get("countries", []),
            "default": True,
        }
    ]
    assert described["model_version"] == service.version
    assert described["metrics"] == manifest["metrics"]
    json.dumps(described)
    described["model_version"] = "changed"  # a copy: the service keeps its own
    assert service.describe()["model_version"] == service.version


def test_describe_never_shows_secrets(default_model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(default_model_dir, copy)
    manifest = json.loads((copy / MANIFEST_FILE).read_text())
    manifest["training"]["environment"] = {
        "HF_TOKEN": "leak-1",
        "db_password": "leak-2",
        "Senha": "leak-3",
        "runs": [{"api_key": "leak-4", "seed": 1}],
        "user": "me",
    }
    manifest["data"]["source_auth"] = {"secret": "leak-5", "algorithm": "none"}
    (copy / MANIFEST_FILE).write_text(json.dumps(manifest))
    described = PredictionService.load(copy).describe()
    text = json.dumps(described)
    assert "leak-" not in text
    assert described["training"]["environment"] == {"runs": [{"seed": 1}], "user": "me"}
    assert described["data"]["source_auth"] == {"algorithm": "none"}


def test_a_broken_bundle_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError):
        PredictionService.load(tmp_path / "missing")
