"""`flightontime predict` and `flightontime healthcheck` (the serve command is in tests/api)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

try:  # tests/ is on sys.path (rootdir conftest) unless it becomes a package
    from api.server import JAVA_REQUEST, TOKEN, clean_env, free_port, start_server
except ImportError:  # pragma: no cover
    from tests.api.server import JAVA_REQUEST, TOKEN, clean_env, free_port, start_server

CLI = [sys.executable, "-m", "flightontime.cli"]


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=clean_env(), capture_output=True, text=True, timeout=timeout
    )


def test_predict_prints_the_api_answer(small_bundle_dir: Path, tmp_path: Path) -> None:
    result = _run(
        "predict",
        "--companhia", "AZU",
        "--origem", "SBKP",
        "--destino", "SBRP",
        "--data-partida", "2025-11-10T14:30:00",
        "--distancia-m", "218000",
        "--model", str(small_bundle_dir),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    srv = start_server(tmp_path, small_bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        served = srv.client().post("/predict", json=JAVA_REQUEST).json()
    finally:
        srv.stop()
    assert answer == served


def test_predict_reports_bad_input_in_the_error_shape(small_bundle_dir: Path) -> None:
    result = _run(
        "predict",
        "--companhia", "AZU",
        "--origem", "ZZZZ",
        "--destino", "SBRP",
        "--data-partida", "2025-11-10T14:30:00",
        "--model", str(small_bundle_dir),
    )  # fmt: skip
    assert result.returncode == 2
    assert json.loads(result.stderr)["erro"]["detalhes"][0]["campo"] == "origem"


def test_predict_without_bundle_fails_clearly(tmp_path: Path) -> None:
    result = _run(
        "predict",
        "--companhia", "AZU",
        "--origem", "SBKP",
        "--destino", "SBRP",
        "--data-partida", "2025-11-10T14:30:00",
        "--model", str(tmp_path / "nothing"),
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot load the model bundle" in result.stderr


def test_healthcheck_exit_codes(small_bundle_dir: Path, tmp_path: Path) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/ready"
    down = _run("healthcheck", "--url", nobody, "--timeout", "1")
    assert down.returncode == 1
    # A server that is up but not ready (no bundle yet) is not healthy either.
    waiting = start_server(
        tmp_path / "waiting",
        tmp_path / "no-model",
        env={"PREDICTION_API_TOKEN": TOKEN},
        ready=False,
    )
    try:
        assert _run("healthcheck", "--url", f"{waiting.base_url}/ready").returncode == 1
    finally:
        waiting.stop()
    srv = start_server(tmp_path / "ready", small_bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN})
    try:
        start = time.monotonic()
        ok = _run("healthcheck", "--url", f"{srv.base_url}/ready")
        elapsed = time.monotonic() - start
        assert ok.returncode == 0, ok.stderr
    finally:
        srv.stop()
    assert elapsed < 10
