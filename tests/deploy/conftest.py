"""Fixtures for the release, CI and Kubernetes tests: the overlays rendered once per session."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tool_envs import tool

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("blue", "green", "production")


def kubectl() -> str | None:
    """The pinned kubectl of `make k8s-tools` (the hatch environment `k8s`), else one on PATH."""
    pinned = tool("k8s", "kubectl")
    return str(pinned) if pinned is not None else shutil.which("kubectl")


@pytest.fixture(scope="session")
def render() -> Any:
    """render(overlay) -> list of objects (kubectl kustomize), cached for the session."""
    binary = kubectl()
    if binary is None:
        pytest.skip("kubectl (with kustomize) is not installed: `make k8s-tools`")
    cache: dict[str, list[dict[str, Any]]] = {}

    def _render(overlay: str) -> list[dict[str, Any]]:
        if overlay not in cache:
            out = subprocess.run(
                [binary, "kustomize", str(K8S / "overlays" / overlay)],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            cache[overlay] = [d for d in yaml.safe_load_all(out) if d]
        return cache[overlay]

    return _render
