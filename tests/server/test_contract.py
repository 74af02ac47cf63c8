"""The Java backend's exact request and the answer fields it and newer clients read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .server import JAVA_REQUEST, TOKEN, Server, start_server


def test_java_backend_request_gets_contract_answer(server: Server) -> None:
    # Exactly what the Java backend sends: raw token, its date format, these five fields.
    client = server.client(token=None)
    response = client.post(
        "/predict",
        content=(
            b'{"companhia": "AZU", "origem": "SBKP", "destino": "SBRP", '
            b'"data_partida": "2025-11-10T14:30:00", "distancia_m": 218000}'
        ),
        headers={"Authorization": TOKEN, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["previsao"] in (0, 1)
    assert isinstance(body["previsao"], int)
    assert 0.0 <= body["probabilidade"] <= 1.0
    assert round(body["probabilidade"], 4) == body["probabilidade"]
    # previsao means the probability against the decision threshold, status says the same.
    assert body["previsao"] == int(body["probabilidade"] >= body["limiar_decisao"]) or (
        abs(body["probabilidade"] - body["limiar_decisao"]) < 1e-4
    )
    assert body["status"] == ("Atrasado" if body["previsao"] == 1 else "Pontual")


def test_answer_has_every_documented_field(server: Server) -> None:
    client = server.client()
    body = client.post("/predict", json=JAVA_REQUEST).json()
    manifest = client.get("/model").json()
    assert set(body) == {
        "previsao",
        "probabilidade",
        "status",
        "limiar_decisao",
        "probabilidades",
        "probabilidade_cancelamento",
        "versao_modelo",
        "fatores",
        "avisos",
    }
    assert body["versao_modelo"] == manifest["model_version"]
    thresholds = [str(t) for t in manifest["behaviour"]["thresholds"]]
    assert list(body["probabilidades"]) == thresholds
    probabilities = list(body["probabilidades"].values())
    assert probabilities == sorted(probabilities, reverse=True)
    assert body["probabilidade"] == body["probabilidades"][thresholds[0]]
    cancel = body["probabilidade_cancelamento"]
    # A number exactly when the served bundle has a cancellation model, else null.
    keys = {m["key"] for v in manifest["behaviour"]["variants"] for m in v["models"]}
    if "cancelled" in keys:
        assert 0.0 <= cancel <= 1.0
    else:
        assert cancel is None
    assert 1 <= len(body["fatores"]) <= 3
    assert all(isinstance(f, str) and f for f in body["fatores"])
    assert isinstance(body["avisos"], list)


def test_codes_in_iata_and_any_case_mean_the_same_flight(server: Server) -> None:
    client = server.client()
    icao = client.post("/predict", json=JAVA_REQUEST).json()
    iata = client.post(
        "/predict", json={**JAVA_REQUEST, "origem": " vcp ", "destino": "rao", "companhia": "azu"}
    ).json()
    assert iata["probabilidades"] == icao["probabilidades"]


def test_offset_is_converted_to_origin_local_time(server: Server) -> None:
    # Campinas is UTC-3 all year (no daylight saving since 2019).
    client = server.client()
    local = client.post("/predict", json=JAVA_REQUEST).json()
    for given in ("2025-11-10T17:30:00Z", "2025-11-10T14:30:00-03:00", "2025-11-10T18:30:00+01:00"):
        other = client.post("/predict", json={**JAVA_REQUEST, "data_partida": given}).json()
        assert other["probabilidades"] == local["probabilidades"], given


def test_distance_is_computed_when_missing(server: Server) -> None:
    client = server.client()
    request = {k: v for k, v in JAVA_REQUEST.items() if k != "distancia_m"}
    response = client.post("/predict", json=request)
    assert response.status_code == 200, response.text


def test_unseen_airline_gets_a_warning(server: Server) -> None:
    client = server.client()
    body = client.post("/predict", json={**JAVA_REQUEST, "companhia": "ZZ9"}).json()
    assert any("ZZ9" in aviso for aviso in body["avisos"])


def test_weather_is_accepted_and_warned_about_when_unused(server: Server, bundle_dir: Path) -> None:
    from flightontime_core.service import PredictionService

    uses_weather = bool(
        PredictionService.load(bundle_dir).describe()["behaviour"]["weather_fields"]
    )
    client = server.client()
    clima = {"temperatura_c": 25.5, "vento_kmh": 30, "visibilidade_km": 10}
    response = client.post("/predict", json={**JAVA_REQUEST, "clima": clima})
    assert response.status_code == 200, response.text
    ignored = any("clima ignorado" in a for a in response.json()["avisos"])
    assert ignored is not uses_weather


def test_request_id_is_echoed_or_generated(server: Server) -> None:
    client = server.client()
    given = client.post("/predict", json=JAVA_REQUEST, headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    # Unsafe ids (log injection) are replaced, not echoed.
    unsafe = client.get("/health", headers={"X-Request-ID": "a b\tc"})
    assert unsafe.headers["x-request-id"] != "a b\tc"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_docs_are_served_without_token(server: Server, path: str) -> None:
    response = server.client(token=None).get(path, follow_redirects=True)
    assert response.status_code == 200
    if path != "/openapi.json":  # /redoc is now the one docs page, /docs
        assert "swagger-ui" in response.text


def test_docs_page_loads_nothing_from_outside(server: Server) -> None:
    client = server.client(token=None)
    page = client.get("/docs").text
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', page)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the app"
        assert client.get(asset).status_code == 200, asset


def test_openapi_example_is_the_contract_and_works(server: Server) -> None:
    client = server.client()
    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["FlightRequest"]
    example = schema["examples"][0]
    assert example == JAVA_REQUEST
    assert client.post("/predict", json=example).status_code == 200
    batch_example = spec["components"]["schemas"]["BatchRequest"]["examples"][0]
    assert client.post("/predict/batch", json=batch_example).status_code == 200
    assert spec["components"]["securitySchemes"]["token"]["name"] == "Authorization"


def test_one_access_log_line_per_request_without_token_or_body(server: Server) -> None:
    import json
    import time

    client = server.client()
    client.post("/predict", json=JAVA_REQUEST, headers={"X-Request-ID": "log-check-1"})
    time.sleep(0.2)
    lines = [json.loads(x) for x in server.logs().splitlines() if x.startswith("{")]
    mine = [x for x in lines if x.get("request_id") == "log-check-1"]
    assert len(mine) == 1
    line = mine[0]
    assert line["method"] == "POST"
    assert line["path"] == "/predict"
    assert line["status"] == 200
    assert line["duration_ms"] > 0
    assert line["model_version"]
    assert "time" in line
    assert TOKEN not in server.logs()
    assert "SBKP" not in json.dumps(line)


def test_access_log_off_writes_no_line_and_still_counts_the_request(
    bundle_dir: Path, tmp_path: Path
) -> None:
    import json
    import time

    env = {"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_ACCESS_LOG": "false"}
    srv = start_server(tmp_path, bundle_dir, env=env)
    try:
        client = srv.client()
        answer = client.post("/predict", json=JAVA_REQUEST, headers={"X-Request-ID": "quiet-1"})
        assert answer.status_code == 200
        assert answer.headers["x-request-id"] == "quiet-1"
        time.sleep(0.2)
        lines = [json.loads(x) for x in srv.logs().splitlines() if x.startswith("{")]
        assert not [x for x in lines if x.get("logger") == "flightontime_server.access"]
        assert any(x.get("level") == "info" for x in lines)  # the server's other lines stay
        exposition = client.get("/metrics").text
        assert 'route="/predict"' in exposition
    finally:
        srv.stop()
