"""POST /predict/batch: order, mixed good and bad flights, the size limit."""

from __future__ import annotations

from .server import JAVA_REQUEST, Server


def test_mixed_batch_keeps_order_and_isolates_errors(server: Server) -> None:
    client = server.client()
    flights = [
        JAVA_REQUEST,
        {**JAVA_REQUEST, "origem": "ZZZZ"},
        {**JAVA_REQUEST, "companhia": "AD", "origem": "gru", "destino": "SDU"},
        "not a flight",
        {**JAVA_REQUEST, "distancia_m": -1},
        {k: v for k, v in JAVA_REQUEST.items() if k != "distancia_m"},
        {**JAVA_REQUEST, "destino": "SBKP"},
    ]
    response = client.post("/predict/batch", json={"voos": flights})
    assert response.status_code == 200, response.text
    results = response.json()["resultados"]
    assert len(results) == len(flights)
    ok = [i for i, r in enumerate(results) if "erro" not in r]
    assert ok == [0, 2, 5]
    assert results[1]["erro"]["detalhes"][0]["campo"] == "origem"
    assert results[3]["erro"]["codigo"] == "entrada_invalida"
    assert results[4]["erro"]["detalhes"][0]["campo"] == "distancia_m"
    assert results[6]["erro"]["detalhes"][0]["campo"] == "destino"
    # Each good entry is exactly what /predict answers for that flight.
    for i in ok:
        single = client.post("/predict", json=flights[i]).json()
        assert results[i] == single


def test_batch_of_many_flights_matches_single_answers(server: Server) -> None:
    client = server.client()
    hours = [f"2025-11-{d:02d}T{h:02d}:15:00" for d in (3, 8, 14) for h in (6, 12, 18, 22)]
    flights = [{**JAVA_REQUEST, "data_partida": when} for when in hours]
    results = client.post("/predict/batch", json={"voos": flights}).json()["resultados"]
    for flight, result in zip(flights, results, strict=True):
        single = client.post("/predict", json=flight).json()
        assert result["probabilidades"] == single["probabilidades"]
        assert result["fatores"] == single["fatores"]


def test_empty_batch(server: Server) -> None:
    response = server.client().post("/predict/batch", json={"voos": []})
    assert response.status_code == 200
    assert response.json() == {"resultados": []}


def test_batch_over_the_limit_is_413(server: Server) -> None:
    # The shared server runs with FLIGHTONTIME_BATCH_MAX_FLIGHTS=50.
    client = server.client()
    assert client.post("/predict/batch", json={"voos": [JAVA_REQUEST] * 50}).status_code == 200
    response = client.post("/predict/batch", json={"voos": [JAVA_REQUEST] * 51})
    assert response.status_code == 413
    erro = response.json()["erro"]
    assert erro["codigo"] == "lote_muito_grande"
    assert erro["detalhes"][0]["campo"] == "voos"


def test_batch_body_must_have_voos(server: Server) -> None:
    for body in ({}, {"voos": "x"}, [JAVA_REQUEST]):
        response = server.client().post("/predict/batch", json=body)
        assert response.status_code == 422
        assert response.json()["erro"]["codigo"] == "entrada_invalida"
