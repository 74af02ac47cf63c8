"""The chunk scorer every batch engine shares: contract-named columns in, the answer's columns
out, one vectorised `predict_many` per chunk, every row answered or given its reasons in `erro`.

`score_rows` works on plain Python lists (the command line's local engine hands it pyarrow
columns as lists); `score_frame` is its pandas form (a Dask partition, a notebook's frame).
pandas and pyarrow are imported inside the functions that need them: this module imports with
the core alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from flightontime_core import Flight, FlightError, Prediction

JOIN: Final = " | "
ERROR_COLUMN: Final = "erro"
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


def score_frame(model: Scorer, frame: pd.DataFrame, language: str = "en") -> pd.DataFrame:
    """`score_rows` on a pandas DataFrame of contract-named columns: the output columns only,
    on the frame's index, typed as `pandas_dtypes` (blank where a row was not scored)."""
    import numpy as np
    import pandas as pd

    required, numbers = input_columns()
    rows = {name: frame[name].tolist() for name in (*required, *numbers) if name in frame.columns}
    scored = score_rows(model, rows, len(frame), language)
    out: dict[str, Any] = {}
    for name, dtype in pandas_dtypes(model.thresholds).items():
        values = scored.columns[name]
        if dtype == "float64":
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            out[name] = pd.array(values, dtype=dtype)
    return pd.DataFrame(out, index=frame.index)
