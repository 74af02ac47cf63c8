"""ANAC VRA reader: a real month as the portal publishes it, that month rewritten into every older
form the portal has used, and small fixture files with a bad row of every kind."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flightontime_core.airports import resolve_airport
from flightontime_core.training.sources.anac import (
    BAD_DATE,
    IMPLAUSIBLE_DELAY,
    MISSING_ACTUAL,
    MISSING_AERODROME,
    NOT_DOMESTIC_LINE,
    NOT_REGULAR,
    STATUS_NOT_INFORMED,
    UNKNOWN_AERODROME,
    AnacFormatError,
    decode_bytes,
    read_anac,
)
from flightontime_core.training.sources.table import CANONICAL_COLUMNS, LoadResult

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
        NOT_REGULAR: 1,  # DI 2
        NOT_DOMESTIC_LINE: 1,  # I (international)
        STATUS_NOT_INFORMED: 1,
        MISSING_AERODROME: 1,  # empty origin
        MISSING_ACTUAL: 1,  # REALIZADO without Partida Real
        BAD_DATE: 1,  # 32/01/2023
        IMPLAUSIBLE_DELAY: 1,  # five days late: a typing error
        UNKNOWN_AERODROME: 1,  # SBXX
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
    assert dict(result.bad_rows) == {BAD_DATE: 1}  # Partida Real "xx"
    df = result.flights
    np.testing.assert_array_equal(df["dep_delay_min"], [25.0, 0.0, 30.0, np.nan])
    assert df["scheduled_departure"].iloc[2] == pd.Timestamp("2023-02-06 23:50")
    assert list(df["airline"]) == ["ONE", "AZU", "GLO", "GLO"]


def test_latin1_file_with_older_header(anac_dir: Path) -> None:
    result = read_anac([anac_dir / LATIN1])
    assert result.rows_read == 6
    assert dict(result.bad_rows) == {STATUS_NOT_INFORMED: 1, NOT_DOMESTIC_LINE: 1}
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


# ---------------------------------------------------------------------------------------------
# The real month (data/anac/VRA_2021-04.csv.gz, see its README.md)

REAL_SHA256 = "a401eecb54abbbe6a5deef395144bfeefd13b864b860c944ed54cf61aa89bad4"
REAL_SIZE = 4_185_206
REAL_ROWS = 30_224
# Aerodromes the month names by codes airportsdata knows only by older ones (SWSI, SSDO, SWRD,
# SWUY); until airports.py learns them, their flights are dropped as unknown aerodromes.
RENAMED_AERODROMES = ("SBSI", "SBDO", "SBRD", "SBUY")
FLIGHTS_AT_RENAMED = 233  # rows of the month with one of them as origin or destination
# ... of which pass every other check (115 realised, 2 cancelled).
USABLE_AT_RENAMED = 117
USABLE_CANCELLED_AT_RENAMED = 2
# Every reason but UNKNOWN_AERODROME is independent of the airport tables: the reader checks
# unknown aerodromes after every data check.
REAL_DROPS_BUT_UNKNOWN = {NOT_REGULAR: 2198, NOT_DOMESTIC_LINE: 4616, IMPLAUSIBLE_DELAY: 2}
REAL_KEPT_WITH_RENAMED = 23_408  # kept once every aerodrome of the month resolves
REAL_CANCELLED_WITH_RENAMED = 544


@pytest.fixture(scope="module")
def real_text(vra_real_month: Path) -> str:
    """The real month's text (UTF-8, its BOM removed)."""
    return gzip.decompress(vra_real_month.read_bytes()).decode("utf-8-sig")


@pytest.fixture(scope="module")
def real_result(vra_real_month: Path) -> LoadResult:
    """The real month read once from its committed .gz."""
    return read_anac([vra_real_month])


def test_the_committed_month_decompresses_to_the_portal_bytes(vra_real_month: Path) -> None:
    raw = gzip.decompress(vra_real_month.read_bytes())
    assert len(raw) == REAL_SIZE
    assert hashlib.sha256(raw).hexdigest() == REAL_SHA256


def test_the_real_month_counts_every_row(real_result: LoadResult) -> None:
    result = real_result
    assert result.rows_read == REAL_ROWS
    assert result.rows_read == len(result.flights) + sum(result.bad_rows.values())
    drops = dict(result.bad_rows)
    unknown = drops.pop(UNKNOWN_AERODROME, 0)
    assert drops == REAL_DROPS_BUT_UNKNOWN
    resolved = [resolve_airport(code) is not None for code in RENAMED_AERODROMES]
    assert len(set(resolved)) == 1, "some renamed aerodromes resolve, others not: update this test"
    renamed_unknown = USABLE_AT_RENAMED if not resolved[0] else 0
    # Every unknown aerodrome of the month is one of the four renamed ones.
    assert unknown == renamed_unknown
    assert len(result.flights) == REAL_KEPT_WITH_RENAMED - renamed_unknown
    cancelled = REAL_CANCELLED_WITH_RENAMED - (
        USABLE_CANCELLED_AT_RENAMED if renamed_unknown else 0
    )
    assert int(result.flights["cancelled"].sum()) == cancelled
    df = result.flights
    assert tuple(df.columns) == CANONICAL_COLUMNS
    assert df["scheduled_departure"].between("2021-03-31", "2021-05-02").all()
    assert df["origin"].str.fullmatch(r"S[A-Z]{3}").all()
    assert (df["origin"] != df["destination"]).all()
    assert df.loc[~df["cancelled"], "dep_delay_min"].notna().all()


def test_the_renamed_aerodromes_in_the_real_month(month: Month) -> None:
    rows = [dict(zip(month.header, row, strict=True)) for row in month.rows]
    ends = ("ICAO Aeródromo Origem", "ICAO Aeródromo Destino")
    at_renamed = [r for r in rows if {r[e] for e in ends} & set(RENAMED_AERODROMES)]
    assert len(at_renamed) == FLIGHTS_AT_RENAMED
    regular = [
        r
        for r in at_renamed
        if r["Código Autorização (DI)"] == "0" and r["Código Tipo Linha"] in "NRH"
    ]
    assert len(regular) == USABLE_AT_RENAMED
    assert sum(r["Situação Voo"] == "CANCELADO" for r in regular) == USABLE_CANCELLED_AT_RENAMED


# ---------------------------------------------------------------------------------------------
# The real rows rewritten into the portal's older forms

# Today's header names -> older ones, as two generations of files spell them.
SIGLA_HEADER = {
    "ICAO Empresa Aérea": "Sigla ICAO Empresa Aérea",
    "Código Autorização (DI)": "Código DI",
    "ICAO Aeródromo Origem": "Sigla ICAO Aeroporto Origem",
    "ICAO Aeródromo Destino": "Sigla ICAO Aeroporto Destino",
}
PLAIN_HEADER = {
    "ICAO Empresa Aérea": "Empresa Aérea",
    "ICAO Aeródromo Origem": "Aeródromo Origem",
    "ICAO Aeródromo Destino": "Aeródromo Destino",
}
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):00$")


@dataclass(frozen=True)
class Form:
    """How a VRA file is written; the defaults are the real file's form."""

    encoding: str = "utf-8-sig"  # with a BOM
    quoted: bool = True
    header: tuple[tuple[str, str], ...] = ()  # renamed columns
    day_first: bool = False  # 16/04/2021 13:35 instead of 2021-04-16 13:35:00
    newline: str = "\n"
    missing: str = "null"
    preamble: bool = True


REAL = Form()
FORMS = {
    "latin1": Form(encoding="latin-1"),
    "unquoted": Form(quoted=False),
    "sigla_header": Form(header=tuple(SIGLA_HEADER.items())),
    "plain_header": Form(header=tuple(PLAIN_HEADER.items())),
    "day_first": Form(day_first=True),
    "crlf": Form(newline="\r\n"),
    "empty_missing": Form(missing=""),
    "no_bom": Form(encoding="utf-8"),
    "no_preamble": Form(preamble=False),
    "all_older": Form(
        encoding="latin-1",
        quoted=False,
        header=tuple(SIGLA_HEADER.items()),
        day_first=True,
        newline="\r\n",
        missing="",
        preamble=False,
    ),
}


@dataclass(frozen=True)
class Month:
    """The real month parsed once: its preamble line, header and rows of fields."""

    preamble: str
    header: list[str]
    rows: list[list[str]]


@pytest.fixture(scope="module")
def month(real_text: str) -> Month:
    """The real month's preamble, header and rows."""
    preamble, body = real_text.split("\n", 1)
    header, *rows = csv.reader(io.StringIO(body), delimiter=";")
    return Month(preamble, header, rows)


def _write(month: Month, form: Form, path: Path, every: int = 1, start: int = 0) -> Path:
    """The real month's rows (every n-th, from start) written in `form`."""
    renames = dict(form.header)
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=";",
        quoting=csv.QUOTE_ALL if form.quoted else csv.QUOTE_NONE,
        lineterminator=form.newline,
    )
    if form.preamble:
        out.write(month.preamble + form.newline)
    writer.writerow([renames.get(name, name) for name in month.header])
    dates = [i for i, name in enumerate(month.header) if name.startswith(("Partida", "Chegada"))]
    for row in month.rows[start::every]:
        if form.day_first:
            row = row.copy()
            for i in dates:
                row[i] = ISO_DATE.sub(r"\3/\2/\1 \4:\5", row[i])
        writer.writerow([form.missing if v == "null" else v for v in row])
    path.write_bytes(out.getvalue().encode(form.encoding))
    return path


SAMPLE_EVERY = 10  # about 3,000 rows from across the whole month


@pytest.fixture(scope="module")
def sample(month: Month, tmp_path_factory: pytest.TempPathFactory) -> LoadResult:
    """Every tenth real row, in the real file's own form."""
    path = _write(month, REAL, tmp_path_factory.mktemp("vra") / "real.csv", SAMPLE_EVERY)
    return read_anac([path])


def test_the_real_form_is_rewritten_byte_for_byte(month: Month, tmp_path: Path) -> None:
    path = _write(month, REAL, tmp_path / "real.csv")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == REAL_SHA256


def _assert_same(result: LoadResult, expected: LoadResult) -> None:
    assert result.rows_read == expected.rows_read
    assert result.bad_rows == expected.bad_rows
    pd.testing.assert_frame_equal(result.flights, expected.flights)


@pytest.mark.parametrize("name", list(FORMS))
def test_every_older_form_gives_the_same_rows(
    name: str, month: Month, sample: LoadResult, tmp_path: Path
) -> None:
    path = _write(month, FORMS[name], tmp_path / f"{name}.csv", SAMPLE_EVERY)
    real_form = _write(month, REAL, tmp_path / "real.csv", SAMPLE_EVERY)
    assert path.read_bytes() != real_form.read_bytes()
    assert sample.rows_read == 3023
    assert len(sample.flights) > 2000
    _assert_same(read_anac([path]), sample)


def test_the_whole_month_in_the_oldest_form(
    month: Month, real_result: LoadResult, tmp_path: Path
) -> None:
    path = _write(month, FORMS["all_older"], tmp_path / "VRA_20214.csv")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    _assert_same(read_anac([path]), real_result)


def test_gzip_is_recognised_by_its_bytes_not_its_name(
    month: Month, sample: LoadResult, tmp_path: Path
) -> None:
    plain = _write(month, FORMS["all_older"], tmp_path / "plain.csv", SAMPLE_EVERY)
    hidden = tmp_path / "month.csv"  # gzip without a .gz name
    hidden.write_bytes(gzip.compress(plain.read_bytes()))
    _assert_same(read_anac([hidden]), sample)


def test_several_files_give_the_concatenation(
    month: Month, sample: LoadResult, tmp_path: Path
) -> None:
    even = _write(month, REAL, tmp_path / "even.csv", 2 * SAMPLE_EVERY)
    odd = _write(month, FORMS["all_older"], tmp_path / "odd.csv", 2 * SAMPLE_EVERY, SAMPLE_EVERY)
    parts = [read_anac([even]), read_anac([odd])]
    both = read_anac([even, odd])
    assert both.rows_read == sample.rows_read == sum(p.rows_read for p in parts)
    assert both.bad_rows == sample.bad_rows == parts[0].bad_rows + parts[1].bad_rows
    expected = pd.concat([p.flights for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(both.flights, expected)


# ---------------------------------------------------------------------------------------------
# Files that are not VRA


def _damaged_gzip(path: Path, real: Path) -> None:
    path.write_bytes(real.read_bytes()[:5000])


def _empty(path: Path, real: Path) -> None:
    path.write_bytes(b"")


def _png(path: Path, real: Path) -> None:
    path.write_bytes((Path(__file__).parents[4] / "models/default/card_roc.png").read_bytes())


def _bts(path: Path, real: Path) -> None:
    path.write_bytes(next((Path(__file__).parents[3] / "fixtures/bts").glob("*.csv")).read_bytes())


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_bts, "not a VRA CSV"),
        (_png, "not a VRA CSV"),
        (_empty, "empty file"),
        (_damaged_gzip, "damaged gzip"),
    ],
)
def test_a_file_that_is_not_vra_is_refused_by_name(
    make: object, message: str, tmp_path: Path, vra_real_month: Path
) -> None:
    path = tmp_path / "not_vra.csv"
    assert callable(make)
    make(path, vra_real_month)
    with pytest.raises(AnacFormatError, match=rf"not_vra\.csv: .*{message}"):
        read_anac([path])
