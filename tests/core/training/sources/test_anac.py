"""ANAC VRA reader on fixture files in the portal's exact formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flightontime_core.training.sources.anac import AnacFormatError, decode_bytes, read_anac
from flightontime_core.training.sources.table import CANONICAL_COLUMNS

UTF8_BOM = "VRA_2023-01.csv"  # current header, CRLF, with a bad row of every kind
UTF8 = "VRA_2023-02.csv"  # spaces around header names, times with seconds
LATIN1 = "VRA_2018-12.csv"  # older "ICAO ..." header, Brazilian summer time in force


def test_fixture_encodings_are_what_they_claim(anac_dir: Path) -> None:
    assert (anac_dir / UTF8_BOM).read_bytes().startswith(b"\xef\xbb\xbfAtualizado em")
    assert (anac_dir / UTF8).read_bytes().startswith(b"Atualizado em")
    raw = (anac_dir / LATIN1).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "Situação Voo" in decode_bytes(raw)


def test_every_dropped_row_is_counted_by_reason(anac_dir: Path) -> None:
    result = read_anac([anac_dir / UTF8_BOM])
    assert result.rows_read == 12
    assert dict(result.bad_rows) == {
        "missing_field": 2,  # empty origin; REALIZADO without Partida Real
        "not_realizado_or_cancelado": 1,
        "non_regular_di": 1,
        "line_type": 1,  # I (international)
        "unknown_airport": 1,
        "bad_date": 1,  # 32/01/2023
        "implausible_delay": 1,  # five days late: a typing error
    }
    assert len(result.flights) == 4
    assert result.rows_read == len(result.flights) + sum(result.bad_rows.values())


def test_rows_of_the_utf8_bom_file(anac_dir: Path) -> None:
    df = read_anac([anac_dir / UTF8_BOM]).flights
    assert list(df["airline"]) == ["AZU", "GLO", "TAM", "AZU"]
    assert list(df["origin"]) == ["SBKP", "SBGR", "SBBR", "SBEG"]
    assert list(df["destination"]) == ["SBRP", "SBRJ", "SBEG", "SBBV"]
    assert list(df["cancelled"]) == [False, False, True, False]
    np.testing.assert_array_equal(df["dep_delay_min"], [22.0, -5.0, np.nan, 30.0])
    # Viracopos -> Ribeirão Preto, the contract's example: about 218 km.
    assert df["distance_m"].iloc[0] == pytest.approx(218_316, rel=1e-3)


def test_times_are_converted_from_brasilia_to_the_origin_local_time(anac_dir: Path) -> None:
    jan = read_anac([anac_dir / UTF8_BOM]).flights
    # Manaus is one hour behind Brasília (no summer time in 2023).
    assert jan["scheduled_departure"].iloc[3] == pd.Timestamp("2023-01-12 08:00")
    assert jan["scheduled_departure"].iloc[0] == pd.Timestamp("2023-01-10 14:30")
    dec = read_anac([anac_dir / LATIN1]).flights
    # December 2018: Brasília on summer time (UTC-2); Manaus (UTC-4) and Salvador (UTC-3) not.
    assert list(dec["scheduled_departure"]) == [
        pd.Timestamp("2018-12-10 10:00"),
        pd.Timestamp("2018-12-10 11:00"),
        pd.Timestamp("2018-12-10 12:00"),
        pd.Timestamp("2018-12-11 06:00"),
    ]
    np.testing.assert_array_equal(dec["dep_delay_min"], [10.0, 45.0, -2.0, np.nan])


def test_seconds_spaces_and_midnight_crossing(anac_dir: Path) -> None:
    result = read_anac([anac_dir / UTF8])
    assert result.rows_read == 5
    assert dict(result.bad_rows) == {"bad_date": 1}  # Partida Real "xx"
    df = result.flights
    np.testing.assert_array_equal(df["dep_delay_min"], [25.0, 0.0, 30.0, np.nan])
    assert df["scheduled_departure"].iloc[2] == pd.Timestamp("2023-02-06 23:50")
    assert list(df["airline"]) == ["ONE", "AZU", "GLO", "GLO"]


def test_latin1_file_with_older_header(anac_dir: Path) -> None:
    result = read_anac([anac_dir / LATIN1])
    assert result.rows_read == 6
    assert dict(result.bad_rows) == {"not_realizado_or_cancelado": 1, "line_type": 1}
    assert list(result.flights["origin"]) == ["SBEG", "SBSV", "SBKP", "SBRP"]
    assert int(result.flights["cancelled"].sum()) == 1


def test_several_files_make_one_canonical_table(anac_dir: Path) -> None:
    paths = sorted(anac_dir.glob("*.csv"))
    result = read_anac(paths)
    df = result.flights
    assert result.source == "anac"
    assert not result.has_weather
    assert result.rows_read == 23
    assert len(df) == 12
    assert sum(result.bad_rows.values()) == 11
    assert tuple(df.columns) == CANONICAL_COLUMNS
    assert df["scheduled_departure"].dtype == np.dtype("datetime64[ns]")
    assert df["distance_m"].dtype == np.float64
    assert df["dep_delay_min"].dtype == np.float64
    assert df["cancelled"].dtype == np.bool_
    assert pd.api.types.is_string_dtype(df["origin"])
    assert df["origin"].str.fullmatch(r"SB[A-Z]{2}").all()
    assert df.index.equals(pd.RangeIndex(len(df)))
    assert df.loc[df["cancelled"], "dep_delay_min"].isna().all()


def test_iata_codes_in_the_aerodrome_columns_become_icao(tmp_path: Path, anac_dir: Path) -> None:
    text = (anac_dir / UTF8).read_text("utf-8").replace(";SBGR;SBFL;", ";gru;FLN;")
    path = tmp_path / "iata.csv"
    path.write_text(text, "utf-8")
    df = read_anac([path]).flights
    assert (df["origin"].iloc[0], df["destination"].iloc[0]) == ("SBGR", "SBFL")


def test_a_file_without_a_vra_header_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "not_vra.csv"
    path.write_text("Atualizado em 2023\na;b;c\n1;2;3\n", "utf-8")
    with pytest.raises(AnacFormatError, match=r"not_vra\.csv"):
        read_anac([path])


def test_no_files_gives_an_empty_canonical_table() -> None:
    result = read_anac([])
    assert len(result.flights) == 0
    assert tuple(result.flights.columns) == CANONICAL_COLUMNS


def test_progress_reports_each_file(anac_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    paths = sorted(anac_dir.glob("*.csv"))
    read_anac(paths, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
