"""`flightontime predict` (one flight) and `flightontime score` (a file of flights).

`score_rows` scores one chunk of contract-named columns (plain Python lists) and is free of
click, files and pyarrow, so another engine (Dask partitions, a queue worker) can call it as
the file command does.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from flightontime_cli import output

if TYPE_CHECKING:
    import pyarrow as pa

    from flightontime_core import FlightError, Prediction, PredictionService

LANGUAGES: Final = ("en", "pt")
JOIN: Final = " | "
DEFAULT_CHUNK_SIZE: Final = 50_000
# Bad rows named one by one on stderr before the summary takes over.
SHOWN_BAD_ROWS: Final = 10


def input_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional numeric) input columns, named as the contract names them."""
    from flightontime_core.contract import REQUIRED_FIELDS, WEATHER_NAMES

    return tuple(REQUIRED_FIELDS), ("distancia_m", *WEATHER_NAMES)


def probability_column(threshold: int) -> str:
    """The output column of one threshold's probability ("probabilidade_30min")."""
    return f"probabilidade_{threshold}min"


def output_columns(thresholds: Sequence[int]) -> tuple[str, ...]:
    """The columns `score` adds after the input's, in order."""
    return (
        "previsao",
        "probabilidade",
        "status",
        "limiar_decisao",
        *(probability_column(t) for t in thresholds),
        "probabilidade_cancelamento",
        "versao_modelo",
        "fatores",
        "avisos",
        "erro",
    )


def _number(value: Any) -> Any:
    # Text cells (CSV) become numbers; text that is no number is left for the core to refuse
    # ("expected number"), so the row is reported, not silently blanked.
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            return value
    return value


def _problems_text(error: FlightError, language: str) -> tuple[str, list[tuple[str, str]]]:
    from flightontime_core.contract import problems

    found = problems(error, language)
    return JOIN.join(f"{name}: {reason}" for name, reason, _ in found), [
        (name, code) for name, _, code in found
    ]


@dataclass
class ScoredChunk:
    """The output columns of one chunk (None where a row was not scored) and its bad rows."""

    columns: dict[str, list[Any]]
    # Position in the chunk -> (contract field, reason code) of each problem.
    bad_rows: dict[int, list[tuple[str, str]]] = field(default_factory=dict)


def score_rows(
    service: PredictionService,
    rows: Mapping[str, Sequence[Any]],
    n: int,
    language: str = "en",
) -> ScoredChunk:
    """Score `n` flights given as contract-named columns (missing optional ones may be absent;
    blanks are None, NaN or ""), in one vectorised `predict_many`; every row gets an answer or
    its `erro`, in order."""
    from flightontime_core import Flight, FlightError, Prediction
    from flightontime_core.contract import answer, flight_from_record

    required, numbers = input_columns()
    given = [name for name in (*required, *numbers) if name in rows]
    values = {
        name: [_number(v) for v in rows[name]] if name in numbers else rows[name] for name in given
    }
    answers: list[Prediction | FlightError | None] = []
    usable: list[int] = []
    flights: list[Flight] = []
    for i in range(n):
        flight = flight_from_record({name: values[name][i] for name in given})
        answers.append(flight if isinstance(flight, FlightError) else None)
        if not isinstance(flight, FlightError):
            usable.append(i)
            flights.append(flight)
    for i, predicted in zip(usable, service.predict_many(flights), strict=True):
        answers[i] = predicted

    thresholds = service.thresholds
    columns: dict[str, list[Any]] = {name: [None] * n for name in output_columns(thresholds)}
    bad: dict[int, list[tuple[str, str]]] = {}
    for i, a in enumerate(answers):
        if not isinstance(a, Prediction):
            assert isinstance(a, FlightError)  # every usable flight got its answer above
            columns["erro"][i], bad[i] = _problems_text(a, language)
            continue
        body = answer(a, language)
        for name in ("previsao", "probabilidade", "status", "limiar_decisao", "versao_modelo"):
            columns[name][i] = body[name]
        for t in thresholds:
            columns[probability_column(t)][i] = body["probabilidades"][str(t)]
        columns["probabilidade_cancelamento"][i] = body["probabilidade_cancelamento"]
        columns["fatores"][i] = JOIN.join(body["fatores"])
        columns["avisos"][i] = JOIN.join(body["avisos"])
        columns["erro"][i] = ""
    return ScoredChunk(columns, bad)


# -- predict ----------------------------------------------------------------------------------


def _load_service(model: Path | None) -> PredictionService:
    """The verified, self-tested model, or exit 1 with the bundle's reason."""
    from flightontime_core import BundleError, PredictionService

    s = output.settings()
    path = model if model is not None else Path(s.model_dir)
    try:
        return PredictionService.load(path, threads=s.threads)
    except BundleError as exc:
        output.fail(f"cannot load the model bundle at {path}: {exc}")


def _refuse(error: FlightError, language: str) -> NoReturn:
    from flightontime_core.contract import problems

    output.say("error: the flight cannot be predicted:")
    for name, reason, code in problems(error, language):
        output.say(f"  {name}: {reason} ({code})")
    raise click.exceptions.Exit(2)


def _answer_table(flight: dict[str, Any], body: dict[str, Any]) -> Any:
    title = (
        f"{flight['companhia']} {flight['origem']} → {flight['destino']}, {flight['data_partida']}"
    )
    rows: list[tuple[str, Any]] = [
        ("status", f"{body['status']} (previsao {body['previsao']})"),
        ("probabilidade", body["probabilidade"]),
        ("limiar_decisao", body["limiar_decisao"]),
    ]
    rows += [(f"P(delay >= {t} min)", p) for t, p in body["probabilidades"].items()]
    rows.append(("probabilidade_cancelamento", body["probabilidade_cancelamento"]))
    rows.append(("versao_modelo", body["versao_modelo"]))
    rows += [("fator", text) for text in body["fatores"]]
    rows += [("aviso", text) for text in body["avisos"]]
    return output.table(title, ["field", "value"], rows, numeric_from=2)


@click.command()
@click.option("--companhia", required=True, help="Airline code, ICAO (AZU) or IATA (AD).")
@click.option("--origem", required=True, help="Origin airport, ICAO (SBKP) or IATA (VCP).")
@click.option("--destino", required=True, help="Destination airport, ICAO or IATA.")
@click.option(
    "--data-partida",
    required=True,
    help="Scheduled departure, ISO 8601 (2025-11-10T14:30:00): the origin's local time unless "
    "it has an offset.",
)
@click.option("--distancia-m", type=float, help="Distance in metres [default: great circle].")
@click.option("--clima", help="Origin weather as JSON, e.g. '{\"vento_kmh\": 30}'.")
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    help="Model bundle directory [default: FLIGHTONTIME_MODEL_DIR].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON answer.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def predict(
    companhia: str,
    origem: str,
    destino: str,
    data_partida: str,
    distancia_m: float | None,
    clima: str | None,
    model: Path | None,
    as_json: bool,
    lang: str,
) -> None:
    """Predict one flight with a local model (no server)."""
    import msgspec

    from flightontime_core import FlightError
    from flightontime_core.contract import answer, flight_from_json

    payload: dict[str, Any] = {
        "companhia": companhia,
        "origem": origem,
        "destino": destino,
        "data_partida": data_partida,
    }
    if distancia_m is not None:
        payload["distancia_m"] = distancia_m
    if clima is not None:
        try:
            payload["clima"] = msgspec.json.decode(clima)
        except msgspec.DecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="'--clima'") from None
    flight = flight_from_json(payload)
    if isinstance(flight, FlightError):
        _refuse(flight, lang)
    service = _load_service(model)
    try:
        prediction = service.predict(flight)
    except FlightError as exc:
        _refuse(exc, lang)
    body = answer(prediction, lang)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(body), indent=2).decode())
    else:
        output.stdout().print(_answer_table(payload, body))


# -- score ------------------------------------------------------------------------------------


def _arrow_types(thresholds: Sequence[int]) -> dict[str, pa.DataType]:
    import pyarrow as pa

    numbers = ["probabilidade", "limiar_decisao", *map(probability_column, thresholds)]
    types: dict[str, pa.DataType] = dict.fromkeys(numbers, pa.float64())
    types["probabilidade_cancelamento"] = pa.float64()
    types["previsao"] = pa.int8()
    for name in ("status", "versao_modelo", "fatores", "avisos", "erro"):
        types[name] = pa.string()
    return {name: types[name] for name in output_columns(thresholds)}


@dataclass
class _Tally:
    rows: int = 0
    scored: int = 0
    bad_rows: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)


def _report_bad(tally: _Tally, start: int, chunk: ScoredChunk) -> None:
    for position in sorted(chunk.bad_rows):
        tally.bad_rows += 1
        # A row is counted once per distinct reason it has.
        tally.reasons.update(set(chunk.bad_rows[position]))
        if tally.bad_rows <= SHOWN_BAD_ROWS:
            output.say(f"row {start + position + 1}: {chunk.columns['erro'][position]}")
        elif tally.bad_rows == SHOWN_BAD_ROWS + 1:
            output.say("(more bad rows: see the erro column and the summary)")


def _score_file(
    service: PredictionService,
    source: Any,
    target: Path,
    fmt: str,
    language: str,
) -> _Tally:
    import pyarrow as pa

    from flightontime_cli.tables import TableWriter

    types = _arrow_types(service.thresholds)
    schema = pa.schema([*source.schema, *(pa.field(n, t) for n, t in types.items())])
    required, numbers = input_columns()
    contract = [name for name in (*required, *numbers) if name in source.columns]
    tally = _Tally()
    writer = TableWriter(target, fmt, schema)
    try:
        with output.progress_bar("scoring", total=source.rows or None) as bar:
            for chunk in source.chunks():
                n = chunk.num_rows
                rows = {name: chunk.column(name).to_pylist() for name in contract}
                scored = score_rows(service, rows, n, language)
                added = [pa.array(scored.columns[name], type=t) for name, t in types.items()]
                writer.write(pa.Table.from_arrays([*chunk.columns, *added], schema=schema))
                _report_bad(tally, tally.rows, scored)
                tally.rows += n
                tally.scored += n - len(scored.bad_rows)
                bar.update(tally.rows, max(source.rows, tally.rows))
            bar.finish()
    finally:
        writer.close()
    return tally


def _summary(tally: _Tally, target: Path, seconds: float) -> None:
    output.say(
        f"{tally.rows:,} rows scored into {target} in {seconds:.1f} s: {tally.scored:,} "
        f"predicted, {tally.bad_rows:,} refused (kept, with the reason in `erro`)"
    )
    if tally.reasons:
        rows = [(name, code, count) for (name, code), count in tally.reasons.most_common()]
        output.say("Refused rows, by reason:")
        output.stderr().print(output.table(None, ["field", "reason", "rows"], rows, numeric_from=2))


@click.command()
@click.argument(
    "input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.argument("output_path", metavar="OUTPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    type=click.Path(path_type=Path),
    help="Model bundle directory [default: FLIGHTONTIME_MODEL_DIR].",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    help="Rows scored per vectorised call.",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def score(
    input_path: Path, output_path: Path, model: Path | None, chunk_size: int, lang: str
) -> None:
    """Score a CSV or Parquet file of flights into OUTPUT (CSV or Parquet, by extension).

    Columns are named as the contract: companhia, origem, destino, data_partida, optional
    distancia_m and weather (temperatura_c ... visibilidade_km). Every input row is kept, in
    order, with every input column; a row that cannot be predicted gets its reasons in `erro`.
    """
    from flightontime_cli.tables import TableError, atomic_output, open_table, table_format

    for path, hint in ((input_path, "'INPUT'"), (output_path, "'OUTPUT'")):
        if table_format(path) is None:
            raise click.BadParameter(f"{path}: use a .csv or .parquet file", param_hint=hint)
    output.require("score", ("pyarrow",))
    service = _load_service(model)
    try:
        source = open_table(input_path, chunk_size)
    except TableError as exc:
        output.fail(str(exc))
    missing = [name for name in input_columns()[0] if name not in source.columns]
    if missing:
        output.fail(f"{input_path}: missing required column(s): {', '.join(missing)}")
    clashes = [n for n in output_columns(service.thresholds) if n in source.columns]
    if clashes:
        output.fail(
            f"{input_path}: already has output column(s) {', '.join(clashes)} "
            "(drop or rename them first)"
        )
    started = time.perf_counter()
    fmt = table_format(output_path)
    assert fmt is not None
    try:
        with atomic_output(output_path) as tmp:
            tally = _score_file(service, source, tmp, fmt, lang)
    except TableError as exc:
        output.fail(str(exc))
    _summary(tally, output_path, time.perf_counter() - started)
