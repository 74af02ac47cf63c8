"""One service for several markets: each flight is answered by its origin's country's bundle."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flightontime_core import BundleError, Flight, FlightError, PredictionService
from flightontime_core.service import bundle_paths, find_bundles

NYC = Flight(airline="AA", origin="JFK", destination="LAX", departure="2013-11-10T14:30:00")
BRAZIL = Flight(airline="AZU", origin="SBKP", destination="SBRP", departure="2025-11-10T14:30:00")
LISBON = Flight(airline="TP", origin="LPPT", destination="LEMD", departure="2025-11-10T14:30:00")


@pytest.fixture
def markets(two_markets: Path) -> Path:
    return two_markets


def test_a_directory_of_bundles_lists_default_first(markets: Path) -> None:
    assert [p.name for p in find_bundles(markets)] == ["default", "brazil"]
    assert find_bundles(markets / "default") == [markets / "default"]
    assert find_bundles(markets / "nothing") == []
    with pytest.raises(BundleError, match="no model bundle at"):
        bundle_paths([markets / "default", markets / "nothing"])


def test_each_flight_goes_to_its_origins_country(markets: Path) -> None:
    service = PredictionService.load(markets)
    assert [m.bundle.path.name for m in service.models] == ["default", "brazil"]
    assert service.bundle_index(NYC.origin) == 0
    assert service.bundle_index(BRAZIL.origin) == 1
    assert service.bundle_index("gru") == 1  # IATA and any case, as the resolver takes them
    assert service.bundle_index(LISBON.origin) == 0  # no bundle for Portugal: the default
    assert service.bundle_index("ZZZZ") == 0  # no table knows it: the default
    assert service.bundle_index(42) == 0  # not a code at all: the default refuses it


def test_a_batch_answers_each_flight_from_its_bundle_in_order(markets: Path) -> None:
    service = PredictionService.load(markets)
    default, brazil = service.models
    bad = FlightError([])
    flights = [BRAZIL, NYC, bad, LISBON, BRAZIL]
    answers = service.predict_many(flights)
    assert answers[2] is bad
    expected = [
        brazil.predict(BRAZIL),
        default.predict(NYC),
        bad,
        default.predict(LISBON),
        brazil.predict(BRAZIL),
    ]
    assert answers == expected
    versions = [a.model_version for a in answers if not isinstance(a, FlightError)]
    assert versions == [brazil.version, default.version, default.version, brazil.version]
    assert brazil.version != default.version
    assert [service.predict(f) for f in (BRAZIL, NYC)] == [expected[0], expected[1]]


def test_the_first_path_given_is_the_default(markets: Path) -> None:
    service = PredictionService.load([markets / "brazil", markets / "default"])
    assert [m.bundle.path.name for m in service.models] == ["brazil", "default"]
    assert service.bundle_index(LISBON.origin) == 0
    assert service.bundle_index(NYC.origin) == 1
    assert [b["name"] for b in service.describe()["bundles"]] == ["brazil", "default"]


def test_a_bad_bundle_among_several_is_named(markets: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(markets, root)
    (root / "brazil" / "model.onnx").write_bytes(b"not a graph")
    with pytest.raises(BundleError) as raised:
        PredictionService.load(root)
    assert str(root / "brazil" / "model.onnx") in str(raised.value)


def test_bundles_with_other_thresholds_are_not_served_together(markets: Path) -> None:
    service = PredictionService.load(markets / "default")
    model = service.model
    other = PredictionService.load(markets / "brazil").model
    other.thresholds = (15, 30)
    with pytest.raises(BundleError, match="share their thresholds"):
        PredictionService([model, other])
