"""`flightontime data anac` through a Typer app of its own (offline, local HTTP server)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from flightontime.commands import data as data_commands
from flightontime.commands.data import parse_month


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    data_commands.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps "data" a sub-command, as in the real CLI
        pass

    return app


@pytest.mark.parametrize(
    ("text", "month"), [("2023-01", (2023, 1)), ("2023-12", (2023, 12)), (" 2019-7 ", (2019, 7))]
)
def test_parse_month(text: str, month: tuple[int, int]) -> None:
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2023-13", "2023-00", "2023/01", "23-01", "jan 2023", ""])
def test_parse_month_rejects(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="YYYY-MM"):
        parse_month(text)


def test_bad_month_is_a_clear_usage_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["data", "anac", "--from", "2023-13", "--to", "2023-02", "--cache", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output
    reversed_range = CliRunner().invoke(
        app, ["data", "anac", "--from", "2023-03", "--to", "2023-02", "--cache", str(tmp_path)]
    )
    assert reversed_range.exit_code == 2
    assert "before" in reversed_range.output


def test_downloads_prints_paths_and_summary_then_uses_the_cache(
    app: typer.Typer,
    tmp_path: Path,
    portal_server: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flightontime.config import get_settings

    monkeypatch.setenv("FLIGHTONTIME_ANAC_BASE_URL", portal_server)
    monkeypatch.setenv("FLIGHTONTIME_HTTP_RETRIES", "0")
    get_settings.cache_clear()
    try:
        cache = tmp_path / "cache"
        args = ["data", "anac", "--from", "2023-01", "--to", "2023-02", "--cache", str(cache)]
        first = CliRunner().invoke(app, [*args, "--read"])
        assert first.exit_code == 0, first.output
        assert str(cache / "VRA_2023-01.csv") in first.stdout
        assert str(cache / "VRA_2023-02.csv") in first.stdout
        assert "2 downloaded, 0 from cache" in first.stderr
        assert "rows read 17, kept 8" in first.stderr
        assert "dropped 2 row(s): bad_date" in first.stderr

        second = CliRunner().invoke(app, args)
        assert second.exit_code == 0, second.output
        assert "0 downloaded, 2 from cache" in second.stderr

        missing = CliRunner().invoke(
            app, ["data", "anac", "--from", "2023-03", "--to", "2023-03", "--cache", str(cache)]
        )
        assert missing.exit_code == 1
        assert "2023-03: not on the portal" in missing.stderr
    finally:
        get_settings.cache_clear()
