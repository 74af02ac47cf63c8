"""The project's checkov checks for Compose files (tests/deploy/checkov_compose)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tool_envs import tool

from .conftest import ROOT

BAD = """
services:
  api:
    build: .
    privileged: true
    network_mode: host
    environment:
      PREDICTION_API_TOKEN: hunter2hunter2
      PREDICTION_API_TOKEN_FILE: /run/secrets/token
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
  good:
    image: example:1
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    environment:
      PASSWORD: ${FROM_THE_ENVIRONMENT}
    deploy:
      resources:
        limits: {cpus: "1", memory: 1G}
  skipped:
    image: example:1
    x-checkov-skip:
      CKV_FOT_COMPOSE_2: needs a capability, with a reason
      CKV_FOT_COMPOSE_3: ""
    security_opt: ["no-new-privileges:true"]
    cap_drop: [ALL]
    deploy:
      resources:
        limits: {cpus: "1", memory: 1G}
"""


def test_compose_checks(tmp_path: Path) -> None:
    checkov = tool("scan", "checkov")
    if checkov is None:
        pytest.skip("checkov is not installed in the hatch environment `scan`: `make tools`")
    compose = tmp_path / "compose.yml"
    compose.write_text(BAD, encoding="utf-8")
    result = subprocess.run(
        [
            str(checkov),
            "--skip-download",
            "--framework",
            "yaml",
            "--external-checks-dir",
            str(ROOT / "tests" / "deploy" / "checkov_compose"),
            "-f",
            str(compose),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    report = json.loads(result.stdout)
    failed = {
        (c["resource"].split(".")[-2], c["check_id"]) for c in report["results"]["failed_checks"]
    }
    skipped = {
        (c["resource"].split(".")[-2], c["check_id"]) for c in report["results"]["skipped_checks"]
    }
    assert {("api", f"CKV_FOT_COMPOSE_{n}") for n in (1, 2, 3, 4, 5, 6, 7, 8)} <= failed
    assert not {f for f in failed if f[0] == "good"}
    assert skipped == {("skipped", "CKV_FOT_COMPOSE_2")}  # an empty reason does not skip
    assert ("skipped", "CKV_FOT_COMPOSE_3") not in failed  # it passes on its own
