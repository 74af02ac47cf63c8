"""One server for both markets: each flight answered by its origin's country's bundle."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import JAVA_REQUEST, TOKEN, Server, start_server

NYC = {"companhia": "AA", "origem": "JFK", "destino": "LAX", "data_partida": "2013-11-10T14:30:00"}
LISBON = {
    "companhia": "TP",
    "origem": "LPPT",
    "destino": "LEMD",
    "data_partida": "2025-11-10T14:30:00",
}


def _version(root: Path, name: str) -> str:
    import json

    manifest = json.loads((root / name / "manifest.json").read_text())
    return str(manifest["model_version"])


@pytest.fixture(scope="module")
def markets_server(two_markets: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("markets"), two_markets, env={"PREDICTION_API_TOKEN": TOKEN}
    )
    yield srv
    srv.stop()


def test_each_flight_is_answered_by_its_countrys_bundle(
    markets_server: Server, two_markets: Path
) -> None:
    client = markets_server.client()
    brazil, default = _version(two_markets, "brazil"), _version(two_markets, "default")
    assert client.post("/predict", json=JAVA_REQUEST).json()["versao_modelo"] == brazil
    assert client.post("/predict", json=NYC).json()["versao_modelo"] == default
    assert client.post("/predict", json=LISBON).json()["versao_modelo"] == default
    batch = client.post("/predict/batch", json={"voos": [NYC, JAVA_REQUEST, LISBON]}).json()
    assert [r["versao_modelo"] for r in batch["resultados"]] == [default, brazil, default]


def test_model_lists_every_bundle_and_ready_names_the_default(
    markets_server: Server, two_markets: Path
) -> None:
    client = markets_server.client()
    described = client.get("/model").json()
    assert described["model_version"] == _version(two_markets, "default")
    assert described["bundles"] == [
        {
            "name": "default",
            "model_version": _version(two_markets, "default"),
            "countries": ["US"],
            "default": True,
        },
        {
            "name": "brazil",
            "model_version": _version(two_markets, "brazil"),
            "countries": ["BR"],
            "default": False,
        },
    ]
    metrics = client.get("/metrics").text
    for name in ("default", "brazil"):
        version = _version(two_markets, name)
        assert f'flightontime_model_info{{thresholds="15,30,60",version="{version}"}}' in metrics


def test_several_models_given_the_first_is_the_default(two_markets: Path, tmp_path: Path) -> None:
    srv = start_server(
        tmp_path,
        two_markets / "brazil",
        env={"PREDICTION_API_TOKEN": TOKEN},
        args=["--model", str(two_markets / "default")],
    )
    try:
        client = srv.client()
        brazil = _version(two_markets, "brazil")
        assert client.post("/predict", json=LISBON).json()["versao_modelo"] == brazil
        assert client.post("/predict", json=NYC).json()["versao_modelo"] == _version(
            two_markets, "default"
        )
        assert [b["name"] for b in client.get("/model").json()["bundles"]] == ["brazil", "default"]
    finally:
        assert srv.stop() == 0


def test_model_dir_setting_takes_several_paths(two_markets: Path, tmp_path: Path) -> None:
    paths = os.pathsep.join(str(two_markets / n) for n in ("brazil", "default"))
    srv = start_server(
        tmp_path, None, env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_DIR": paths}
    )
    try:
        bundles = srv.client().get("/model").json()["bundles"]
        assert [b["name"] for b in bundles] == ["brazil", "default"]
    finally:
        srv.stop()
