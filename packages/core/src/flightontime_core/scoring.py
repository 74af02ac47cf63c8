"""Batch scoring, the library's entry points for tables of flights: contract-named columns in,
the answer's columns out, every row answered or given its reasons in `erro`.

- `score_file(scorer, input, output)`: a CSV or Parquet file into another, chunk by chunk (the
  command line's `score`);
- `score_table(scorer, table)`: one pyarrow Table, its columns passed through and the answer's
  added, with the bad rows' problems;
- `score_frame(scorer, frame)`: a pandas DataFrame's output columns (a Dask partition,
  `flightontime_core.cluster`).

All three go through one seam, `score_chunk`: a pyarrow Table in, the output columns as Arrow
arrays out, with the bad rows' problems and `erro` texts. How it scores is its own business
(today `score_rows`, plain Python lists and one vectorised `predict_many`); nothing else here
depends on it. pandas and pyarrow are imported inside the functions that need them: this
module imports with the core alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from flightontime_core.tables import (
    TableError,
    TableReader,
    TableWriter,
    atomic_output,
    open_table,
    table_format,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from flightontime_core import Flight, FlightError, Prediction

JOIN: Final = " | "
ERROR_COLUMN: Final = "erro"
DEFAULT_CHUNK_SIZE: Final = 50_000
# Bad rows a `ScoreSummary` keeps one by one (row number and `erro`); the rest are counted.
FIRST_BAD_ROWS: Final = 10
# The output columns of each kind (the probability columns follow the model's thresholds).
_TEXT: Final = ("status", "versao_modelo", "fatores", "avisos", ERROR_COLUMN)


class Scorer(Protocol):
    """What the scorer needs of a model: a `Model` or a `PredictionService`."""

    @property
    def thresholds(self) -> tuple[int, ...]:
        """The delay thresholds in minutes, the primary first."""
        ...

    def predict_many(
        self, flights: Sequence[Flight | FlightError]
    ) -> list[Prediction | FlightError]:
        """Answers in order, a FlightError where a flight cannot be predicted."""
        ...


def input_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional numeric) input columns, named as the contract names them."""
    from flightontime_core.contract import REQUIRED_FIELDS, WEATHER_NAMES

    return tuple(REQUIRED_FIELDS), ("distancia_m", "distancia_km", *WEATHER_NAMES)


def probability_column(threshold: int) -> str:
    """The output column of one threshold's probability ("probabilidade_30min")."""
    return f"probabilidade_{threshold}min"


def output_columns(thresholds: Sequence[int]) -> tuple[str, ...]:
    """The columns a scored table adds after the input's, in order."""
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
        ERROR_COLUMN,
    )


def arrow_types(thresholds: Sequence[int]) -> dict[str, pa.DataType]:
    """The pyarrow type of each output column, in order (every engine writes these)."""
    import pyarrow as pa

    types: dict[str, pa.DataType] = {}
    for name in output_columns(thresholds):
        if name == "previsao":
            types[name] = pa.int8()
        elif name in _TEXT:
            types[name] = pa.string()
        else:
            types[name] = pa.float64()
    return types


def pandas_dtypes(thresholds: Sequence[int]) -> dict[str, Any]:
    """The pandas dtype of each output column, in order (nullable: unscored rows are blank)."""
    import pandas as pd

    dtypes: dict[str, Any] = {}
    for name in output_columns(thresholds):
        if name == "previsao":
            dtypes[name] = pd.Int8Dtype()
        elif name in _TEXT:
            dtypes[name] = pd.StringDtype()
        else:
            dtypes[name] = "float64"
    return dtypes


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
    model: Scorer,
    rows: Mapping[str, Sequence[Any]],
    n: int,
    language: str = "en",
) -> ScoredChunk:
    """Score `n` flights given as contract-named columns (missing optional ones may be absent;
    blanks are None, NaN or ""), in one vectorised `predict_many`; every row gets an answer or
    its `erro`, in order."""
    from flightontime_core import FlightError, Prediction
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
    for i, predicted in zip(usable, model.predict_many(flights), strict=True):
        answers[i] = predicted

    thresholds = model.thresholds
    columns: dict[str, list[Any]] = {name: [None] * n for name in output_columns(thresholds)}
    bad: dict[int, list[tuple[str, str]]] = {}
    for i, a in enumerate(answers):
        if not isinstance(a, Prediction):
            assert isinstance(a, FlightError)  # every usable flight got its answer above
            columns[ERROR_COLUMN][i], bad[i] = _problems_text(a, language)
            continue
        body = answer(a, language)
        for name in ("previsao", "probabilidade", "status", "limiar_decisao", "versao_modelo"):
            columns[name][i] = body[name]
        for t in thresholds:
            columns[probability_column(t)][i] = body["probabilidades"][str(t)]
        columns["probabilidade_cancelamento"][i] = body["probabilidade_cancelamento"]
        columns["fatores"][i] = JOIN.join(body["fatores"])
        columns["avisos"][i] = JOIN.join(body["avisos"])
        columns[ERROR_COLUMN][i] = ""
    return ScoredChunk(columns, bad)


def check_columns(columns: Sequence[str], thresholds: Sequence[int], source: object = None) -> None:
    """TableError when a required input column is missing or an output column is already
    there; the message names `source` (a path) when given."""
    where = f"{source}: " if source is not None else ""
    missing = [name for name in input_columns()[0] if name not in columns]
    if missing:
        raise TableError(f"{where}missing required column(s): {', '.join(missing)}")
    clashes = [name for name in output_columns(thresholds) if name in columns]
    if clashes:
        raise TableError(
            f"{where}already has output column(s) {', '.join(clashes)} (drop or rename them first)"
        )


@dataclass
class ChunkScores:
    """What `score_chunk` answers for one chunk of n rows."""

    # The output columns, in `output_columns` order, n values each (null where not scored).
    columns: list[pa.Array]
    # Position in the chunk -> (contract field, reason code) of each problem, bad rows only.
    bad_rows: dict[int, list[tuple[str, str]]]
    # The bad rows' `erro` texts, in the order of their sorted positions.
    errors: list[str]


def score_chunk(scorer: Scorer, chunk: pa.Table, language: str = "en") -> ChunkScores:
    """The output columns of a chunk of contract-named columns (others are ignored)."""
    import pyarrow as pa

    required, numbers = input_columns()
    rows = {
        name: chunk.column(name).to_pylist()
        for name in (*required, *numbers)
        if name in chunk.column_names
    }
    scored = score_rows(scorer, rows, chunk.num_rows, language)
    types = arrow_types(scorer.thresholds)
    columns = [pa.array(scored.columns[name], type=t) for name, t in types.items()]
    errors = [scored.columns[ERROR_COLUMN][i] for i in sorted(scored.bad_rows)]
    return ChunkScores(columns, scored.bad_rows, errors)


@dataclass
class ScoredTable:
    """A scored table: the input's columns, then the output columns, row for row."""

    table: pa.Table
    # Position in the table -> (contract field, reason code) of each problem, bad rows only.
    bad_rows: dict[int, list[tuple[str, str]]]
    # The bad rows' `erro` texts, in the order of their sorted positions.
    errors: list[str]


def score_table(scorer: Scorer, table: pa.Table, language: str = "en") -> ScoredTable:
    """Score a pyarrow Table of contract-named flights, every input column passed through."""
    import pyarrow as pa

    check_columns(table.column_names, scorer.thresholds)
    scores = score_chunk(scorer, table, language)
    names = output_columns(scorer.thresholds)
    added = [
        pa.field(name, column.type) for name, column in zip(names, scores.columns, strict=True)
    ]
    schema = pa.schema([*table.schema, *added])
    joined = pa.Table.from_arrays([*table.columns, *scores.columns], schema=schema)
    return ScoredTable(joined, scores.bad_rows, scores.errors)


@dataclass
class ScoreSummary:
    """What `score_file` did: rows read, scored and refused, and why."""

    rows: int = 0
    scored: int = 0
    bad_rows: int = 0
    # (contract field, reason code) -> bad rows with it (a row counts once per reason).
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (row number from 1, `erro`) of the first `FIRST_BAD_ROWS` bad rows.
    first_bad: list[tuple[int, str]] = field(default_factory=list)

    def add(self, scored: ScoredTable) -> None:
        """Count one more scored chunk, the rows after those already counted."""
        for position, text in zip(sorted(scored.bad_rows), scored.errors, strict=True):
            self.reasons.update(set(scored.bad_rows[position]))
            if len(self.first_bad) < FIRST_BAD_ROWS:
                self.first_bad.append((self.rows + position + 1, text))
        n = scored.table.num_rows
        self.rows += n
        self.bad_rows += len(scored.bad_rows)
        self.scored += n - len(scored.bad_rows)


def _chunks_or_empty(source: TableReader) -> Iterator[pa.Table]:
    # An empty file still gets its output file, header (or schema) and all: one empty chunk.
    empty = True
    for chunk in source.chunks():
        empty = False
        yield chunk
    if empty:
        yield source.schema.empty_table()


def score_file(
    scorer: Scorer,
    input_path: str | Path,
    output_path: str | Path,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    language: str = "en",
    progress: Callable[[int, int], None] | None = None,
) -> ScoreSummary:
    """Score a CSV or Parquet file into another, chunk by chunk; TableError when it cannot."""
    source_path, target = Path(input_path), Path(output_path)
    fmt = table_format(target)
    if fmt is None:
        raise TableError(f"{target}: not a .csv or .parquet file")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    source = open_table(source_path, chunk_size)
    check_columns(source.columns, scorer.thresholds, source_path)
    summary = ScoreSummary()
    with atomic_output(target) as tmp:
        writer: TableWriter | None = None
        try:
            for chunk in _chunks_or_empty(source):
                scored = score_table(scorer, chunk, language)
                if writer is None:
                    # The output's schema is the first scored chunk's: the scorer's types decide.
                    writer = TableWriter(tmp, fmt, scored.table.schema)
                writer.write(scored.table)
                summary.add(scored)
                if progress is not None:
                    progress(summary.rows, max(source.rows, summary.rows))
        finally:
            if writer is not None:
                writer.close()
    return summary


def score_frame(model: Scorer, frame: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """`score_chunk` on a pandas DataFrame of contract-named columns: the output columns only,
    on the frame's index, typed as `pandas_dtypes` (blank where a row was not scored)."""
    import pandas as pd

    required, numbers = input_columns()
    given = [name for name in (*required, *numbers) if name in frame.columns]
    scores = score_chunk(model, _arrow_of(frame, given), language)
    dtypes = pandas_dtypes(model.thresholds)
    out = {
        name: _pandas_of(column, dtype)
        for (name, dtype), column in zip(dtypes.items(), scores.columns, strict=True)
    }
    return pd.DataFrame(out, index=frame.index)


def _arrow_of(frame: pd.DataFrame, names: Sequence[str]) -> pa.Table:
    import pyarrow as pa

    columns = []
    for name in names:
        try:
            columns.append(pa.array(frame[name], from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # An object column mixing text and numbers (read without dtypes) has no Arrow type:
            # it goes as text, which the scorer reads as a number where one is expected.
            text = [None if _blank(v) else str(v) for v in frame[name].tolist()]
            columns.append(pa.array(text, type=pa.string()))
    return pa.Table.from_arrays(columns, names=list(names))


def _blank(value: Any) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def _pandas_of(column: pa.Array, dtype: Any) -> Any:
    import numpy as np
    import pandas as pd

    if dtype == "float64":
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    return pd.array(column.to_pylist(), dtype=dtype)
