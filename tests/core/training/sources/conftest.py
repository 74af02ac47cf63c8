"""Fixtures of the source reader tests: small files in the sources' exact formats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# The fixture files live with the rest of the test data, in tests/fixtures.
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
# A real VRA month as the portal publishes it, committed gzipped with its provenance (README.md).
REAL_MONTH = Path(__file__).resolve().parents[4] / "data" / "anac" / "VRA_2021-04.csv.gz"


@pytest.fixture
def anac_dir() -> Path:
    """ANAC VRA month files: UTF-8 with BOM, UTF-8 without BOM, Latin-1 (older header)."""
    return FIXTURES / "anac"


@pytest.fixture(scope="session")
def vra_real_month() -> Path:
    """April 2021 of ANAC VRA, byte for byte as the portal publishes it, gzipped."""
    return REAL_MONTH


@pytest.fixture
def bts_dir() -> Path:
    """BTS On-Time files: TranStats CSV, Kaggle-style CSV and a zipped monthly download."""
    return FIXTURES / "bts"


@pytest.fixture
def portal_server(tmp_path: Path, anac_dir: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving the fixtures in the portal's folder layout."""
    root = tmp_path / "portal"
    for year, month, name in ((2023, 1, "VRA_2023-01.csv"), (2023, 2, "VRA_2023-02.csv")):
        folder = root / str(year) / f"{month:02d} - {['Janeiro', 'Fevereiro'][month - 1]}"
        folder.mkdir(parents=True)
        (folder / f"VRA_{year}{month}.csv").write_bytes((anac_dir / name).read_bytes())

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
