"""Readiness: 503 until the bundle is loaded, verified and has answered; never for a bad one."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from flightontime_server.adapter import BUNDLE_ERROR

from .server import JAVA_REQUEST, TOKEN, Server, launch, start_server


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


def _refused(tmp: Path, model_dir: Path) -> str:
    """Run the server on a bad bundle: it must end before serving; what it printed."""
    proc, port = launch(tmp, model_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    printed = (tmp / "stderr.log").read_text() + (tmp / "stdout.log").read_text()
    assert code == BUNDLE_ERROR, printed
    with pytest.raises(httpx.TransportError):  # no worker ever listened
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1, trust_env=False)
    return printed


def test_a_tampered_bundle_ends_serve_naming_the_file(bundle_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(bundle_dir, model_dir)
    _tamper(model_dir)
    printed = _refused(tmp_path / "srv", model_dir)
    assert "model bundle refused, not serving" in printed
    assert str(model_dir / "model.onnx") in printed
    assert "sha256" in printed
    assert "Traceback" not in printed


def test_ready_probe_needs_no_token(bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(tmp_path, bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        with httpx.Client(base_url=srv.base_url, trust_env=False) as c:
            assert c.get("/ready").status_code == 200
            assert c.get("/health").json() == {"status": "ok"}
    finally:
        srv.stop()


def test_a_bundle_failing_its_self_test_ends_serve(bundle_dir: Path, tmp_path: Path) -> None:
    # Files and version intact (verification passes), but the stored answers moved: the
    # self-test catches what a different runtime or feature code would change.
    model_dir = tmp_path / "model"
    shutil.copytree(bundle_dir, model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    case = manifest["self_test"][0]
    case["probabilities"] = {k: min(1.0, v + 0.1) for k, v in case["probabilities"].items()}
    (model_dir / "manifest.json").write_text(json.dumps(manifest))
    printed = _refused(tmp_path / "srv", model_dir)
    assert "self-test failed" in printed
    assert str(model_dir / "manifest.json") in printed
    assert "Traceback" not in printed


def test_a_bundle_arriving_late_and_bad_never_becomes_ready(
    bundle_dir: Path, tmp_path: Path
) -> None:
    # Nothing to verify at start: the workers wait, then refuse it and stay not ready.
    model_dir = tmp_path / "model"
    srv = start_server(
        tmp_path / "srv",
        model_dir,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_POLL_INTERVAL_S": "0.1"},
        ready=False,
    )
    try:
        staging = tmp_path / "staging"
        shutil.copytree(bundle_dir, staging)
        _tamper(staging)
        staging.rename(model_dir)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "rejected" not in srv.logs():
            time.sleep(0.1)
        assert "rejected" in srv.logs()
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


def test_two_workers_never_answer_503_once_ready(bundle_dir: Path, tmp_path: Path) -> None:
    # Each worker loads the bundle before it accepts a connection, so whichever answers is
    # ready: after the first 200, every probe is a 200.
    proc, port = launch(
        tmp_path, bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_WORKERS": "2"}
    )
    seen: list[int] = []
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False) as c:
            while time.monotonic() < deadline and seen.count(200) < 300:
                assert proc.poll() is None, (tmp_path / "stderr.log").read_text()
                try:
                    seen.append(c.get("/ready", timeout=2).status_code)
                except httpx.TransportError:
                    time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert 200 in seen
    first = seen.index(200)
    assert set(seen[first:]) == {200}, seen[first:]
    assert seen.count(200) == 300


def test_ready_is_logged_with_the_model_version(server: Server) -> None:
    version = server.client().get("/ready").json()["versao_modelo"]
    ready = [json.loads(line) for line in server.logs().splitlines() if '"model ready"' in line]
    assert ready
    assert ready[0]["model_version"] == version
    assert ready[0]["thresholds"]
