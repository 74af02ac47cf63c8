"""`flightontime predict` (one flight) and `flightontime score` (a file of flights).

`score` is the command line over the library's `flightontime_core.scoring.score_file` (reading,
chunking, scoring and writing are the core's, `flightontime_core.tables` and
`flightontime_core.scoring`); here are its flags, progress bar, messages and exit codes. The
core is imported inside the commands, so `flightontime --help` stays fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from flightontime_cli import output

if TYPE_CHECKING:
    from flightontime_core import FlightError, PredictionService
    from flightontime_core.scoring import ScoreSummary

LANGUAGES: Final = ("en", "pt")
ENGINES: Final = ("local", "dask")
# The core's `scoring.DEFAULT_CHUNK_SIZE`, repeated so that `--help` need not import the core.
DEFAULT_CHUNK_SIZE: Final = 50_000
# Bad rows named one by one on stderr before the summary takes over.
SHOWN_BAD_ROWS: Final = 10


# -- predict ----------------------------------------------------------------------------------


def _load_service(models: Sequence[Path]) -> PredictionService:
    """The verified, self-tested bundles (each flight answered by its origin's country's), or
    exit 1 with the bundle's reason."""
    from flightontime_core import BundleError, PredictionService

    s = output.settings()
    paths = list(models) or [Path(p) for p in s.model_dir.split(os.pathsep) if p]
    try:
        return PredictionService.load(paths, threads=s.threads)
    except BundleError as exc:
        shown = ", ".join(str(p) for p in paths)
        output.fail(f"cannot load the model bundles at {shown}: {exc}")


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
@click.option("--distancia-km", type=float, help="The same distance in km (or instead).")
@click.option("--clima", help="Origin weather as JSON, e.g. '{\"vento_kmh\": 30}'.")
@click.option(
    "--model",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A model bundle, or a directory of bundles; repeat for several (the first answers "
    "other countries) [default: FLIGHTONTIME_MODEL_DIR, every bundle under models/].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the contract's JSON answer.")
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
def predict(
    companhia: str,
    origem: str,
    destino: str,
    data_partida: str,
    distancia_m: float | None,
    distancia_km: float | None,
    clima: str | None,
    model: tuple[Path, ...],
    as_json: bool,
    lang: str,
) -> None:
    """Predict one flight with a local model (no server)."""
    import msgspec

    from flightontime_core import FlightError
    from flightontime_core.contract import answers, flight_from_json
    from flightontime_core.flight_table import FlightTable

    payload: dict[str, Any] = {
        "companhia": companhia,
        "origem": origem,
        "destino": destino,
        "data_partida": data_partida,
    }
    if distancia_m is not None:
        payload["distancia_m"] = distancia_m
    if distancia_km is not None:
        payload["distancia_km"] = distancia_km
    if clima is not None:
        try:
            payload["clima"] = msgspec.json.decode(clima)
        except msgspec.DecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="'--clima'") from None
    flight = flight_from_json(payload)
    if isinstance(flight, FlightError):
        _refuse(flight, lang)
    service = _load_service(model)
    (body,) = answers(service.predict_table(FlightTable.from_flights([flight])), lang)
    if isinstance(body, FlightError):
        _refuse(body, lang)
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(body), indent=2).decode())
    else:
        output.stdout().print(_answer_table(payload, body))


# -- score ------------------------------------------------------------------------------------


def _report_bad(summary: ScoreSummary) -> None:
    for row, text in summary.first_bad[:SHOWN_BAD_ROWS]:
        output.say(f"row {row}: {text}")
    if summary.bad_rows > SHOWN_BAD_ROWS:
        output.say("(more bad rows: see the erro column and the summary)")


def _summary(summary: ScoreSummary, target: Path, seconds: float) -> None:
    output.say(
        f"{summary.rows:,} rows scored into {target} in {seconds:.1f} s: {summary.scored:,} "
        f"predicted, {summary.bad_rows:,} refused (kept, with the reason in `erro`)"
    )
    if summary.reasons:
        rows = [(name, code, count) for (name, code), count in summary.reasons.most_common()]
        output.say("Refused rows, by reason:")
        output.stderr().print(output.table(None, ["field", "reason", "rows"], rows, numeric_from=2))


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.argument("output_path", metavar="OUTPUT", type=click.Path(path_type=Path))
@click.option(
    "--model",
    multiple=True,
    type=click.Path(path_type=Path),
    help="A model bundle, or a directory of bundles; repeat for several (the first answers "
    "other countries) [default: FLIGHTONTIME_MODEL_DIR, every bundle under models/].",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_SIZE,
    show_default=True,
    help="Rows scored per vectorised call.",
)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="local: this process, file to file. dask: a Dask cluster, into a directory of "
    "Parquet files (INPUT may be a directory of Parquet files).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="dask: the scheduler of an existing cluster (tcp://host:8786); its workers must see "
    "INPUT, OUTPUT and the model at the same paths.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="dask: start a local cluster of N worker processes [default: one per core].",
)
@click.option(
    "--partition-size",
    default="16MiB",
    show_default=True,
    help="dask: bytes of input per partition (CSV blocks, Parquet row groups), e.g. 64MiB.",
)
def score(
    input_path: Path,
    output_path: Path,
    model: tuple[Path, ...],
    chunk_size: int,
    lang: str,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    partition_size: str,
) -> None:
    """Score a CSV or Parquet file of flights into OUTPUT (CSV or Parquet, by extension; with
    --engine dask, a directory of Parquet files).

    Columns are named as the contract: companhia, origem, destino, data_partida, optional
    distancia_m or distancia_km and weather (temperatura_c ... visibilidade_km). Every input
    row is kept, in order, with every input column; a row that cannot be predicted gets its
    reasons in `erro`.
    Exit 0 when done (refused rows included), 1 when the input, model or output is at fault,
    2 on a usage error, 3 when the Dask cluster failed (worth a retry).
    """
    from flightontime_core.tables import TableError, table_format

    if engine == "dask":
        from flightontime_cli.cluster import Options, score_on_dask

        if scheduler is not None and workers is not None:
            raise click.UsageError("give --scheduler (an existing cluster) or --workers, not both")
        if table_format(output_path) == "csv":
            raise click.BadParameter(
                f"{output_path}: the dask engine writes a directory of Parquet files",
                param_hint="'OUTPUT'",
            )
        if not input_path.is_dir() and table_format(input_path) is None:
            raise click.BadParameter(
                f"{input_path}: use a .csv or .parquet file or a directory of Parquet files",
                param_hint="'INPUT'",
            )
        s = output.settings()
        options = Options(scheduler, workers, partition_size, chunk_size, lang, s.threads)
        if len(model) > 1:
            raise click.UsageError("the dask engine takes one --model (a bundle or a directory)")
        score_on_dask(input_path, output_path, model[0] if model else Path(s.model_dir), options)
        return
    if scheduler is not None or workers is not None:
        raise click.UsageError("--scheduler and --workers need --engine dask")
    for path, hint in ((input_path, "'INPUT'"), (output_path, "'OUTPUT'")):
        if path.is_dir():
            raise click.BadParameter(
                f"{path}: a directory; the local engine reads and writes files "
                "(--engine dask reads and writes directories of Parquet files)",
                param_hint=hint,
            )
        if table_format(path) is None:
            raise click.BadParameter(f"{path}: use a .csv or .parquet file", param_hint=hint)
    output.require("score", ("pyarrow",))
    from flightontime_core.scoring import score_file

    service = _load_service(model)
    started = time.perf_counter()
    try:
        with output.progress_bar("scoring") as bar:
            summary = score_file(
                service,
                input_path,
                output_path,
                chunk_size=chunk_size,
                language=lang,
                progress=bar.update,
            )
            bar.finish()
    except TableError as exc:
        output.fail(str(exc))
    _report_bad(summary)
    _summary(summary, output_path, time.perf_counter() - started)
