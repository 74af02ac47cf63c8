"""A bug is a 500 in the error shape, logged with its traceback, answered without internals."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from flightontime_core.service import PredictionService
from flightontime_server.app import asgi_app, create_app
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN


class _Broken(PredictionService):
    def predict_table(self, flights: Any) -> Any:
        raise RuntimeError("internal detail /srv/secret/path")


def test_a_bug_is_a_500_without_internals(
    bundle_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = PredictionService.load(bundle_dir)
    broken = _Broken(service.model)
    app = create_app(Settings.from_environ({"PREDICTION_API_TOKEN": TOKEN}), broken)
    with (
        caplog.at_level(logging.ERROR, logger="flightontime_server"),
        TestClient(asgi_app(app)) as client,
    ):
        response = client.post("/predict", json=JAVA_REQUEST, headers={"Authorization": TOKEN})
        en = client.post(
            "/predict",
            json=JAVA_REQUEST,
            headers={"Authorization": TOKEN, "Accept-Language": "en"},
        )
    assert response.status_code == 500
    assert response.json() == {
        "erro": {"codigo": "erro_interno", "mensagem": "Erro interno do servidor.", "detalhes": []}
    }
    assert en.json()["erro"]["mensagem"] == "Internal server error."
    assert "secret" not in response.text
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged
    assert logged[0].exc_info is not None
    assert "RuntimeError" in caplog.text
