"""ANAC VRA (Voo Regular Ativo): monthly CSV reader and downloader for Brazil's open flight data.

One month per file, `;`-separated, with the columns airline, flight number, DI code (Código
Autorização), line type, origin and destination aerodromes, scheduled and actual departure and
arrival, status (Situação Voo) and reason code. The portal has published this in several forms
over the years, and the reader takes every one of them, mixed freely across the files of a call:

- an optional preamble line before the header (`Atualizado em: 2025-12-02`);
- UTF-8 with or without a BOM, or Latin-1;
- every field in double quotes (the current files) or none (older ones), read by pandas' CSV
  parser, so a quoted field may hold anything;
- `"null"` or an empty field for a missing value;
- the header names of every generation, compared without accents, case or punctuation: "ICAO
  Empresa Aérea", "Empresa Aérea" or "Sigla ICAO Empresa Aérea"; "ICAO Aeródromo Origem",
  "Aeródromo Origem" or "Sigla ICAO Aeroporto Origem"; "Código Autorização (DI)" or "Código
  DI"; ...;
- ISO dates (`2021-04-16 13:35:00`) or day-first ones (`16/04/2021 13:35`), with or without
  seconds;
- LF or CRLF line endings;
- gzip-compressed files (recognised by their magic bytes, whatever their name).

A file with no VRA header in its first lines (another CSV, a binary or an empty file) raises
AnacFormatError naming the file. The reader keeps realised and cancelled regular flights (DI 0)
of the national, regional and sub-regional lines (N, R, H) between aerodromes that
flightontime_core.airports.resolve_airport knows. Every other row is counted under one reason
(the first that applies, in the order of DROP_REASONS) in LoadResult.bad_rows. ANAC documents
the times as Brasília time; the reader converts them to the origin's local time.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import tempfile
import time
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd

from flightontime_core.airports import resolve_airport
from flightontime_core.training.sources.canonical import (
    ProgressCallback,
    drop_counted,
    finalize,
    great_circle_m,
    resolve_codes,
    with_progress,
)
from flightontime_core.training.sources.table import (
    AIRLINE,
    CANCELLED,
    DEP_DELAY_MIN,
    DESTINATION,
    DISTANCE_M,
    ORIGIN,
    SCHEDULED_DEPARTURE,
    LoadResult,
)

SOURCE = "anac"
# The portal's VRA folder; callers with their own configuration pass base_url instead.
DEFAULT_BASE_URL = (
    "https://sistemas.anac.gov.br/dadosabertos/"
    "Voos%20e%20opera%C3%A7%C3%B5es%20a%C3%A9reas/Voo%20Regular%20Ativo%20%28VRA%29"
)
DEFAULT_TIMEOUT_S = 60.0  # per request, for the client download_anac creates
DEFAULT_RETRIES = 4  # retries after the first attempt, on 429, 5xx and transport errors
ANAC_TZ = "America/Sao_Paulo"  # VRA times are "horário de Brasília"

REGULAR_DI = "0"  # Código Autorização (DI) 0 = regular flight (IAC 1504)
LINE_TYPES = frozenset({"N", "R", "H"})  # national, regional, sub-regional
REALIZADO = "REALIZADO"
CANCELADO = "CANCELADO"
NAO_INFORMADO = "NAO INFORMADO"  # "NÃO INFORMADO" without its accent
MISSING = frozenset({"", "null"})  # compared case-insensitively, after stripping spaces
# Outside these bounds a "delay" is a data-entry error (wrong day typed), not a delay.
MIN_DELAY_MIN = -180.0
MAX_DELAY_MIN = 48 * 60.0
GZIP_MAGIC = b"\x1f\x8b"
HEADER_SEARCH_LINES = 20  # the header is on line 1 or 2; a few more lines tolerate other preambles

# Why a row was dropped (LoadResult.bad_rows keys), in the order the reader checks them: a row
# is counted under the first that applies.
NOT_REGULAR = "not_regular_flight"  # DI code other than 0: charter, extra, test, ... flight
MISSING_DI = "missing_di_code"
NOT_DOMESTIC_LINE = "not_domestic_line"  # line type other than N, R or H (I international, ...)
MISSING_LINE_TYPE = "missing_line_type"
STATUS_NOT_INFORMED = "status_not_informed"  # "NÃO INFORMADO" or empty
UNKNOWN_STATUS = "status_neither_realised_nor_cancelled"
MISSING_AIRLINE = "missing_airline"
MISSING_AERODROME = "missing_aerodrome"  # origin or destination empty
MISSING_SCHEDULED = "missing_scheduled_departure"
SAME_AERODROMES = "same_origin_and_destination"
MISSING_ACTUAL = "missing_actual_departure"  # a realised flight without Partida Real
BAD_DATE = "unreadable_date"
IMPLAUSIBLE_DELAY = "implausible_delay"  # outside MIN_DELAY_MIN..MAX_DELAY_MIN
UNKNOWN_AERODROME = "unknown_aerodrome"  # a code resolve_airport does not know
DST_GAP = "departure_in_skipped_dst_hour"  # a Brasília time that never existed
DROP_REASONS: tuple[str, ...] = (
    MISSING_DI,
    NOT_REGULAR,
    MISSING_LINE_TYPE,
    NOT_DOMESTIC_LINE,
    STATUS_NOT_INFORMED,
    UNKNOWN_STATUS,
    MISSING_AIRLINE,
    MISSING_AERODROME,
    MISSING_SCHEDULED,
    SAME_AERODROMES,
    MISSING_ACTUAL,
    BAD_DATE,
    IMPLAUSIBLE_DELAY,
    UNKNOWN_AERODROME,
    DST_GAP,
)

# Canonical field -> accepted header names, compared after _normalise_header.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "airline": (
        "icao empresa aerea",
        "empresa aerea",
        "sigla icao empresa aerea",
        "sigla empresa aerea",
        "empresa",
    ),
    "di": ("codigo autorizacao di", "codigo di", "codigo autorizacao", "di"),
    "line_type": ("codigo tipo linha", "tipo linha"),
    "origin": (
        "icao aerodromo origem",
        "aerodromo origem",
        "sigla icao aeroporto origem",
        "sigla icao aerodromo origem",
        "aeroporto origem",
    ),
    "destination": (
        "icao aerodromo destino",
        "aerodromo destino",
        "sigla icao aeroporto destino",
        "sigla icao aerodromo destino",
        "aeroporto destino",
    ),
    "scheduled": ("partida prevista",),
    "actual": ("partida real",),
    "status": ("situacao voo", "situacao do voo", "situacao"),
}

_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M")

MONTHS_PT = (
    "Janeiro",
    "Fevereiro",
    "Março",
    "Abril",
    "Maio",
    "Junho",
    "Julho",
    "Agosto",
    "Setembro",
    "Outubro",
    "Novembro",
    "Dezembro",
)


class AnacFormatError(ValueError):
    """A file that is not a VRA CSV (no recognisable header); the message names the file."""


class AnacDownloadError(RuntimeError):
    """A month that could not be downloaded after every retry; the message names the month."""


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _normalise_header(name: str) -> str:
    """'  Código Autorização (DI) ' -> 'codigo autorizacao di'."""
    plain = _strip_accents(name).lower()
    plain = "".join(c if c.isalnum() else " " for c in plain)
    return " ".join(plain.split())


def decode_bytes(raw: bytes) -> str:
    """Text of a VRA file: UTF-8 (BOM removed) when valid, else Latin-1 (never fails)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_file_bytes(path: Path) -> bytes:
    """A file's bytes, decompressed when they start with the gzip magic; AnacFormatError if bad."""
    raw = path.read_bytes()
    if raw.startswith(GZIP_MAGIC):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise AnacFormatError(f"{path}: a damaged gzip file ({exc})") from None
    return raw


def _find_columns(header: Sequence[str]) -> dict[str, str] | None:
    """Canonical field -> actual header name, or None when a required field is missing."""
    by_norm = {_normalise_header(h): h for h in header}
    found: dict[str, str] = {}
    for field, aliases in _COLUMNS.items():
        for alias in aliases:
            if alias in by_norm:
                found[field] = by_norm[alias]
                break
        else:
            return None
    return found


def _header_offset(text: str) -> int | None:
    """Character offset of the header line (the first that names every needed column)."""
    offset = 0
    for line in text.split("\n", HEADER_SEARCH_LINES)[:HEADER_SEARCH_LINES]:
        try:
            fields = next(csv.reader([line.rstrip("\r")], delimiter=";", quotechar='"'), [])
        except csv.Error:  # a binary file's "line"
            fields = []
        if _find_columns(fields) is not None:
            return offset
        offset += len(line) + 1
    return None


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """One VRA file's rows as strings, with its column mapping; AnacFormatError if not VRA."""
    raw = read_file_bytes(path)
    if not raw.strip():
        raise AnacFormatError(f"{path}: an empty file, not a VRA CSV")
    text = decode_bytes(raw)
    offset = _header_offset(text)
    if offset is None:
        raise AnacFormatError(
            f"{path}: not a VRA CSV (no VRA header in the first {HEADER_SEARCH_LINES} lines)"
        )
    try:
        frame = pd.read_csv(
            io.StringIO(text[offset:]),
            sep=";",
            quotechar='"',
            dtype=str,
            keep_default_na=False,
            index_col=False,
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise AnacFormatError(f"{path}: not a readable VRA CSV ({exc})") from None
    columns = _find_columns([str(c) for c in frame.columns])
    if columns is None:  # the line split apart differently from what the CSV parser saw
        raise AnacFormatError(f"{path}: not a readable VRA CSV (header {list(frame.columns)})")
    return frame, columns


def parse_anac_datetime(values: pd.Series) -> pd.Series:
    """VRA date-times, ISO or day-first, with or without seconds; NaT when unparseable."""
    text = values.str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    for fmt in _DATE_FORMATS:
        todo = out.isna() & (text != "")
        if not todo.any():
            break
        out.loc[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    return out


def _brasilia_to_local(values: pd.Series, zones: pd.Series) -> pd.Series:
    """Naive Brasília times -> naive local times at each row's zone (NaT in the DST gap)."""
    aware = values.dt.tz_localize(
        ANAC_TZ,
        # The repeated hour when DST ended is read as standard time; the skipped hour as NaT.
        ambiguous=np.zeros(len(values), dtype=bool),
        nonexistent="NaT",
    )
    out = pd.Series(aware.dt.tz_localize(None), index=values.index)
    for zone in zones.dropna().unique():
        if zone != ANAC_TZ:
            rows = zones == zone
            out.loc[rows] = aware[rows].dt.tz_convert(str(zone)).dt.tz_localize(None)
    return out


def _zones(icao: pd.Series) -> pd.Series:
    table = {code: a.tz for code in icao.dropna().unique() if (a := resolve_airport(code))}
    return icao.map(table)


def _empty_flights() -> pd.DataFrame:
    return pd.DataFrame(
        {
            AIRLINE: pd.Series(dtype="str"),
            ORIGIN: pd.Series(dtype="str"),
            DESTINATION: pd.Series(dtype="str"),
            SCHEDULED_DEPARTURE: pd.Series(dtype="datetime64[ns]"),
            DISTANCE_M: pd.Series(dtype="float64"),
            DEP_DELAY_MIN: pd.Series(dtype="float64"),
            CANCELLED: pd.Series(dtype="bool"),
        }
    )


def read_anac(paths: Sequence[Path], *, progress: ProgressCallback | None = None) -> LoadResult:
    """Canonical table from VRA monthly CSVs (any form, gzipped or not), in the files' order.

    Realised and cancelled regular N/R/H flights are kept; every other row is counted by reason.
    `progress(done, total)`, when given, is called with 0 files read, then after each file.
    """
    frames: list[pd.DataFrame] = []
    counts: Counter[str] = Counter()
    rows_read = 0
    for path in with_progress(list(paths), progress):
        frame, columns = _read_frame(Path(path))
        rows_read += len(frame)
        frames.append(_canonical_rows(frame, columns, counts))
    flights = pd.concat(frames, ignore_index=True) if frames else _empty_flights()
    return LoadResult(
        flights=finalize(flights, with_weather=False),
        source=SOURCE,
        has_weather=False,
        bad_rows=counts,
        rows_read=rows_read,
    )


def _cleaned(column: pd.Series) -> pd.Series:
    """Stripped text, with every missing-value form ("null", empty, a short row) as ""."""
    text = column.fillna("").astype("str").str.strip()
    return text.mask(text.str.lower().isin(MISSING), "")


def _canonical_rows(
    frame: pd.DataFrame, columns: dict[str, str], counts: Counter[str]
) -> pd.DataFrame:
    """Filter one file's rows (counting every drop by reason) and map them to canonical columns."""
    df = pd.DataFrame({field: _cleaned(frame[name]) for field, name in columns.items()})
    df = df.reset_index(drop=True)

    df = drop_counted(df, df["di"] == "", MISSING_DI, counts)
    # DI is a one-character code; some exports pad it or write it as a number ("0.0").
    di = df["di"].str.replace(r"\.0+$", "", regex=True).str.lstrip("0")
    df = drop_counted(df, di != "", NOT_REGULAR, counts)
    df = drop_counted(df, df["line_type"] == "", MISSING_LINE_TYPE, counts)
    df = drop_counted(df, ~df["line_type"].str.upper().isin(LINE_TYPES), NOT_DOMESTIC_LINE, counts)

    plain = {s: _strip_accents(s).upper() for s in df["status"].unique()}
    status = df["status"].map(plain)
    not_informed = (status == "") | (status == NAO_INFORMADO)
    df = drop_counted(df, not_informed, STATUS_NOT_INFORMED, counts)
    status = status.loc[df.index]
    df = drop_counted(df, ~status.isin([REALIZADO, CANCELADO]), UNKNOWN_STATUS, counts)
    cancelled = status.loc[df.index] == CANCELADO

    df = drop_counted(df, df["airline"] == "", MISSING_AIRLINE, counts)
    df = drop_counted(
        df, (df["origin"] == "") | (df["destination"] == ""), MISSING_AERODROME, counts
    )
    df = drop_counted(df, df["scheduled"] == "", MISSING_SCHEDULED, counts)

    origin = resolve_codes(df["origin"])
    dest = resolve_codes(df["destination"])
    # Compared after resolution too, so "GRU" and "SBGR" are the same aerodrome.
    same = (df["origin"].str.upper() == df["destination"].str.upper()) | (
        origin["icao"].notna() & (origin["icao"] == dest["icao"])
    )
    df = drop_counted(df, same, SAME_AERODROMES, counts)
    cancelled = cancelled.loc[df.index]
    df = drop_counted(df, ~cancelled & (df["actual"] == ""), MISSING_ACTUAL, counts)
    cancelled = cancelled.loc[df.index]

    scheduled = parse_anac_datetime(df["scheduled"])
    actual = parse_anac_datetime(df["actual"].where(~cancelled, ""))
    df = drop_counted(df, scheduled.isna() | (~cancelled & actual.isna()), BAD_DATE, counts)
    keep = df.index
    cancelled, scheduled, actual = cancelled.loc[keep], scheduled.loc[keep], actual.loc[keep]

    # Both times are Brasília time, so their difference is the delay whatever the origin's zone.
    delay = (actual - scheduled).dt.total_seconds() / 60.0
    implausible = ~cancelled & ((delay < MIN_DELAY_MIN) | (delay > MAX_DELAY_MIN))
    df = drop_counted(df, implausible, IMPLAUSIBLE_DELAY, counts)
    # Unknown aerodromes are checked after every data check, so the other counts do not depend
    # on how many codes resolve_airport knows.
    origin, dest = origin.loc[df.index], dest.loc[df.index]
    unknown = origin["icao"].isna() | dest["icao"].isna()
    df = drop_counted(df, unknown, UNKNOWN_AERODROME, counts)
    keep = df.index
    origin, dest, cancelled = origin.loc[keep], dest.loc[keep], cancelled.loc[keep]
    scheduled, delay = scheduled.loc[keep], delay.loc[keep]

    local = _brasilia_to_local(scheduled, _zones(origin["icao"]))
    out = pd.DataFrame(
        {
            AIRLINE: df["airline"].str.upper(),
            ORIGIN: origin["icao"],
            DESTINATION: dest["icao"],
            SCHEDULED_DEPARTURE: local,
            DISTANCE_M: great_circle_m(origin, dest),
            DEP_DELAY_MIN: delay.where(~cancelled),
            CANCELLED: cancelled,
        },
        index=keep,
    )
    return drop_counted(out, local.isna(), DST_GAP, counts)


# ---------------------------------------------------------------------------------------------
# Downloader


def anac_month_urls(year: int, month: int, base_url: str = DEFAULT_BASE_URL) -> tuple[str, ...]:
    """Candidate URLs of one VRA month, most likely first (see anac_month_url)."""
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, got {month}")
    base = base_url.rstrip("/")
    name = f"VRA_{year}{month}.csv"
    folder = quote(f"{month:02d} - {MONTHS_PT[month - 1]}")
    return (f"{base}/{year}/{folder}/{name}", f"{base}/{year}/{name}")


def anac_month_url(year: int, month: int, base_url: str = DEFAULT_BASE_URL) -> str:
    """URL of one VRA month on the ANAC open-data portal.

    Assumed layout (directory listings of sistemas.anac.gov.br/dadosabertos, 2024-2026):
    `<base>/<YYYY>/<MM> - <Mês>/VRA_<YYYY><M>.csv`, e.g. `2023/03 - Março/VRA_20233.csv`, the
    month folder zero-padded and named in Portuguese, the file's month not padded. Earlier
    listings had the files directly in the year folder; the downloader tries that URL second.
    """
    return anac_month_urls(year, month, base_url)[0]


def month_range(start: tuple[int, int], end: tuple[int, int]) -> list[tuple[int, int]]:
    """Every (year, month) from start to end inclusive; ValueError when end is before start."""
    (y0, m0), (y1, m1) = start, end
    for m in (m0, m1):
        if not 1 <= m <= 12:
            raise ValueError(f"month must be 1..12, got {m}")
    first, last = y0 * 12 + m0 - 1, y1 * 12 + m1 - 1
    if last < first:
        raise ValueError(f"end {y1}-{m1:02d} is before start {y0}-{m0:02d}")
    return [(i // 12, i % 12 + 1) for i in range(first, last + 1)]


def cached_month_path(cache_dir: Path, year: int, month: int) -> Path:
    """Where a downloaded month lives in the cache."""
    return cache_dir / f"VRA_{year}-{month:02d}.csv"


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _fetch_to(
    client: httpx.Client,
    url: str,
    target: Path,
    retries: int,
    backoff_s: float,
    sleep: Callable[[float], None],
) -> bool:
    """Download url into target atomically; False on 404 (or an HTML page), raise on failure."""
    last_error = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, client.stream("GET", url) as response:
                if response.status_code == 404:
                    return False
                if _retryable(response.status_code):
                    last_error = f"HTTP {response.status_code}"
                    continue
                if response.is_error:  # other 4xx: retrying will not help
                    raise AnacDownloadError(f"{url}: HTTP {response.status_code}")
                head = b""
                for chunk in response.iter_bytes():
                    if not head:
                        head = chunk[:64]
                    out.write(chunk)
            # The portal answers some missing files with an HTML page and status 200.
            if head.lstrip(b"\xef\xbb\xbf \r\n\t").startswith(b"<"):
                return False
            os.replace(tmp, target)  # atomic: the cache never holds a partial month
            return True
        except (httpx.TransportError, httpx.DecodingError) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        finally:
            tmp.unlink(missing_ok=True)
    raise AnacDownloadError(f"{url}: failed after {retries + 1} attempts ({last_error})")


def download_anac(
    start: tuple[int, int],
    end: tuple[int, int],
    cache_dir: Path,
    *,
    client: httpx.Client | None = None,
    base_url: str = DEFAULT_BASE_URL,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    progress: ProgressCallback | None = None,
) -> list[Path]:
    """Download the VRA months start..end (inclusive) into cache_dir; cached months are reused.

    A month whose file is in the cache is never fetched again; a failed download leaves no file
    behind. `timeout_s` applies to the client created here (a given `client` keeps its own);
    `retries` counts the attempts after the first; `progress(done, total)`, when given, is called
    with 0 months done, then after each month, cached or downloaded.
    """
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    months = month_range(start, end)
    own_client = client is None
    http = client or httpx.Client(timeout=timeout_s, follow_redirects=True)
    paths: list[Path] = []
    try:
        for year, month in with_progress(months, progress):
            target = cached_month_path(cache, year, month)
            if not (target.is_file() and target.stat().st_size > 0):
                urls = anac_month_urls(year, month, base_url)
                if not any(_fetch_to(http, url, target, retries, backoff_s, sleep) for url in urls):
                    raise AnacDownloadError(
                        f"{year}-{month:02d}: not on the portal (tried {', '.join(urls)})"
                    )
            paths.append(target)
    finally:
        if own_client:
            http.close()
    return paths
