"""POST /predict/batch: order, mixed good and bad flights, the size limit."""

from __future__ import annotations

import json
import math

from .server import JAVA_REQUEST, Server

JSON = {"content-type": "application/json"}


def test_mixed_batch_keeps_order_and_isolates_errors(server: Server) -> None:
    client = server.client()
    flights = [
        JAVA_REQUEST,
        {**JAVA_REQUEST, "origem": "ZZ-Z"},
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


# Every way a flight can be written, so that the batch's column-wise resolution is checked
# against the one-flight path on each: offsets, weather, unknown codes, IATA, lower case.
VARIANTS = [
    JAVA_REQUEST,
    {**JAVA_REQUEST, "data_partida": "2025-11-10T14:30:00-03:00"},
    {**JAVA_REQUEST, "data_partida": "2025-11-10T17:30:00Z"},
    {**JAVA_REQUEST, "clima": {"vento_kmh": 40, "visibilidade_km": 2.5}},
    {**JAVA_REQUEST, "clima": {"temperatura_c": None}},
    {**JAVA_REQUEST, "clima": None},
    {**JAVA_REQUEST, "companhia": "ZZ9"},
    {"companhia": "ua", "origem": "ewr", "destino": "ord", "data_partida": "2013-12-02T07:05:00"},
    {"companhia": "UAL", "origem": "KEWR", "destino": "KORD", "data_partida": "2013-12-02 07:05"},
    {"companhia": "B6", "origem": "JFK", "destino": "GRU", "data_partida": "2013-12-24T23:59:59"},
]


def _assert_same_as_single(server: Server, flights: list[object], results: list[dict]) -> None:
    client = server.client()
    for flight, result in zip(flights, results, strict=True):
        # Sent as text: json.dumps writes Infinity, which a client library would refuse.
        single = client.post("/predict", content=json.dumps(flight), headers=JSON)
        if single.status_code == 200:
            assert result == single.json(), flight
        else:
            assert result["erro"]["detalhes"] == single.json()["erro"]["detalhes"], flight


def test_every_kind_of_flight_answers_as_it_does_alone(server: Server) -> None:
    response = server.client().post("/predict/batch", json={"voos": VARIANTS})
    assert response.status_code == 200, response.text
    results = response.json()["resultados"]
    assert all("erro" not in r for r in results)
    _assert_same_as_single(server, VARIANTS, results)


def test_batch_with_bad_flights_still_answers_the_others_as_alone(server: Server) -> None:
    bad = [
        {**JAVA_REQUEST, "data_partida": 1762785000},  # a number is not a departure
        {**JAVA_REQUEST, "data_partida": "2025-11-10"},  # no time
        {**JAVA_REQUEST, "data_partida": "1900-01-01T10:00:00"},  # out of range
        {**JAVA_REQUEST, "clima": {"vento": 3}},  # unknown weather field
        {**JAVA_REQUEST, "distancia_m": "longe"},  # text is not a distance
    ]
    flights = [*VARIANTS, *bad]
    body = json.dumps({"voos": flights})
    response = server.client().post("/predict/batch", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    results = response.json()["resultados"]
    assert ["erro" in r for r in results] == [False] * len(VARIANTS) + [True] * len(bad)
    assert [r["erro"]["detalhes"][0]["campo"] for r in results[len(VARIANTS) :]] == [
        "data_partida",
        "data_partida",
        "data_partida",
        "clima.vento",
        "distancia_m",
    ]
    _assert_same_as_single(server, flights, results)


def test_non_json_numbers_make_the_body_malformed(server: Server) -> None:
    # Infinity and NaN are not JSON (Python's json.dumps writes them anyway): the body as a
    # whole is refused, naming the body, as /predict does.
    body = json.dumps({"voos": [JAVA_REQUEST, {**JAVA_REQUEST, "distancia_m": math.inf}]})
    response = server.client().post("/predict/batch", content=body, headers=JSON)
    assert response.status_code == 422
    assert response.json()["erro"]["detalhes"][0]["campo"] == "body"
