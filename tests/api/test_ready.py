"""Readiness: 503 until the bundle is loaded, verified and has answered; never for a bad one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx

from .server import JAVA_REQUEST, TOKEN, Server, start_server


def test_not_ready_until_the_bundle_appears(small_bundle_dir: Path, tmp_path: Path) -> None:
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
        shutil.copytree(small_bundle_dir, staging)
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


def test_tampered_bundle_never_becomes_ready(small_bundle_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(small_bundle_dir, model_dir)
    _tamper(model_dir)
    srv = start_server(
        tmp_path / "srv", model_dir, env={"PREDICTION_API_TOKEN": TOKEN}, ready=False
    )
    try:
        client = srv.client()
        deadline = time.monotonic() + 5
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


def test_ready_probe_needs_no_token(small_bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(tmp_path, small_bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        with httpx.Client(base_url=srv.base_url, trust_env=False) as c:
            assert c.get("/ready").status_code == 200
            assert c.get("/health").json() == {"status": "ok"}
    finally:
        srv.stop()


def test_tree_engine_is_logged_and_both_engines_answer_alike(
    small_bundle_dir: Path, tmp_path: Path, server: Server
) -> None:
    flights = {"voos": [JAVA_REQUEST, {**JAVA_REQUEST, "origem": "KJFK", "destino": "KLAX"}]}
    srv = start_server(
        tmp_path,
        small_bundle_dir,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_TREE_ENGINE": "lightgbm"},
    )
    try:
        with srv.client() as c:
            lightgbm = (
                c.post("/predict", json=JAVA_REQUEST),
                c.post("/predict/batch", json=flights),
            )
        with server.client() as c:
            lignum = (c.post("/predict", json=JAVA_REQUEST), c.post("/predict/batch", json=flights))
    finally:
        assert srv.stop() == 0
    for ours, theirs in zip(lightgbm, lignum, strict=True):
        assert ours.status_code == theirs.status_code == 200
        assert ours.json() == theirs.json()
    ready = [json.loads(line) for line in srv.logs().splitlines() if '"model ready"' in line]
    assert ready
    assert ready[0]["tree_engine"] == "lightgbm"
    assert "as configured" in ready[0]["tree_engine_note"]
    assert "trees walked by LightGBM" not in srv.logs()  # configured, not a fallback
    # lignum's bindings report objects alive at exit as leaks; the service frees them first.
    assert "leaked" not in srv.logs()


def test_default_engine_is_lignum_and_exits_without_leak_reports(
    small_bundle_dir: Path, tmp_path: Path
) -> None:
    srv = start_server(tmp_path, small_bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        with srv.client() as c:
            assert c.post("/predict", json=JAVA_REQUEST).status_code == 200
    finally:
        assert srv.stop() == 0
    ready = [json.loads(line) for line in srv.logs().splitlines() if '"model ready"' in line]
    assert ready[0]["tree_engine"] == "lignum"
    assert "leaked" not in srv.logs()
