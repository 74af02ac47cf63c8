"""Issue 17 over HTTP: renamed aerodromes resolve, unknown well-formed codes and distances in
the wrong unit are answered with a warning, `distancia_km` is the km form of the distance, and
the two disagreeing is a 422 naming both; in Portuguese and English."""

from __future__ import annotations

from typing import Any

import pytest

from flightontime_core.airports import distance_m, resolve_airport

from .server import JAVA_REQUEST, Server

EN = {"Accept-Language": "en"}


def _great_circle_km(a: str, b: str) -> float:
    first, second = resolve_airport(a), resolve_airport(b)
    assert first is not None
    assert second is not None
    return round(distance_m(first, second) / 1000, 1)


def _both(server: Server, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers in Portuguese and English, each a 200."""
    client = server.client()
    pt = client.post("/predict", json=body)
    en = client.post("/predict", json=body, headers=EN)
    assert pt.status_code == 200, pt.text
    assert en.status_code == 200, en.text
    return pt.json(), en.json()


def test_a_renamed_aerodrome_is_answered_as_known(server: Server) -> None:
    # Sinop is SBSI in ANAC's data; airportsdata knows it only as SWSI.
    body = {**JAVA_REQUEST, "origem": "SBSI", "destino": "SBGR"}
    del body["distancia_m"]
    pt, en = _both(server, body)
    assert not any("tabelas de referência" in a for a in pt["avisos"])
    assert not any("no reference table" in a for a in en["avisos"])
    assert any("SBSI" in a and "desconhecido" in a for a in pt["avisos"])  # unseen in training
    assert pt["probabilidade"] == en["probabilidade"]


def test_an_old_code_is_answered_as_the_renamed_aerodrome_with_a_warning(
    server: Server,
) -> None:
    body = {**JAVA_REQUEST, "origem": "SBSI", "destino": "SBGR"}
    current, _ = _both(server, body)
    pt, en = _both(server, {**body, "origem": "SWSI"})
    assert "o aeroporto SWSI passou a se chamar SBSI: respondido como SBSI" in pt["avisos"]
    assert "airport SWSI was renamed SBSI: answered as SBSI" in en["avisos"]
    assert pt["probabilidade"] == current["probabilidade"]
    assert [a for a in pt["avisos"] if "SWSI" not in a] == current["avisos"]


@pytest.mark.parametrize("code", ["SBZZ", "zzzz"])
def test_an_unknown_well_formed_code_is_answered_with_a_warning_naming_it(
    server: Server, code: str
) -> None:
    pt, en = _both(server, {**JAVA_REQUEST, "destino": code})
    assert any(
        code.upper() in a and "não consta das tabelas de referência" in a for a in pt["avisos"]
    ), pt["avisos"]
    assert any(code.upper() in a and "no reference table" in a for a in en["avisos"]), en["avisos"]
    assert 0.0 < pt["probabilidade"] < 1.0
    # Without a distance the answer is still given (the distance is unknown to the model).
    body = {k: v for k, v in JAVA_REQUEST.items() if k != "distancia_m"}
    pt, _ = _both(server, {**body, "origem": code})
    assert 0.0 < pt["probabilidade"] < 1.0
    assert not any("Distância" in f for f in pt["fatores"])


@pytest.mark.parametrize(
    ("value", "unit_pt", "unit_en"),
    [(218, "km", "km"), (135.5, "milhas", "miles")],
)
def test_a_distance_in_another_unit_is_replaced_by_the_great_circle(
    server: Server, value: float, unit_pt: str, unit_en: str
) -> None:
    km = _great_circle_km("SBKP", "SBRP")
    pt, en = _both(server, {**JAVA_REQUEST, "distancia_m": value})
    shown = f"{km:g}"
    assert any(
        f"provavelmente em {unit_pt}" in a and shown.replace(".", ",") in a for a in pt["avisos"]
    ), pt["avisos"]
    assert any(f"probably given in {unit_en}" in a and shown in a for a in en["avisos"]), en[
        "avisos"
    ]
    # The answer is the great circle's: the same as without a distance.
    body = {k: v for k, v in JAVA_REQUEST.items() if k != "distancia_m"}
    plain, _ = _both(server, body)
    assert pt["probabilidades"] == plain["probabilidades"]
    assert pt["fatores"] == plain["fatores"]
    assert not any("Distância de 0 km" in f for f in pt["fatores"])


def test_distancia_km_alone_is_the_same_flight(server: Server) -> None:
    body = {k: v for k, v in JAVA_REQUEST.items() if k != "distancia_m"}
    in_km, _ = _both(server, {**body, "distancia_km": 218})
    in_m, _ = _both(server, {**body, "distancia_m": 218_000})
    assert in_km == in_m


def test_both_distances_agreeing_are_answered(server: Server) -> None:
    both = _both(server, {**JAVA_REQUEST, "distancia_m": 218_400, "distancia_km": 218})
    assert both == _both(server, {**JAVA_REQUEST, "distancia_m": 218_400})


def test_both_distances_disagreeing_is_a_422_naming_both(server: Server) -> None:
    body = {**JAVA_REQUEST, "distancia_m": 218_000, "distancia_km": 300}
    client = server.client()
    for headers, motivo in (
        ({}, "as distâncias em metros e em km divergem: 218000 m não são 300 km"),
        (EN, "the distances in metres and in km disagree: 218000 m is not 300 km"),
    ):
        response = client.post("/predict", json=body, headers=headers)
        assert response.status_code == 422, response.text
        erro = response.json()["erro"]
        assert erro["codigo"] == "entrada_invalida"
        assert [(d["campo"], d["tipo"]) for d in erro["detalhes"]] == [
            ("distancia_m", "distances_disagree"),
            ("distancia_km", "distances_disagree"),
        ]
        assert {d["motivo"] for d in erro["detalhes"]} == {motivo}


def test_the_batch_gives_the_same_answers(server: Server) -> None:
    flights = [
        {**JAVA_REQUEST, "destino": "SBZZ"},
        {**JAVA_REQUEST, "distancia_m": 218},
        {**JAVA_REQUEST, "distancia_km": 218, "distancia_m": None},
        {**JAVA_REQUEST, "distancia_km": 300},
    ]
    client = server.client()
    results = client.post("/predict/batch", json={"voos": flights}, headers=EN).json()
    assert len(results["resultados"]) == 4
    for flight, result in zip(flights[:3], results["resultados"][:3], strict=True):
        assert result == client.post("/predict", json=flight, headers=EN).json()
    assert {d["campo"] for d in results["resultados"][3]["erro"]["detalhes"]} == {
        "distancia_m",
        "distancia_km",
    }
