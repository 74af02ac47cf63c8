"""`flightontime_core.tables`: CSV and Parquet read in chunks (text passed through exactly,
types kept), written back, atomically; unreadable files named in a TableError; memory that
follows the chunk, not the file."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csv_files import write_csv
from flightontime_core import tables
from flightontime_core.tables import (
    TableError,
    TableWriter,
    atomic_output,
    open_table,
    table_format,
)

# Cells a CSV writer and reader could easily change: leading zeros, quotes, commas, blanks,
# spaces, accents, something that looks like a number or a date.
AWKWARD = [
    {"id": "007", "nota": 'comma, and "quotes"', "valor": "1e3", "quando": "2013-11-10"},
    {"id": "008", "nota": "", "valor": " 12 ", "quando": ""},
    {"id": "009", "nota": "São Paulo", "valor": "NaN", "quando": "null"},
]


def numbered(n: int) -> list[dict[str, str]]:
    return [{"id": f"{i:05d}", "nota": f"row {i}"} for i in range(n)]


def test_table_format_by_extension() -> None:
    assert table_format(Path("a.csv")) == "csv"
    assert table_format(Path("a.CSV")) == "csv"
    assert table_format(Path("a.parquet")) == "parquet"
    assert table_format(Path("a.pq")) == "parquet"
    assert table_format(Path("a.xlsx")) is None
    assert table_format(Path("a")) is None


def test_atomic_output_renames_on_success_and_removes_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.csv"
    with atomic_output(target) as tmp:
        assert tmp.parent == target.parent
        assert tmp != target
        tmp.write_text("done\n")
        assert not target.exists()  # nothing at the target until the block succeeds
    assert target.read_text() == "done\n"

    def half_written() -> None:
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        half_written()
    assert target.read_text() == "done\n"  # the previous file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_csv_cells_are_text_exactly_as_written(tmp_path: Path) -> None:
    source = open_table(write_csv(tmp_path / "t.csv", AWKWARD), 10)
    assert source.format == "csv"
    assert source.columns == list(AWKWARD[0])
    assert all(field.type == pa.string() for field in source.schema)
    assert source.rows == 3
    [chunk] = list(source.chunks())
    assert chunk.to_pylist() == AWKWARD  # no nulls, no numbers, no trimming


@pytest.mark.parametrize("chunk_size", [1, 7, 10, 1000])
def test_csv_chunks_regroup_blocks_into_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    # Small blocks: pyarrow's batches and the chunks then cut the rows in different places.
    monkeypatch.setattr(tables, "_CSV_BLOCK_BYTES", 256)
    rows = numbered(95)
    source = open_table(write_csv(tmp_path / "t.csv", rows), chunk_size)
    chunks = list(source.chunks())
    sizes = [c.num_rows for c in chunks]
    assert all(size == chunk_size for size in sizes[:-1])
    assert 0 < sizes[-1] <= chunk_size
    assert sum(sizes) == 95
    assert [r for c in chunks for r in c.to_pylist()] == rows


def test_csv_row_estimate_without_a_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("id,nota\n1,a\n2,b")
    source = open_table(path, 10)
    assert source.rows == 2
    assert [c.num_rows for c in source.chunks()] == [2]


def test_parquet_keeps_types_and_counts_rows(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(range(25), type=pa.int32()),
            "peso": pa.array([i / 2 if i % 3 else None for i in range(25)], type=pa.float32()),
            "quando": pa.array([1_384_000_000 + i for i in range(25)], type=pa.timestamp("s")),
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=10)
    source = open_table(path, 4)
    stored = pq.read_table(path)
    assert source.format == "parquet"
    assert source.rows == 25
    assert source.schema == stored.schema
    chunks = list(source.chunks())
    assert max(c.num_rows for c in chunks) <= 4
    assert pa.concat_tables(chunks).equals(stored)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_duplicated_column_names_are_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".csv"):
        path.write_text("id,nota,id\n1,a,2\n")
    else:
        pq.write_table(pa.table([[1], ["a"], [2]], names=["id", "nota", "id"]), path)
    with pytest.raises(TableError, match="duplicated column names: id"):
        open_table(path, 10)


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"t\.xlsx: not a \.csv or \.parquet file"):
        open_table(tmp_path / "t.xlsx", 10)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"id": list(range(1000))}), good)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(TableError, match=r"corrupt\.parquet: cannot read it as PARQUET"):
        open_table(corrupt, 10)
    # Not UTF-8 past the header: found while reading, still a TableError naming the file.
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"id,nota\n" + "1,São Paulo\n".encode("latin-1") * 3)
    source = open_table(latin, 10)
    with pytest.raises(TableError, match=r"latin\.csv"):
        list(source.chunks())


def test_writer_writes_csv_cells_back_as_read(tmp_path: Path) -> None:
    source = open_table(write_csv(tmp_path / "in.csv", AWKWARD), 2)
    target = tmp_path / "out.csv"
    writer = TableWriter(target, "csv", source.schema)
    for chunk in source.chunks():
        writer.write(chunk)
    writer.close()
    assert target.read_bytes() == (tmp_path / "in.csv").read_bytes().replace(b"\r\n", b"\n")


def test_writer_writes_parquet_and_blanks_nulls_in_csv(tmp_path: Path) -> None:
    schema = pa.schema([("id", pa.int64()), ("nota", pa.string()), ("p", pa.float64())])
    parts = [
        pa.table({"id": [1, 2], "nota": ["a", None], "p": [0.5, None]}, schema=schema),
        pa.table({"id": [3], "nota": ["c"], "p": [0.25]}, schema=schema),
    ]
    for name in ("out.parquet", "out.csv"):
        target = tmp_path / name
        fmt = table_format(target)
        assert fmt is not None
        writer = TableWriter(target, fmt, schema)
        for part in parts:
            writer.write(part)
        writer.close()
    assert pq.read_table(tmp_path / "out.parquet").equals(pa.concat_tables(parts))
    assert (tmp_path / "out.csv").read_text() == "id,nota,p\n1,a,0.5\n2,,\n3,c,0.25\n"


@pytest.mark.parametrize("name", ["big.csv", "big.parquet"])
def test_reading_in_chunks_holds_a_chunk_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Arrow's allocations while every chunk is read stay a small part of the whole table."""
    monkeypatch.setattr(tables, "_CSV_BLOCK_BYTES", 64 << 10)
    n = 800_000
    whole = pa.table(
        {"id": [f"{i:07d}" for i in range(n)], "nota": [f"nota {i}" for i in range(n)]}
    )
    path = tmp_path / name
    if name.endswith(".csv"):
        with path.open("w") as f:
            f.write("id,nota\n")
            f.writelines(
                f"{i},{nota}\n" for i, nota in zip(*whole.to_pydict().values(), strict=True)
            )
    else:
        pq.write_table(whole, path, row_group_size=20_000)
    size = whole.nbytes
    del whole
    base = pa.total_allocated_bytes()
    peak = 0
    rows = 0
    for chunk in open_table(path, 10_000).chunks():
        rows += chunk.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == n
    assert peak < size / 5, (peak, size)
