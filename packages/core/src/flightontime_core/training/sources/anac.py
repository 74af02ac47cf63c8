"""ANAC VRA (Voo Regular Ativo): monthly CSV reader and downloader for Brazil's open flight data.

File format (one month per file): an "Atualizado em ..." line, then a `;`-separated header
`Empresa Aérea;Número Voo;Código Autorização (DI);Código Tipo Linha;Aeródromo Origem;
Aeródromo Destino;Partida Prevista;Partida Real;Chegada Prevista;Chegada Real;Situação Voo;
Código Justificativa`, day-first dates, UTF-8 (with or without BOM) or Latin-1. Older files name
the same columns "ICAO Empresa Aérea", "ICAO Aeródromo Origem", "Código DI", ... ANAC documents
the times as Brasília time; the reader converts them to the origin's local time.
"""

from __future__ import annotations

import io
import os
import tempfile
import time
import unicodedata
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
# Outside these bounds a "delay" is a data-entry error (wrong day typed), not a delay.
MIN_DELAY_MIN = -180.0
MAX_DELAY_MIN = 48 * 60.0

# Canonical field -> accepted header names, compared after _normalise_header.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "airline": (
        "empresa aerea",
        "icao empresa aerea",
        "sigla icao empresa aerea",
        "sigla empresa aerea",
        "empresa",
    ),
    "di": ("codigo autorizacao di", "codigo di", "codigo autorizacao", "di"),
    "line_type": ("codigo tipo linha", "tipo linha"),
    "origin": (
        "aerodromo origem",
        "icao aerodromo origem",
        "sigla icao aeroporto origem",
        "aeroporto origem",
    ),
    "destination": (
        "aerodromo destino",
        "icao aerodromo destino",
        "sigla icao aeroporto destino",
        "aeroporto destino",
    ),
    "scheduled": ("partida prevista",),
    "actual": ("partida real",),
    "status": ("situacao voo", "situacao do voo", "situacao"),
}

_DATE_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")

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


def _find_columns(header: list[str]) -> dict[str, str] | None:
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


def _read_frame(path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """One VRA file as strings, with its column mapping; skips the 'Atualizado em' preamble."""
    text = decode_bytes(path.read_bytes())
    lines = text.splitlines()
    # The header is the first line that names every needed column (the preamble may vary).
    found = [
        (index, columns)
        for index, line in enumerate(lines[:20])
        if (columns := _find_columns(line.split(";"))) is not None
    ]
    if not found:
        raise AnacFormatError(f"{path}: no VRA header in the first 20 lines")
    index, columns = found[0]
    frame = pd.read_csv(
        io.StringIO("\n".join(lines[index:])),
        sep=";",
        dtype=str,
        keep_default_na=False,
        index_col=False,
        skip_blank_lines=True,
    )
    frame.columns = [str(c) for c in frame.columns]
    return frame, columns


def parse_anac_datetime(values: pd.Series) -> pd.Series:
    """Day-first VRA date-times (with or without seconds, ISO tolerated); NaT when unparseable."""
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
    out = values.copy()
    for zone in zones.dropna().unique():
        rows = zones == zone
        if zone == ANAC_TZ:
            out.loc[rows] = aware[rows].dt.tz_localize(None)
        else:
            out.loc[rows] = aware[rows].dt.tz_convert(str(zone)).dt.tz_localize(None)
    return out


def _zones(icao: pd.Series) -> pd.Series:
    table = {code: a.tz for code in icao.dropna().unique() if (a := resolve_airport(code))}
    return icao.map(table)


def read_anac(paths: Sequence[Path], *, progress: ProgressCallback | None = None) -> LoadResult:
    """Canonical table from VRA monthly CSVs: realised and cancelled regular N/R/H flights.

    `progress(done, total)`, when given, is called with 0 files read, then after each file.
    """
    frames: list[pd.DataFrame] = []
    counts: Counter[str] = Counter()
    rows_read = 0
    for path in with_progress(list(paths), progress):
        frame, columns = _read_frame(Path(path))
        rows_read += len(frame)
        frames.append(_canonical_rows(frame, columns, counts))
    flights = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(
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
    )
    return LoadResult(
        flights=finalize(flights, with_weather=False),
        source=SOURCE,
        has_weather=False,
        bad_rows=counts,
        rows_read=rows_read,
    )


def _canonical_rows(
    frame: pd.DataFrame, columns: dict[str, str], counts: Counter[str]
) -> pd.DataFrame:
    """Filter one file's rows (counting every drop by reason) and map them to canonical columns."""
    df = pd.DataFrame(
        {field: frame[name].astype("str").str.strip() for field, name in columns.items()}
    )
    required = ["airline", "di", "line_type", "origin", "destination", "scheduled", "status"]
    df = drop_counted(df, (df[required] == "").any(axis=1), "missing_field", counts)

    status = df["status"].map(lambda s: _strip_accents(s).upper())
    realizado = status == REALIZADO
    cancelado = status == CANCELADO
    df = drop_counted(df, ~(realizado | cancelado), "not_realizado_or_cancelado", counts)
    cancelled = cancelado.loc[df.index]

    # DI is a one-character code; some exports pad it or write it as a number ("0.0").
    di = df["di"].str.replace(r"\.0+$", "", regex=True).str.lstrip("0")
    df = drop_counted(df, di != "", "non_regular_di", counts)
    df = drop_counted(df, ~df["line_type"].str.upper().isin(LINE_TYPES), "line_type", counts)

    origin = resolve_codes(df["origin"])
    dest = resolve_codes(df["destination"])
    df = drop_counted(df, origin["icao"].isna() | dest["icao"].isna(), "unknown_airport", counts)
    origin, dest, cancelled = origin.loc[df.index], dest.loc[df.index], cancelled.loc[df.index]

    df = drop_counted(df, ~cancelled & (df["actual"] == ""), "missing_field", counts)
    cancelled = cancelled.loc[df.index]
    scheduled = parse_anac_datetime(df["scheduled"])
    actual = parse_anac_datetime(df["actual"].where(~cancelled, ""))
    bad = scheduled.isna() | (~cancelled & actual.isna())
    df = drop_counted(df, bad, "bad_date", counts)
    keep = df.index
    origin, dest, cancelled = origin.loc[keep], dest.loc[keep], cancelled.loc[keep]
    scheduled, actual = scheduled.loc[keep], actual.loc[keep]

    # Both times are Brasília time, so their difference is the delay whatever the origin's zone.
    delay = (actual - scheduled).dt.total_seconds() / 60.0
    implausible = ~cancelled & ((delay < MIN_DELAY_MIN) | (delay > MAX_DELAY_MIN))
    local = _brasilia_to_local(scheduled, _zones(origin["icao"]))
    bad_local = local.isna()  # scheduled inside the skipped DST hour

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
    out = drop_counted(out, implausible, "implausible_delay", counts)
    return drop_counted(out, bad_local.loc[out.index], "bad_date", counts)


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
