"""flightontime_core.cluster on a real `distributed.LocalCluster` (two worker processes on
loopback): scoring equals the in-process scorer and loads the bundle once per worker, the
history tables over partitions equal the in-memory fit byte for byte, the month split equals
the pipeline's, training on a bounded sample uses the Dask tables and evaluates the held-out
months out of core; the core imports without dask."""

from __future__ import annotations

import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from flightontime_core import PredictionService
from flightontime_core.features import FeatureTables, FlightColumns
from flightontime_core.scoring import contract_columns, output_columns, score_frame
from flightontime_core.training.split import delay_label, temporal_split

if TYPE_CHECKING:
    import pandas as pd

    from flightontime_core.training.sources.table import LoadResult

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.dask, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes of one thread each, on loopback, closed at the end."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        host="127.0.0.1",
    )
    connected = distributed.Client(cluster)
    try:
        yield connected
    finally:
        connected.close()
        cluster.close()


@pytest.fixture(scope="module")
def monthly(nycflights13_full: LoadResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """nycflights13 as a partitioned table: one Parquet file per month (canonical columns)."""
    df = nycflights13_full.flights.iloc[::2]  # half the year's rows: every month, less to score
    root = tmp_path_factory.mktemp("monthly")
    months = df["scheduled_departure"].dt.month
    for month in range(1, 13):
        part = df[months == month]
        part.to_parquet(root / f"month-{month:02d}.parquet", index=False, row_group_size=5000)
    return root


def months_of(root: Path, first: int, last: int) -> Any:
    """The partitioned table's files of months first..last, as a Dask DataFrame."""
    files = [str(root / f"month-{m:02d}.parquet") for m in range(first, last + 1)]
    return dd.read_parquet(files, blocksize="64KiB")


@pytest.fixture(scope="module")
def flights(nycflights13_full: LoadResult) -> pd.DataFrame:
    """2,000 flights spread over the year, two of them bad (a malformed airport code, no date)."""
    rows = nycflights13_full.flights.iloc[::168].head(2000)
    # The contract's columns with some weather (wind and temperature).
    base = ["airline", "origin", "destination", "scheduled_departure", "distance_m"]
    frame = contract_columns(rows[[*base, "wind_kmh", "temperature_c"]]).to_pandas()
    frame.loc[5, "origem"] = "ZZ-Z"
    frame.loc[9, "data_partida"] = ""
    return frame


def test_score_dask_equals_the_in_process_scorer(
    client: Any, flights: pd.DataFrame, default_model_dir: Path
) -> None:
    from flightontime_core.cluster import error_count, error_reasons, score_dask

    scored = score_dask(dd.from_pandas(flights, npartitions=6), default_model_dir)
    assert list(scored.columns) == [*flights.columns, *output_columns((15, 30, 60))]
    got, bad, reasons = client.compute(
        [scored, error_count(scored), error_reasons(scored)], sync=True
    )
    service = PredictionService.load(default_model_dir)
    import pandas as pd

    want = pd.concat([flights, score_frame(service, flights)], axis=1)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(got) == len(flights)  # nothing dropped
    assert bad == 2
    assert got.loc[5, "erro"].startswith("origem: airport code must be")
    assert got.loc[9, "erro"] == "data_partida: required field is missing"
    assert got["previsao"].isna().sum() == 2
    assert reasons.groupby(level=0).sum().sum() == 2


def test_bundle_loaded_once_per_worker_and_never_shipped(
    client: Any, flights: pd.DataFrame, default_model_dir: Path
) -> None:
    from flightontime_core.cluster import score_dask, worker_service

    client.run(worker_service.cache_clear)
    scored = score_dask(dd.from_pandas(flights, npartitions=8), default_model_dir)
    client.compute(scored, sync=True)
    info = client.run(lambda: worker_service.cache_info())
    assert sum(i.hits + i.misses for i in info.values()) == 8
    assert all(i.misses <= 1 for i in info.values())  # loaded and verified once per process
    # Only the path and version travel: the graph is far smaller than the model's graph file.
    graph = pickle.dumps(dict(scored.__dask_graph__()))
    assert len(graph) < (default_model_dir / "model.onnx").stat().st_size / 4


def test_score_dask_refuses_missing_columns(default_model_dir: Path) -> None:
    import pandas as pd

    from flightontime_core.cluster import score_dask

    frame = pd.DataFrame({"companhia": ["AA"], "origem": ["JFK"], "destino": ["LAX"]})
    with pytest.raises(ValueError, match=r"missing required column.*data_partida"):
        score_dask(dd.from_pandas(frame, npartitions=1), default_model_dir)


def _in_memory_tables(df: pd.DataFrame, threshold: int, window: Any) -> FeatureTables:
    late = delay_label(
        np.where(
            df["cancelled"].to_numpy(dtype=bool),
            np.nan,
            df["dep_delay_min"].to_numpy(dtype=np.float64, na_value=np.nan),
        ),
        threshold,
    )
    return FeatureTables.fit(
        FlightColumns.from_frame(df), late, label_threshold_min=threshold, window=window
    )


@pytest.mark.parametrize("threshold", [15, 0])
def test_fit_tables_dask_equals_the_in_memory_fit(
    client: Any, nycflights13_full: LoadResult, monthly: Path, threshold: int
) -> None:
    from flightontime_core.cluster import fit_tables_dask

    df = nycflights13_full.flights.iloc[::2]
    df = df[df["scheduled_departure"].dt.month <= 3].reset_index(drop=True)
    days = df["scheduled_departure"].dt.date
    want = _in_memory_tables(df, threshold, (days.min(), days.max()))
    ddf = months_of(monthly, 1, 3)
    assert ddf.npartitions > 3  # several partitions per file
    got = fit_tables_dask(ddf, label_threshold_min=threshold)
    assert got.to_json() == want.to_json()
    # The rows, not their order or partitioning, make the tables.
    shuffled = df.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = fit_tables_dask(dd.from_pandas(shuffled, npartitions=5), label_threshold_min=threshold)
    assert again.to_json() == want.to_json()


def test_split_months_equals_the_pipeline_split(nyc_sorted: pd.DataFrame) -> None:
    from flightontime_core.cluster import split_months

    months = nyc_sorted["scheduled_departure"].dt.strftime("%Y-%m").value_counts()
    split = split_months({str(k): int(v) for k, v in months.items()})
    want = temporal_split(nyc_sorted["scheduled_departure"].to_numpy())
    for name in ("train", "validation", "test"):
        first, last = want.windows[name]
        assert getattr(split, name) == (first.strftime("%Y-%m"), last.strftime("%Y-%m"))
    assert split.rows == len(nyc_sorted)


def test_train_dask_fits_a_bounded_sample_with_the_dask_tables(
    client: Any, nycflights13_full: LoadResult, monthly: Path, tmp_path: Path
) -> None:
    from flightontime_core.bundle import TABLES_FILE
    from flightontime_core.cluster import fit_tables_dask, train_dask
    from flightontime_core.training.pipeline import TrainConfig

    df = nycflights13_full.flights.iloc[::2]
    ddf = months_of(monthly, 1, 12)
    config = TrainConfig(params={"max_iter": 15}, baseline=False, card=False)
    out = tmp_path / "model"
    scale = train_dask(ddf, out, config, max_training_rows=40_000)

    assert scale.split.train == ("2013-01", "2013-08")
    assert scale.split.test == ("2013-11", "2013-12")
    assert 30_000 < scale.sampled_rows < 50_000  # the memory bound, give or take the sampling
    assert scale.result.manifest.data["rows"] == scale.sampled_rows
    # The bundle's tables are the Dask ones over every training-month row, not the sample's.
    months = df["scheduled_departure"].dt.month
    train_tables = fit_tables_dask(months_of(monthly, 1, 8), label_threshold_min=15)
    assert (out / TABLES_FILE).read_bytes() == train_tables.to_json()
    PredictionService.load(out)  # verified and self-tested
    held = scale.held_out
    test = df[months >= 11]
    flown = (~test["cancelled"]) & test["dep_delay_min"].notna()
    assert held["rows"] + held["refused"] == int(flown.sum())
    assert 0.6 < held["roc_auc"] < 0.9
    assert 0.0 < held["brier"] < 0.25


def test_the_core_imports_without_dask(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['dask'] = None\n"
        "sys.modules['distributed'] = None\n"
        "import flightontime_core, flightontime_core.scoring, flightontime_core.cluster\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
