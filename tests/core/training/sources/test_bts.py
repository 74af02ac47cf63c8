"""BTS On-Time Reporting reader on fixture files in BTS's formats (CSV, Kaggle CSV, zip)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flightontime_core.training.sources.bts import BtsFormatError, parse_hhmm, read_bts
from flightontime_core.training.sources.table import CANONICAL_COLUMNS

TRANSTATS = "T_ONTIME_REPORTING_2023_01.csv"  # FL_DATE "1/15/2023 12:00:00 AM", OP_CARRIER
KAGGLE = "airline_2018_sample.csv"  # FL_DATE "2018-01-01", CRS_DEP_TIME as an integer
PREZIP = "On_Time_Reporting_Carrier_On_Time_Performance_1987_present_2023_2.zip"


def test_transtats_csv_counts_every_dropped_row(bts_dir: Path) -> None:
    result = read_bts([bts_dir / TRANSTATS])
    assert result.source == "bts"
    assert result.rows_read == 9
    assert dict(result.bad_rows) == {
        "missing_field": 1,  # empty FL_DATE
        "bad_date": 1,  # 13/45/2023
        "bad_time": 1,  # CRS_DEP_TIME 2460
        "unknown_airport": 1,  # XXX
        "missing_delay": 1,  # not cancelled, no DEP_DELAY
    }
    df = result.flights
    assert list(df["airline"]) == ["AA", "DL", "WN", "9E"]
    assert list(df["origin"]) == ["KJFK", "KATL", "KMDW", "KLGA"]
    assert list(df["destination"]) == ["KLAX", "KMCO", "KDEN", "KBOS"]
    assert list(df["cancelled"]) == [False, False, True, False]
    np.testing.assert_array_equal(df["dep_delay_min"], [-3.0, 10.0, np.nan, 5.0])


def test_times_2400_is_midnight_of_the_next_day(bts_dir: Path) -> None:
    df = read_bts([bts_dir / TRANSTATS]).flights
    assert list(df["scheduled_departure"]) == [
        pd.Timestamp("2023-01-15 06:00"),
        pd.Timestamp("2023-01-16 00:00"),  # 1/15 at 2400
        pd.Timestamp("2023-01-16 12:30"),
        pd.Timestamp("2023-01-18 08:45"),
    ]


def test_distance_from_miles_or_great_circle_when_missing(bts_dir: Path) -> None:
    df = read_bts([bts_dir / TRANSTATS]).flights
    assert df["distance_m"].iloc[0] == pytest.approx(2475 * 1609.344)
    # LGA-BOS has no DISTANCE in the file: haversine, BTS says 184 miles.
    assert df["distance_m"].iloc[3] == pytest.approx(184 * 1609.344, rel=0.02)


def test_zipped_monthly_download_with_prezip_columns(bts_dir: Path) -> None:
    with zipfile.ZipFile(bts_dir / PREZIP) as archive:
        assert len(archive.namelist()) == 2  # the CSV and BTS's readme.html
    result = read_bts([bts_dir / PREZIP])
    assert result.rows_read == 4
    assert dict(result.bad_rows) == {"missing_field": 1}  # empty Cancelled
    df = result.flights
    assert list(df["airline"]) == ["AA", "OO", "YX"]
    assert list(df["scheduled_departure"]) == [
        pd.Timestamp("2023-02-01 07:15"),
        pd.Timestamp("2023-02-01 19:55"),
        pd.Timestamp("2023-02-02 06:00"),  # "600" without the leading zero
    ]
    assert list(df["cancelled"]) == [False, True, False]


def test_kaggle_style_csv(bts_dir: Path) -> None:
    result = read_bts([bts_dir / KAGGLE])
    assert result.rows_read == 3
    assert not result.bad_rows
    df = result.flights
    assert list(df["origin"]) == ["KEWR", "KLAS", "KFLL"]
    assert df["scheduled_departure"].iloc[2] == pd.Timestamp("2018-01-02 00:05")
    assert list(df["cancelled"]) == [False, False, True]


def test_several_files_make_one_canonical_table(bts_dir: Path) -> None:
    result = read_bts([bts_dir / TRANSTATS, bts_dir / KAGGLE, bts_dir / PREZIP])
    df = result.flights
    assert result.rows_read == 16
    assert len(df) == 10
    assert result.rows_read == len(df) + sum(result.bad_rows.values())
    assert tuple(df.columns) == CANONICAL_COLUMNS
    assert df["scheduled_departure"].dtype == np.dtype("datetime64[ns]")
    assert df["cancelled"].dtype == np.bool_
    assert df["dep_delay_min"].dtype == np.float64
    assert pd.api.types.is_string_dtype(df["airline"])
    assert df.loc[df["cancelled"], "dep_delay_min"].isna().all()


def test_reporting_airline_column_alone(tmp_path: Path) -> None:
    path = tmp_path / "ra.csv"
    path.write_text(
        "FlightDate,Reporting_Airline,Origin,Dest,CRSDepTime,DepDelay,Cancelled\n"
        "2023-03-01,WN,DAL,HOU,0630,12.00,0.00\n"
    )
    df = read_bts([path]).flights
    assert df["airline"].iloc[0] == "WN"
    # No DISTANCE column: great circle Dallas Love - Houston Hobby, about 239 miles.
    assert df["distance_m"].iloc[0] == pytest.approx(239 * 1609.344, rel=0.03)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("FL_DATE,ORIGIN,DEST\n2023-01-01,JFK,LAX\n")
    with pytest.raises(BtsFormatError, match="carrier"):
        read_bts([path])


def test_zip_with_two_csvs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "x\n")
        archive.writestr("b.csv", "x\n")
    with pytest.raises(BtsFormatError, match=r"one \.csv"):
        read_bts([path])


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("0600", 360), ("600", 360), ("5", 5), ("2359", 1439), ("2400", 1440), ("1230.0", 750)],
)
def test_parse_hhmm(text: str, minutes: int) -> None:
    assert parse_hhmm(pd.Series([text])).iloc[0] == minutes


@pytest.mark.parametrize("text", ["2460", "2401", "2500", "-5", "12:30", "", "abc", "12.5"])
def test_parse_hhmm_rejects(text: str) -> None:
    assert np.isnan(parse_hhmm(pd.Series([text])).iloc[0])


def test_progress_reports_each_file(bts_dir: Path) -> None:
    calls: list[tuple[int, int]] = []
    read_bts(
        [bts_dir / TRANSTATS, bts_dir / KAGGLE],
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(0, 2), (1, 2), (2, 2)]
