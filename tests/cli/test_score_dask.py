"""`flightontime score --engine dask` and `train --engine dask` on a real LocalCluster (two
worker processes on loopback): the same output as the local engine value for value, Parquet
directories in and out, bad rows kept and counted, and exit codes for bad input (1), usage (2)
and a cluster that cannot be reached (3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

if TYPE_CHECKING:
    import pandas as pd

    from cli.conftest import Invoke
    from flightontime_core.training.sources.table import LoadResult

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.dask, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A LocalCluster of two one-thread worker processes on loopback; its address."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        host="127.0.0.1",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def flights(nycflights13_full: LoadResult) -> pd.DataFrame:
    """1,500 flights in the contract's columns (text), two bad: a malformed airport, no date."""
    import pandas as pd

    rows = nycflights13_full.flights.iloc[::200].head(1500)
    frame = pd.DataFrame(
        {
            "companhia": rows["airline"].astype(str).to_numpy(),
            "origem": rows["origin"].astype(str).to_numpy(),
            "destino": rows["destination"].astype(str).to_numpy(),
            "data_partida": rows["scheduled_departure"].dt.strftime("%Y-%m-%dT%H:%M").to_numpy(),
            "distancia_m": rows["distance_m"].round(1).to_numpy(),
            "vento_kmh": rows["wind_kmh"].round(1).to_numpy(),
            "nota": [f"n{i}" for i in range(len(rows))],  # a column the scorer passes through
        }
    )
    frame.loc[3, "origem"] = "ZZ-Z"
    frame.loc[8, "data_partida"] = ""
    return frame


@pytest.fixture(scope="module")
def csv_input(flights: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The flights as a CSV file."""
    path = tmp_path_factory.mktemp("dask_in") / "flights.csv"
    flights.to_csv(path, index=False)
    return path


def read(path: Path) -> pa.Table:
    """A Parquet file, or a directory of them in file-name order, without pandas metadata."""
    table = pq.read_table(path)
    return table.replace_schema_metadata(None)


def assert_same_table(dask_dir: Path, local_file: Path) -> None:
    """Same columns, types and values, row for row."""
    got, want = read(dask_dir), read(local_file)
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows
    assert got.to_pylist() == want.to_pylist()


def test_dask_engine_gives_the_local_engine_output(
    run: Invoke, scheduler: str, csv_input: Path, model_dir: Path, tmp_path: Path
) -> None:
    local = tmp_path / "local.parquet"
    done = run("score", csv_input, local, "--model", model_dir)
    assert done.exit_code == 0, done.output
    out = tmp_path / "scored"
    dask = run(
        "score", csv_input, out, "--model", model_dir, "--engine", "dask",
        "--scheduler", scheduler, "--partition-size", "24KiB", "--chunk-size", "100",
    )  # fmt: skip
    assert dask.exit_code == 0, dask.output
    files = sorted(out.glob("*.parquet"))
    assert len(files) > 2  # partitioned
    assert_same_table(out, local)
    assert "1,500 rows scored" in dask.stderr
    assert "1,498 predicted, 2 refused" in dask.stderr
    assert "origem: airport code must be 3 or 4" in dask.stderr
    table = read(out)
    erro = table.column("erro").to_pylist()
    assert erro[3].startswith("origem: airport code must be")
    assert erro[8] == "data_partida: required field is missing"
    assert table.column("nota").to_pylist() == [f"n{i}" for i in range(1500)]  # order kept

    # Run again over the previous output: it is replaced whole.
    again = run(
        "score", csv_input, out, "--model", model_dir, "--engine", "dask",
        "--scheduler", scheduler, "--partition-size", "64KiB",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert_same_table(out, local)


def test_parquet_directory_in_local_cluster_of_workers(
    run: Invoke, flights: pd.DataFrame, model_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "flights"
    source.mkdir()
    table = pa.Table.from_pandas(flights, preserve_index=False).replace_schema_metadata(None)
    for i, start in enumerate(range(0, len(flights), 400)):
        pq.write_table(
            table.slice(start, 400), source / f"part-{i:03d}.parquet", row_group_size=150
        )
    whole = tmp_path / "whole.parquet"
    pq.write_table(table, whole)
    local = tmp_path / "local.parquet"
    assert run("score", whole, local, "--model", model_dir).exit_code == 0
    out = tmp_path / "scored"
    done = run(
        "score", source, out, "--model", model_dir, "--engine", "dask", "--workers", "2",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "on 2 Dask worker(s)" in done.stderr
    assert_same_table(out, local)


def test_missing_column_exits_1(
    run: Invoke, scheduler: str, flights: pd.DataFrame, model_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "no_date.csv"
    flights.drop(columns=["data_partida"]).to_csv(path, index=False)
    done = run(
        "score", path, tmp_path / "out", "--model", model_dir, "--engine", "dask",
        "--scheduler", scheduler,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "missing required column(s): data_partida" in done.stderr
    assert not (tmp_path / "out").exists()


def test_corrupt_parquet_file_is_named_and_exits_1(
    run: Invoke, scheduler: str, flights: pd.DataFrame, model_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "flights"
    source.mkdir()
    pq.write_table(pa.Table.from_pandas(flights, preserve_index=False), source / "a.parquet")
    (source / "b.parquet").write_bytes(b"PAR1 this is not a parquet file")
    done = run(
        "score", source, tmp_path / "out", "--model", model_dir, "--engine", "dask",
        "--scheduler", scheduler,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "b.parquet: cannot read it as Parquet" in done.stderr
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler_exits_3(
    run: Invoke, csv_input: Path, model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flightontime_cli.cluster

    monkeypatch.setattr(flightontime_cli.cluster, "_CONNECT_TIMEOUT", "1s")
    done = run(
        "score", csv_input, tmp_path / "out", "--model", model_dir, "--engine", "dask",
        "--scheduler", "tcp://127.0.0.1:9",
    )  # fmt: skip
    assert done.exit_code == 3
    assert "the Dask cluster failed: cannot reach the scheduler tcp://127.0.0.1:9" in done.stderr


def test_bad_bundle_exits_1(run: Invoke, scheduler: str, csv_input: Path, tmp_path: Path) -> None:
    done = run(
        "score", csv_input, tmp_path / "out", "--model", tmp_path / "nothing", "--engine",
        "dask", "--scheduler", scheduler,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "cannot load the model bundle" in done.stderr


def test_tampered_bundle_fails_on_the_workers_and_exits_1(
    run: Invoke, scheduler: str, csv_input: Path, bundle_copy: Path, tmp_path: Path
) -> None:
    graph = bundle_copy / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    done = run(
        "score", csv_input, tmp_path / "out", "--model", bundle_copy, "--engine", "dask",
        "--scheduler", scheduler,
    )  # fmt: skip
    assert done.exit_code == 1
    assert "model.onnx" in done.stderr
    assert not (tmp_path / "out").exists()


def test_usage_errors_exit_2(
    run: Invoke, scheduler: str, csv_input: Path, model_dir: Path, tmp_path: Path
) -> None:
    both = run(
        "score", csv_input, tmp_path / "out", "--model", model_dir, "--engine", "dask",
        "--scheduler", scheduler, "--workers", "2",
    )  # fmt: skip
    assert both.exit_code == 2
    to_csv = run(
        "score", csv_input, tmp_path / "out.csv", "--model", model_dir, "--engine", "dask",
    )  # fmt: skip
    assert to_csv.exit_code == 2
    assert "writes a directory of Parquet files" in to_csv.stderr
    local_dir = run("score", tmp_path, tmp_path / "o.csv", "--model", model_dir)
    assert local_dir.exit_code == 2
    assert "--engine dask reads and writes directories" in local_dir.stderr
    local_workers = run("score", csv_input, tmp_path / "o.csv", "--workers", "2")
    assert local_workers.exit_code == 2


def test_train_on_dask_writes_a_bundle_and_the_held_out_metrics(
    run: Invoke, scheduler: str, nycflights13_full: LoadResult, tmp_path: Path
) -> None:
    table = tmp_path / "canonical"
    table.mkdir()
    df = nycflights13_full.flights.iloc[::3]  # a third of the year: every month, less to score
    for month, rows in df.groupby(df["scheduled_departure"].dt.month):
        rows.to_parquet(table / f"month-{month:02d}.parquet", index=False)
    out = tmp_path / "model"
    done = run(
        "train", "--engine", "dask", "--input", table, "--out", out, "--scheduler", scheduler,
        "--max-training-rows", "30000", "--max-rounds", "10",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert (out / "manifest.json").is_file()
    assert "Dask split by month: train 2013-01 → 2013-08" in done.stdout
    assert "Held-out months 2013-11 → 2013-12" in done.stdout
    assert "roc_auc" in done.stdout
    assert "not in the sample (max_training_rows)" in done.stdout
    verify = run("verify", out)
    assert verify.exit_code == 0, verify.output
