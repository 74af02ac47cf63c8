"""Flight tables on disk: CSV or Parquet by extension, read in chunks and written through a
temporary file next to the target, renamed only when complete (`scoring.score_file`, the
command line's `score` and `data convert`, the Dask engine's input).

A file is never read whole: Parquet is read row group by row group and CSV block by block, so
memory follows the chunk size (and the row groups), not the file. pyarrow (from
`flightontime-core[train]`) is imported inside the functions: the core imports without it. CSV
columns are read as text, exactly as written, so a column the caller does not use passes
through unchanged; Parquet columns keep their types.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import pyarrow as pa

FORMATS: Final = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# pyarrow reads CSV in blocks of bytes; rows are then regrouped into chunks of `chunk_size`.
_CSV_BLOCK_BYTES: Final = 4 << 20


class TableError(ValueError):
    """A table file that cannot be read or written (corrupt, not of its format, no access)."""


def table_format(path: Path) -> str | None:
    """'csv' or 'parquet' from the file's extension; None when neither."""
    return FORMATS.get(path.suffix.lower())


@contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """A temporary path next to `target`, renamed onto it when the block succeeds and removed
    when it fails: `target` is never left half written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class TableReader:
    """An open input table: its column names, its row count (an estimate for CSV) and its
    chunks as pyarrow Tables."""

    path: Path
    format: str
    schema: pa.Schema
    rows: int
    chunk_size: int

    @property
    def columns(self) -> list[str]:
        """The column names, in the file's order."""
        return list(self.schema.names)

    def chunks(self) -> Iterator[pa.Table]:
        """The rows in order, `chunk_size` at a time; TableError when the file breaks later."""
        import pyarrow as pa

        try:
            if self.format == "parquet":
                import pyarrow.parquet as pq

                # Without pre_buffer=False the reader fetches every row group's bytes ahead.
                with pq.ParquetFile(self.path, pre_buffer=False) as source:
                    for batch in source.iter_batches(batch_size=self.chunk_size):
                        yield pa.Table.from_batches([batch], self.schema)
                return
            yield from _regroup(_csv_batches(self.path, self.schema), self.schema, self.chunk_size)
        except (pa.ArrowException, OSError) as exc:
            raise TableError(f"{self.path}: {exc}") from None


def _csv_options(schema: pa.Schema | None) -> tuple[Any, Any]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    read = pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES)
    if schema is None:
        return read, pacsv.ConvertOptions()
    # Every column as text: a CSV cell passes through exactly as it was written.
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in schema.names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    return read, convert


def _csv_batches(path: Path, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pacsv

    read, convert = _csv_options(schema)
    # A Python file object, not the path: given a path, pyarrow reads blocks ahead as fast as
    # the disk allows, the whole file when the caller is slower.
    with (
        path.open("rb") as raw,
        pacsv.open_csv(raw, read_options=read, convert_options=convert) as reader,
    ):
        yield from reader


def _regroup(batches: Iterator[pa.RecordBatch], schema: pa.Schema, size: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        while count >= size:
            joined = pa.Table.from_batches(pending, schema)
            yield joined.slice(0, size)
            rest = joined.slice(size)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending, schema)


def _count_lines(path: Path) -> int:
    # An estimate of CSV rows for the progress bar (quoted newlines make it high, never low).
    lines = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n") - 1  # a last line without newline; minus the header


def open_table(path: Path, chunk_size: int) -> TableReader:
    """Open a CSV or Parquet file for reading in chunks; TableError when it cannot be read."""
    import pyarrow as pa

    fmt = table_format(path)
    if fmt is None:
        raise TableError(f"{path}: not a .csv or .parquet file")
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as source:
                schema, rows = source.schema_arrow, source.metadata.num_rows
        else:
            import pyarrow.csv as pacsv

            read, convert = _csv_options(None)
            # The first block gives the header; the rows are read again as text below.
            with (
                path.open("rb") as raw,
                pacsv.open_csv(raw, read_options=read, convert_options=convert) as reader,
            ):
                names = reader.schema.names
            schema = pa.schema([pa.field(name, pa.string()) for name in names])
            rows = max(_count_lines(path), 0)
    except (pa.ArrowException, OSError) as exc:
        raise TableError(f"{path}: cannot read it as {fmt.upper()}: {exc}") from None
    duplicated = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if duplicated:
        raise TableError(f"{path}: duplicated column names: {', '.join(duplicated)}")
    return TableReader(path, fmt, schema, rows, chunk_size)


class TableWriter:
    """Writes chunks of one schema to a CSV or Parquet file."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        import pyarrow as pa

        self._parquet: Any = None
        self._csv: Any = None
        self._file: IO[str] | None = None
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                self._parquet = pq.ParquetWriter(path, schema)
            else:
                # The standard writer quotes only cells that need it, so a text cell read from
                # a CSV is written back as it was (pyarrow's writer quotes every string).
                self._file = path.open("w", newline="", encoding="utf-8")
                self._csv = csv.writer(self._file, lineterminator="\n")
                self._csv.writerow(schema.names)
        except (pa.ArrowException, OSError) as exc:
            raise TableError(f"{path}: cannot write: {exc}") from None

    def write(self, chunk: pa.Table) -> None:
        """Append a chunk."""
        if self._parquet is not None:
            self._parquet.write_table(chunk)
            return
        columns = [column.to_pylist() for column in chunk.columns]
        self._csv.writerows(
            ["" if value is None else value for value in row] for row in zip(*columns, strict=True)
        )

    def close(self) -> None:
        """Finish the file (Parquet writes its footer here)."""
        if self._parquet is not None:
            self._parquet.close()
        if self._file is not None:
            self._file.close()
