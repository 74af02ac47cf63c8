"""Each answer speaks one language: Portuguese by default, English with Accept-Language: en;
the answer is the core's, in that language, to the word (reasons, notices, factors, status)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flightontime_core import contract
from flightontime_core.flights import Flight
from flightontime_core.service import PredictionService
from flightontime_server.language import DEFAULT_LANGUAGE, negotiate, request_language

from .server import JAVA_REQUEST, Server

UNKNOWN_AIRLINE = {**JAVA_REQUEST, "companhia": "ZZ9"}


@pytest.fixture(scope="module")
def core(bundle_dir: Path) -> PredictionService:
    return PredictionService.load(bundle_dir)


def _flight(request: dict[str, object]) -> Flight:
    flight = contract.flight_from_json(request)
    assert isinstance(flight, Flight)
    return flight


def _answer(core: PredictionService, language: str) -> object:
    """The core's contract answer for UNKNOWN_AIRLINE, in `language`."""
    from flightontime_core.flight_table import FlightTable

    table = core.predict_table(FlightTable.from_flights([_flight(UNKNOWN_AIRLINE)]))
    return contract.answers(table, language)[0]


@pytest.mark.parametrize(
    ("header", "language"),
    [(None, "pt"), ("pt-BR", "pt"), ("en", "en"), ("en-US,pt;q=0.5", "en"), ("fr", "pt")],
)
def test_answer_is_the_cores_in_the_asked_language(
    server: Server, core: PredictionService, header: str | None, language: str
) -> None:
    headers = {"Accept-Language": header} if header else {}
    body = server.client().post("/predict", json=UNKNOWN_AIRLINE, headers=headers).json()
    assert body == _answer(core, language)
    assert body["status"] in contract.STATUS[language]


def test_english_and_portuguese_texts_differ_where_words_are(server: Server) -> None:
    client = server.client()
    pt = client.post("/predict", json=UNKNOWN_AIRLINE).json()
    en = client.post("/predict", json=UNKNOWN_AIRLINE, headers={"Accept-Language": "en"}).json()
    assert pt["probabilidades"] == en["probabilidades"]
    assert pt["status"] in ("Atrasado", "Pontual")
    assert en["status"] in ("Delayed", "On time")
    assert any("desconhecida" in a for a in pt["avisos"])
    assert any("unknown to the model" in a for a in en["avisos"])
    assert pt["fatores"] != en["fatores"]


def test_batch_answers_in_the_asked_language(server: Server, core: PredictionService) -> None:
    flights = [UNKNOWN_AIRLINE, {**JAVA_REQUEST, "origem": "ZZ-Z"}]
    body = (
        server.client()
        .post("/predict/batch", json={"voos": flights}, headers={"Accept-Language": "en"})
        .json()
    )
    first, second = body["resultados"]
    assert first == _answer(core, "en")
    assert second["erro"]["mensagem"] == "Invalid flight."
    assert second["erro"]["detalhes"][0]["motivo"] == (
        "airport code must be 3 or 4 letters or digits (IATA or ICAO)"
    )


@pytest.mark.parametrize(
    ("request_body", "field", "pt", "en"),
    [
        (
            {**JAVA_REQUEST, "distancia_km": 300},
            "distancia_m",
            "as distâncias em metros e em km divergem",
            "the distances in metres and in km disagree",
        ),
        (
            {**JAVA_REQUEST, "clima": {"vento_kmh": -1}},
            "clima.vento_kmh",
            "deve estar entre",
            "must be between",
        ),
        ({**JAVA_REQUEST, "data_partida": 1}, "data_partida", "esperado texto", "expected text"),
        (
            {k: v for k, v in JAVA_REQUEST.items() if k != "origem"},
            "origem",
            "campo obrigatório",
            "required field",
        ),
    ],
)
def test_reasons_speak_the_language(
    server: Server, request_body: dict[str, object], field: str, pt: str, en: str
) -> None:
    client = server.client()
    for header, expected, mensagem in ((None, pt, "Voo inválido."), ("en", en, "Invalid flight.")):
        headers = {"Accept-Language": header} if header else {}
        erro = client.post("/predict", json=request_body, headers=headers).json()["erro"]
        assert erro["mensagem"] == mensagem
        detail = next(d for d in erro["detalhes"] if d["campo"] == field)
        assert expected in detail["motivo"], detail


def test_transport_errors_speak_the_language(server: Server) -> None:
    anonymous = server.client(token=None)
    en = {"Accept-Language": "en"}
    assert (
        anonymous.post("/predict", json=JAVA_REQUEST)
        .json()["erro"]["mensagem"]
        .startswith("Token ausente")
    )
    assert (
        anonymous.post("/predict", json=JAVA_REQUEST, headers=en)
        .json()["erro"]["mensagem"]
        .startswith("Missing token")
    )
    assert anonymous.get("/nope").json()["erro"]["mensagem"] == "Rota não encontrada."
    assert anonymous.get("/nope", headers=en).json()["erro"]["mensagem"] == "Route not found."
    malformed = server.client().post("/predict", content=b"{x", headers=en).json()["erro"]
    assert malformed["detalhes"][0]["motivo"] == "malformed JSON at byte 1"
    # msgspec words its errors in English: only their position reaches a Portuguese answer.
    for body, reason in (
        (b"{x", "JSON malformado no byte 1"),
        (b'{"a": [1', "JSON malformado: o corpo termina antes do JSON"),
    ):
        pt = server.client().post("/predict", content=body).json()["erro"]["detalhes"][0]
        assert pt["motivo"] == reason, pt


# -- language negotiation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", "en"),
        ("pt", "pt"),
        ("pt-BR", "pt"),
        ("PT-br", "pt"),
        ("en-US,pt;q=0.9", "en"),
        ("pt-BR,en;q=0.5", "pt"),
        ("fr, en;q=0.5", "en"),
        ("fr, pt;q=0.1, en;q=0.05", "pt"),
        ("en;q=0.5, pt;q=0.8", "pt"),
        ("pt, en", "pt"),  # equal weights: the header's order
        ("en, pt", "en"),
        ("de-DE,de;q=0.9", DEFAULT_LANGUAGE),
        ("garbage", DEFAULT_LANGUAGE),
        (";;;,,,", DEFAULT_LANGUAGE),
        ("*", DEFAULT_LANGUAGE),
        ("pt;q=0", DEFAULT_LANGUAGE),
        ("pt;q=0, en;q=0", DEFAULT_LANGUAGE),
        ("pt;q=0, en;q=0.1", "en"),
        ("pt;q=abc", DEFAULT_LANGUAGE),
        ("", DEFAULT_LANGUAGE),
        (None, DEFAULT_LANGUAGE),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected
    assert request_language(header) == expected


def test_negotiate_uses_the_given_default() -> None:
    assert negotiate(None, "en") == "en"
    assert negotiate("fr", "en") == "en"
    assert negotiate("en;q=0", "en") == "en"
    assert negotiate("pt", "en") == "pt"
