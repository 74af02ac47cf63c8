"""Property-based run of schemathesis against /openapi.json: no server errors (5xx)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .server import TOKEN, Server, clean_env


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checks", ["not_a_server_error", "all"])
def test_schemathesis_finds_no_server_error(server: Server, tmp_path: Path, checks: str) -> None:
    cmd = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{server.base_url}/openapi.json",
        "--checks",
        checks,
        "--header",
        f"Authorization: {TOKEN}",
        "--max-examples",
        "40",
        "--seed",
        "20251110",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
    ]
    if checks == "all":
        # By design, not schema facts: schema-valid codes can name the same airport, and
        # distancia_m and distancia_km can disagree (422); a batch answers 200 with a per-flight
        # error entry for a malformed flight.
        cmd += ["--exclude-checks", "positive_data_acceptance,negative_data_rejection"]
    result = subprocess.run(
        cmd, env=clean_env(), capture_output=True, text=True, timeout=280, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
