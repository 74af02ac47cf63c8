"""Readiness: 503 until the bundle is loaded, verified and has answered; never for a bad one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx

from .server import JAVA_REQUEST, TOKEN, Server, start_server


def test_not_ready_until_the_bundle_appears(bundle_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    srv = start_server(
        tmp_path / "srv",
        model_dir,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_POLL_INTERVAL_S": "0.1"},
        ready=False,
    )
    try:
        client = srv.client()
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["erro"]["codigo"] == "modelo_indisponivel"
        predict = client.post("/predict", json=JAVA_REQUEST)
        assert predict.status_code == 503
        assert predict.headers["retry-after"] == "1"
        # Deploy the bundle atomically (copy aside, then rename), as documented.
        staging = tmp_path / "staging"
        shutil.copytree(bundle_dir, staging)
        staging.rename(model_dir)
        srv.wait_ready(timeout=30)
        body = client.get("/ready").json()
        assert body["status"] == "pronto"
        assert body["versao_modelo"]
        assert client.post("/predict", json=JAVA_REQUEST).status_code == 200
    finally:
        assert srv.stop() == 0


def _tamper(bundle: Path) -> None:
    # Change one byte of the largest file other than the manifest (the model itself).
    target = max(
        (p for p in bundle.rglob("*") if p.is_file() and p.name != "manifest.json"),
        key=lambda p: p.stat().st_size,
    )
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("8")
    target.write_bytes(bytes(data))


def test_tampered_bundle_never_becomes_ready(bundle_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(bundle_dir, model_dir)
    _tamper(model_dir)
    srv = start_server(
        tmp_path / "srv", model_dir, env={"PREDICTION_API_TOKEN": TOKEN}, ready=False
    )
    try:
        client = srv.client()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "rejected" not in srv.logs():
            time.sleep(0.1)
        assert "rejected" in srv.logs()
        for _ in range(3):
            assert client.get("/ready").status_code == 503
            time.sleep(0.2)
        assert client.post("/predict", json=JAVA_REQUEST).status_code == 503
        assert client.get("/health").status_code == 200
        srv.assert_alive()
    finally:
        srv.stop()


def test_ready_probe_needs_no_token(bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(tmp_path, bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        with httpx.Client(base_url=srv.base_url, trust_env=False) as c:
            assert c.get("/ready").status_code == 200
            assert c.get("/health").json() == {"status": "ok"}
    finally:
        srv.stop()


def test_bundle_failing_its_self_test_never_becomes_ready(bundle_dir: Path, tmp_path: Path) -> None:
    # Files and version intact (verification passes), but the stored answers moved: the
    # self-test catches what a different runtime or feature code would change.
    model_dir = tmp_path / "model"
    shutil.copytree(bundle_dir, model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    case = manifest["self_test"][0]
    case["probabilities"] = {k: min(1.0, v + 0.1) for k, v in case["probabilities"].items()}
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    srv = start_server(
        tmp_path / "srv", model_dir, env={"PREDICTION_API_TOKEN": TOKEN}, ready=False
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "rejected" not in srv.logs():
            time.sleep(0.1)
        assert "self-test failed" in srv.logs()
        client = srv.client()
        failed = client.get("/ready")
        assert failed.status_code == 503
        assert (
            failed.json()["erro"]["mensagem"]
            == "Modelo com falha ao carregar; veja os logs do servidor."
        )
        assert client.post("/predict", json=JAVA_REQUEST).status_code == 503
        srv.assert_alive()
    finally:
        srv.stop()


def test_ready_is_logged_with_the_model_version(server: Server) -> None:
    version = server.client().get("/ready").json()["versao_modelo"]
    ready = [json.loads(line) for line in server.logs().splitlines() if '"model ready"' in line]
    assert ready
    assert ready[0]["model_version"] == version
    assert ready[0]["thresholds"]
