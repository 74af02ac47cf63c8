"""Batch scoring, the library's entry points for tables of flights: contract-named columns in,
the answer's columns out, every row answered or given its reasons in `erro`.

- `score_file(scorer, input, output)`: a CSV or Parquet file into another, chunk by chunk (the
  command line's `score`);
- `score_table(scorer, table)`: one pyarrow Table, its columns passed through and the answer's
  added, with the bad rows' problems;
- `score_frame(scorer, frame)`: a pandas DataFrame's output columns (a Dask partition,
  `flightontime_core.cluster`).

All three go through one seam, `score_chunk`: a pyarrow Table in, the output columns as Arrow
arrays out, with the bad rows' problems and `erro` texts, through the core's columnar path
(`FlightTable.from_arrow`, `predict_table`): no Python object per row. pandas and pyarrow are
imported inside the functions that need them: this module imports with the core alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
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
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from flightontime_core.errors import FlightError
    from flightontime_core.flight_table import FlightTable
    from flightontime_core.prediction_table import PredictionTable

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

    def predict_table(self, flights: FlightTable) -> PredictionTable:
        """The answers of a table of flights, as columns."""
        ...


def input_columns() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional numeric) input columns, named as the contract names them."""
    from flightontime_core.contract import REQUIRED_FIELDS, WEATHER_NAMES

    return tuple(REQUIRED_FIELDS), ("distancia_m", "distancia_km", *WEATHER_NAMES)


def contract_columns(flights: pd.DataFrame) -> pa.Table:
    """A canonical flights table (the columns `flightontime data convert` and the training
    sources write) in the contract's columns, as `score_table` and `score_file` read it: the
    departure as ISO text, the weather fields the table has under their contract names."""
    import pandas as pd
    import pyarrow as pa

    from flightontime_core.contract import WEATHER_NAMES

    frame = pd.DataFrame(
        {
            "companhia": flights["airline"].astype(str).to_numpy(),
            "origem": flights["origin"].astype(str).to_numpy(),
            "destino": flights["destination"].astype(str).to_numpy(),
            "data_partida": flights["scheduled_departure"]
            .dt.strftime("%Y-%m-%dT%H:%M:%S")
            .to_numpy(),
            "distancia_m": flights["distance_m"].to_numpy(),
            **{
                name: flights[field].to_numpy()
                for name, field in WEATHER_NAMES.items()
                if field in flights.columns
            },
        }
    )
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


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
            # Few distinct values (sentences repeat across a route's flights): each once.
            types[name] = pa.dictionary(pa.int32(), pa.string())
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
            # Arrow-backed: a chunk's text columns become pandas without a Python string each.
            dtypes[name] = pd.StringDtype("pyarrow")
        else:
            dtypes[name] = "float64"
    return dtypes


def _problems_text(error: FlightError, language: str) -> tuple[str, list[tuple[str, str]]]:
    from flightontime_core.contract import problems

    found = problems(error, language)
    return JOIN.join(f"{name}: {reason}" for name, reason, _ in found), [
        (name, code) for name, _, code in found
    ]


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
    """The output columns of a chunk of contract-named columns (others are ignored), through
    the columnar prediction path: no Python object per row, texts rendered once per distinct
    factor and notice list, `fatores`, `avisos`, `status` and `versao_modelo` dictionary-encoded."""
    import numpy as np
    import pyarrow as pa

    from flightontime_core.contract import STATUS, round4
    from flightontime_core.flight_table import FlightTable

    n = chunk.num_rows
    answers = scorer.predict_table(FlightTable.from_arrow(chunk))
    rows = answers.rows
    bad = np.ones(n, dtype=bool)
    bad[rows] = False

    def spread(values: np.ndarray, dtype: Any = np.float64) -> np.ndarray:
        out = np.zeros(n, dtype=dtype)
        out[rows] = values
        return out

    def number(values: np.ndarray) -> pa.Array:
        return pa.array(spread(round4(values)), mask=bad | np.isnan(spread(values)))

    def coded(index: np.ndarray, values: Sequence[str]) -> pa.Array:
        # A dictionary holds each text once (two routes' notice lists may read the same).
        distinct: dict[str, int] = {}
        remap = np.array([distinct.setdefault(v, len(distinct)) for v in values] or [0])
        indices = pa.array(spread(remap[index], np.int32), mask=bad)
        return pa.DictionaryArray.from_arrays(indices, pa.array(list(distinct), type=pa.string()))

    probabilities = answers.probabilities
    delayed = answers.delayed
    columns: dict[str, pa.Array] = {
        "previsao": pa.array(spread(delayed, np.int8), mask=bad),
        "probabilidade": number(probabilities[:, 0]),
        "status": coded(delayed.astype(np.int32), STATUS.get(language, STATUS["pt"])),
        "limiar_decisao": pa.array(spread(answers.decision_threshold), mask=bad),
    }
    for k, threshold in enumerate(answers.thresholds):
        columns[probability_column(threshold)] = number(probabilities[:, k])
    columns["probabilidade_cancelamento"] = number(answers.cancellation)
    columns["versao_modelo"] = coded(answers.version, answers.versions)
    columns["fatores"] = coded(*_joined_factors(answers, language))
    columns["avisos"] = coded(
        answers.notice_index, [JOIN.join(t) for t in answers.notice_texts(language)]
    )
    bad_rows: dict[int, list[tuple[str, str]]] = {}
    errors: list[str] = []
    for position in sorted(answers.errors):
        text, found = _problems_text(answers.errors[position], language)
        bad_rows[position] = found
        errors.append(text)
    # `erro`: "" for an answered row, its reasons for a refused one (each text once).
    texts: dict[str, int] = {"": 0}
    reasons = np.zeros(n, dtype=np.int32)
    reasons[sorted(answers.errors)] = [texts.setdefault(t, len(texts)) for t in errors]
    columns[ERROR_COLUMN] = pa.DictionaryArray.from_arrays(
        pa.array(reasons), pa.array(list(texts), type=pa.string())
    )
    return ChunkScores([columns[name] for name in arrow_types(scorer.thresholds)], bad_rows, errors)


def _joined_factors(answers: PredictionTable, language: str) -> tuple[np.ndarray, list[str]]:
    """Each answered row's factor sentences joined, as an index into the distinct ones."""
    import numpy as np

    texts, index = answers.factor_texts(language)
    span = len(texts) + 1
    # A row's sentences as one integer (each slot's sentence + 1, 0 where none).
    code = ((index[:, 0] + 1) * span + index[:, 1] + 1) * span + index[:, 2] + 1
    distinct, inverse = np.unique(code, return_inverse=True)
    joined = []
    for value in distinct.tolist():
        rest, third = divmod(value, span)
        first, second = divmod(rest, span)
        joined.append(JOIN.join(texts[i - 1] for i in (first, second, third) if i))
    return inverse.astype(np.int32).ravel(), joined


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
    import pyarrow as pa

    if dtype == "float64":
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    if isinstance(dtype, pd.StringDtype):
        return pd.array(column.cast(pa.string()), dtype=dtype)
    return pd.array(column.to_pylist(), dtype=dtype)
