"""The docs page in a real headless Chromium: it renders with no internet (every asset served by
the app) and lists the API's operations."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .server import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.browser


def _dom(url: str, profile: Path) -> str:
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # Anything not on loopback fails: a CDN asset would leave the page empty.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.timeout(120)
def test_docs_page_lists_the_operations(server: Server, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("headless Chromium is needed: apt-get install chromium")
    dom = _dom(f"{server.base_url}/docs", tmp_path / "profile")
    assert "swagger-ui" in dom
    assert "FlightOnTime" in dom
    for path in ("/predict", "/predict/batch", "/health", "/ready", "/model"):
        assert f'data-path="{path}"' in dom, path
    assert "opblock-summary-method" in dom  # operations rendered, not just the page shell
