"""Every validation case: 422 (or 413) in the one error shape, naming the field and the reason
(the core's words, never the input echoed back); never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from .server import JAVA_REQUEST, Server


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in JAVA_REQUEST.items() if k != key}


CASES: list[tuple[str, Any, str]] = [
    ("malformed origin", {**JAVA_REQUEST, "origem": "ZZ-Z"}, "origem"),
    ("malformed destination", {**JAVA_REQUEST, "destino": "QQQQQ"}, "destino"),
    ("origin equals destination", {**JAVA_REQUEST, "destino": "SBKP"}, "destino"),
    ("same airport ICAO vs IATA", {**JAVA_REQUEST, "destino": "vcp"}, "destino"),
    ("zero distance", {**JAVA_REQUEST, "distancia_m": 0}, "distancia_m"),
    ("negative distance", {**JAVA_REQUEST, "distancia_m": -5}, "distancia_m"),
    ("distance over 20,000 km", {**JAVA_REQUEST, "distancia_m": 20_000_001}, "distancia_m"),
    ("distance as text", {**JAVA_REQUEST, "distancia_m": "longe"}, "distancia_m"),
    ("zero km", {**JAVA_REQUEST, "distancia_km": 0}, "distancia_km"),
    ("km as text", {**JAVA_REQUEST, "distancia_km": "218"}, "distancia_km"),
    ("km over 20,000", {**JAVA_REQUEST, "distancia_km": 20_001}, "distancia_km"),
    ("m and km disagree", {**JAVA_REQUEST, "distancia_km": 300}, "distancia_km"),
    ("missing airline", _without("companhia"), "companhia"),
    ("missing origin", _without("origem"), "origem"),
    ("missing date", _without("data_partida"), "data_partida"),
    ("date without time", {**JAVA_REQUEST, "data_partida": "2025-11-10"}, "data_partida"),
    ("date as number", {**JAVA_REQUEST, "data_partida": 1762785000}, "data_partida"),
    ("date not a date", {**JAVA_REQUEST, "data_partida": "amanhã cedo"}, "data_partida"),
    ("impossible date", {**JAVA_REQUEST, "data_partida": "2025-02-30T10:00:00"}, "data_partida"),
    ("year out of range", {**JAVA_REQUEST, "data_partida": "0001-01-01T00:00:00"}, "data_partida"),
    ("airline wrong type", {**JAVA_REQUEST, "companhia": 123}, "companhia"),
    ("airline too long", {**JAVA_REQUEST, "companhia": "AZUL LINHAS"}, "companhia"),
    ("airport wrong type", {**JAVA_REQUEST, "origem": ["SBKP"]}, "origem"),
    (
        "temperature too high",
        {**JAVA_REQUEST, "clima": {"temperatura_c": 75}},
        "clima.temperatura_c",
    ),
    ("humidity over 100", {**JAVA_REQUEST, "clima": {"umidade_pct": 101}}, "clima.umidade_pct"),
    ("negative wind", {**JAVA_REQUEST, "clima": {"vento_kmh": -1}}, "clima.vento_kmh"),
    (
        "direction over 360",
        {**JAVA_REQUEST, "clima": {"vento_direcao_graus": 400}},
        "clima.vento_direcao_graus",
    ),
    ("pressure too low", {**JAVA_REQUEST, "clima": {"pressao_hpa": 500}}, "clima.pressao_hpa"),
    (
        "negative rain",
        {**JAVA_REQUEST, "clima": {"precipitacao_mm": -0.1}},
        "clima.precipitacao_mm",
    ),
    ("unknown weather field", {**JAVA_REQUEST, "clima": {"neve_cm": 3}}, "clima.neve_cm"),
    ("weather not an object", {**JAVA_REQUEST, "clima": "chuva"}, "clima"),
    ("body is a list", [JAVA_REQUEST], "body"),
    ("body is a string", "SBKP", "body"),
]


@pytest.mark.parametrize(("case", "body", "field"), CASES, ids=[c[0] for c in CASES])
def test_invalid_input_is_422_naming_the_field(
    server: Server, case: str, body: Any, field: str
) -> None:
    response = server.client().post("/predict", json=body)
    assert response.status_code == 422, response.text
    erro = response.json()["erro"]
    assert erro["codigo"] == "entrada_invalida"
    assert erro["mensagem"]
    campos = [d["campo"] for d in erro["detalhes"]]
    assert field in campos, erro
    assert all(d["motivo"] for d in erro["detalhes"])


def test_malformed_airports_are_both_reported(server: Server) -> None:
    body = {**JAVA_REQUEST, "origem": "Z Z", "destino": "YYYYY"}
    erro = server.client().post("/predict", json=body).json()["erro"]
    assert {d["campo"] for d in erro["detalhes"]} == {"origem", "destino"}
    assert {d["tipo"] for d in erro["detalhes"]} == {"invalid_airport_code"}


@pytest.mark.parametrize(
    "raw", [b"{not json", b'{"companhia": "AZU",}', b"", b"\xff\xfe", b"null", b"[1, 2"]
)
def test_malformed_json_is_422_naming_the_body(server: Server, raw: bytes) -> None:
    response = server.client().post(
        "/predict", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    erro = response.json()["erro"]
    assert erro["codigo"] == "entrada_invalida"
    assert erro["detalhes"]
    assert erro["detalhes"][0]["tipo"]
    assert erro["detalhes"][0]["campo"] == "body"


def test_nan_and_infinity_are_rejected(server: Server) -> None:
    for raw in (b"NaN", b"Infinity", b"1e999"):
        body = (
            b'{"companhia": "AZU", "origem": "SBKP", "destino": "SBRP", '
            b'"data_partida": "2025-11-10T14:30:00", "distancia_m": ' + raw + b"}"
        )
        response = server.client().post(
            "/predict", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (raw, response.text)


def test_body_over_limit_is_413(server: Server) -> None:
    big = b'{"companhia": "AZU", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = server.client().post(
        "/predict", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["erro"]["codigo"] == "corpo_muito_grande"


def test_body_over_limit_without_content_length_is_413(server: Server) -> None:
    def chunks() -> Any:
        yield b'{"companhia": "AZU", "pad": "'
        for _ in range(40):
            yield b"x" * (100 * 1024)
        yield b'"}'

    response = server.client().post(
        "/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["erro"]["codigo"] == "corpo_muito_grande"


def test_unknown_route_and_wrong_method_use_the_error_shape(server: Server) -> None:
    client = server.client()
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json()["erro"]["codigo"] == "nao_encontrado"
    wrong = client.get("/predict")
    assert wrong.status_code == 405
    assert wrong.json()["erro"]["codigo"] == "metodo_nao_permitido"


def test_extra_top_level_fields_are_ignored(server: Server) -> None:
    # Forward compatibility with the Java backend adding fields.
    response = server.client().post("/predict", json={**JAVA_REQUEST, "numero_voo": "AD4321"})
    assert response.status_code == 200
