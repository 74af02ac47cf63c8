"""hadolint and checkov pass on docker/*.Dockerfile and docker/compose*.yml; every skip is
justified."""

from __future__ import annotations

import re
import subprocess

import pytest

from .conftest import ROOT, TOOLS

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

DOCKERFILES = tuple(
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docker").glob("*.Dockerfile"))
)
COMPOSE_FILES = tuple(
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docker").glob("compose*.yml"))
)


def test_the_files_are_there() -> None:
    assert DOCKERFILES == ("docker/cli.Dockerfile", "docker/server.Dockerfile")
    assert COMPOSE_FILES == (
        "docker/compose.dev.yml",
        "docker/compose.monitoring.yml",
        "docker/compose.yml",
    )
    assert not (ROOT / "Dockerfile").exists(), "the old root Dockerfile is back"


def _tool(name: str) -> str:
    if TOOLS is None:
        pytest.fail(f"{name}: no hatch to find the `scan` environment with: run `make tools`")
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} missing: run `make tools`")
    return str(path)


def test_hadolint_passes() -> None:
    proc = subprocess.run(
        [_tool("hadolint"), "--no-color", *DOCKERFILES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_hadolint_ignore_is_justified() -> None:
    for name in DOCKERFILES:
        lines = (ROOT / name).read_text().splitlines()
        for i, line in enumerate(lines):
            if "hadolint ignore" in line:
                above = lines[i - 1].strip() if i else ""
                where = f"{name}:{i + 1}: `{line.strip()}` needs a justification comment above it"
                assert above.startswith("#"), where
                assert "hadolint" not in above, where
                assert len(above) > 20, where


def test_checkov_passes_on_dockerfile_and_compose() -> None:
    cmd = [
        _tool("checkov"),
        "--skip-download",
        "--quiet",
        "--compact",
        "--framework",
        "dockerfile",
        "secrets",
        "yaml",
    ]
    for name in (*DOCKERFILES, *COMPOSE_FILES):
        cmd += ["-f", name]
    external = ROOT / "tests" / "deploy" / "checkov_compose"
    if external.is_dir():  # the project's own Compose checks (checkov has no Compose framework)
        cmd += ["--external-checks-dir", str(external)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    passed = [int(n) for n in re.findall(r"Passed checks: (\d+)", proc.stdout)]
    print(f"\n[container] checkov: {sum(passed)} checks passed, 0 failed")
    for name in (*DOCKERFILES, *COMPOSE_FILES):
        text = (ROOT / name).read_text()
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)", text):
            assert match.group(3).strip(), f"{name}: skip {match.group(1)} without a reason"
