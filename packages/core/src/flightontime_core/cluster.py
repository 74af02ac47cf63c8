"""Past one machine, on Dask (the `flightontime-core[dask]` extra): score a Dask DataFrame of
flights, compute the history tables over partitioned data, train on a bounded sample of it.

    import dask.dataframe as dd
    from flightontime_core.cluster import error_count, score_dask

    scored = score_dask(dd.read_parquet("flights/"), "models/default")
    written, bad = dask.compute(scored.to_parquet("scored/", compute=False), error_count(scored))

Scoring is one `map_partitions` of the core's `scoring.score_frame`, which goes through the
same `score_chunk` as `score_table` and `score_file` (the command line's local engine). Only
the bundle's path and version travel with the tasks: each worker process loads and verifies
the bundle once, on its first partition, and keeps it (`worker_service`); the Model is never
pickled. The path must therefore name the same bundle on every worker (a volume, or the
bundle baked into the worker image).

This module imports dask only inside its functions, and the core never imports it: the core
stays importable without the extra.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from flightontime_core.features import SMOOTHING
from flightontime_core.scoring import (
    ERROR_COLUMN,
    check_columns,
    pandas_dtypes,
    score_frame,
)

if TYPE_CHECKING:
    import pandas as pd

    from flightontime_core.features import FeatureTables
    from flightontime_core.service import PredictionService
    from flightontime_core.training.pipeline import TrainConfig, TrainResult
    from flightontime_core.training.sources.table import LoadResult

# Rows per `predict_table` call inside a partition: a partition's memory is its frame plus one
# chunk's columns, whatever the partition's size.
DEFAULT_CHUNK_ROWS: Final = 50_000
# The memory bound of `train_dask`: at most this many rows are fitted in memory, whatever the
# size of the table (the in-memory pipeline holds every fitted row's features at once).
DEFAULT_MAX_TRAINING_ROWS: Final = 2_000_000
# Probabilities are binned at the contract's precision for the out-of-core ROC AUC.
_AUC_BINS: Final = 10_001
_CANONICAL: Final = ("airline", "origin", "destination", "scheduled_departure")


# -- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleRef:
    """What a task carries of a model: its path and the version the client read there."""

    path: str
    version: str
    thresholds: tuple[int, ...]

    @classmethod
    def read(cls, model_dir: str | Path) -> BundleRef:
        """The manifests of the bundle or directory of bundles, read on the client
        (BundleError when it holds none); the version names every bundle, in order."""
        from flightontime_core.bundle import read_manifest
        from flightontime_core.service import bundle_paths

        path = Path(model_dir).absolute()
        manifests = [read_manifest(p) for p in bundle_paths(path)]
        version = "+".join(m.model_version for m in manifests)
        return cls(str(path), version, tuple(manifests[0].behaviour.thresholds))


@functools.lru_cache(maxsize=4)
def worker_service(path: str, version: str, threads: int = 1) -> PredictionService:
    """The verified, self-tested bundle at `path`, loaded once per process (cached by path,
    version and threads); BundleError when it is not the version the client read."""
    from flightontime_core.errors import BundleError
    from flightontime_core.service import PredictionService

    service = PredictionService.load(path, threads=threads)
    found = "+".join(m.version for m in service.models)
    if found != version:
        raise BundleError(
            None,
            f"the bundle at {path} on this worker is {found}, the client read "
            f"{version} (give every worker the same bundle)",
        )
    return service


def _score_partition(
    frame: pd.DataFrame, path: str, version: str, language: str, chunk_rows: int, threads: int
) -> pd.DataFrame:
    import pandas as pd

    service = worker_service(path, version, threads)
    parts = [
        score_frame(service, frame.iloc[start : start + chunk_rows], language)
        for start in range(0, len(frame), chunk_rows)
    ] or [score_frame(service, frame, language)]
    return pd.concat([frame, pd.concat(parts)], axis=1)


def scored_meta(meta: pd.DataFrame, thresholds: Sequence[int]) -> pd.DataFrame:
    """The empty frame `score_dask` returns: the input's columns, then the output columns."""
    import pandas as pd

    added = pd.DataFrame(
        {name: pd.Series(dtype=dtype) for name, dtype in pandas_dtypes(thresholds).items()},
        index=meta.index,
    )
    return pd.concat([meta, added], axis=1)


def score_dask(
    ddf: Any,
    model_dir: str | Path,
    *,
    language: str = "en",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    threads: int = 1,
) -> Any:
    """Score a Dask DataFrame of contract-named flights: its columns plus the answer's, lazily;
    a row that cannot be scored keeps its place with the reasons in `erro` (`error_count`)."""
    from flightontime_core.errors import BundleError

    ref = BundleRef.read(model_dir)
    check_columns(list(ddf.columns), ref.thresholds)
    if chunk_rows < 1 or threads < 1:
        raise BundleError(None, "chunk_rows and threads must be >= 1")
    return ddf.map_partitions(
        _score_partition,
        ref.path,
        ref.version,
        language,
        chunk_rows,
        threads,
        meta=scored_meta(ddf._meta, ref.thresholds),
    )


def error_count(scored: Any) -> Any:
    """A lazy count of the rows `score_dask` could not score (compute it with the output)."""
    return (scored[ERROR_COLUMN] != "").sum()


def _reasons(errors: pd.Series) -> pd.Series:
    counts: pd.Series = errors[errors != ""].value_counts()
    return counts


def error_reasons(scored: Any) -> Any:
    """A lazy Series of `erro` texts and their row counts per partition (a text may repeat
    across partitions: `.groupby(level=0).sum()` on the computed Series totals them)."""
    import pandas as pd

    meta = pd.Series(dtype="int64", index=pd.Index([], dtype=object), name="count")
    # Counted per partition, summed on the client: no shuffle for a handful of reasons.
    return scored[ERROR_COLUMN].map_partitions(_reasons, meta=meta)


def scored_schema(input_schema: Any, thresholds: Sequence[int]) -> Any:
    """The pyarrow schema of a scored table: the input's fields, then the output columns'."""
    import pyarrow as pa

    from flightontime_core.scoring import arrow_types

    added = [pa.field(name, t) for name, t in arrow_types(thresholds).items()]
    return pa.schema([*input_schema, *added])


# -- history tables ---------------------------------------------------------------------------


def _labels(frame: pd.DataFrame, threshold: int) -> np.ndarray:
    from flightontime_core.training.split import delay_label

    cancelled = frame["cancelled"].to_numpy(dtype=bool)
    delay = frame["dep_delay_min"].to_numpy(dtype=np.float64, na_value=np.nan)
    return delay_label(np.where(cancelled, np.nan, delay), threshold)


_COUNTED: Final = ("hits", "flown", "scheduled", "first", "last")


def _partial_counts(frame: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """One partition's history counts (`features.count_history`) as one long frame."""
    import pandas as pd

    from flightontime_core.features import FlightColumns, count_history

    if len(frame) == 0:
        return _empty_counts()
    # The same column preparation as the in-memory fit (upper-cased airlines, wall minutes).
    tallies = count_history(FlightColumns.from_frame(frame), _labels(frame, threshold))
    parts = [
        pd.DataFrame(
            {
                "kind": kind,
                "key": tally.keys.astype(object),
                "slot": tally.slots,
                **{name: getattr(tally, name) for name in _COUNTED},
            }
        )
        for kind, tally in tallies.items()
    ]
    return _combine(pd.concat(parts, ignore_index=True))


def _empty_counts() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(
        {
            "kind": pd.Series(dtype=object),
            "key": pd.Series(dtype=object),
            "slot": pd.Series(dtype=np.int64),
            "hits": pd.Series(dtype=np.float64),
            "flown": pd.Series(dtype=np.int64),
            "scheduled": pd.Series(dtype=np.int64),
            "first": pd.Series(dtype=np.int64),
            "last": pd.Series(dtype=np.int64),
        }
    )


def _combine(counts: pd.DataFrame) -> pd.DataFrame:
    # Sums of 0/1 labels are whole numbers: exact in float64 in any order of partitions.
    grouped = counts.groupby(["kind", "key", "slot"], sort=True, observed=True)
    out = grouped.agg(
        hits=("hits", "sum"),
        flown=("flown", "sum"),
        scheduled=("scheduled", "sum"),
        first=("first", "min"),
        last=("last", "max"),
    )
    return out.reset_index().astype({"kind": object, "key": object})


def table_counts(ddf: Any, label_threshold_min: int) -> pd.DataFrame:
    """Per table, code and slot: flown rows, late ones among them and scheduled rows, summed
    over every partition of a canonical flights table (one pass, a small frame back)."""
    import pandas as pd

    partial = ddf.map_partitions(_partial_counts, label_threshold_min, meta=_empty_counts())
    return _combine(pd.concat([p for p in [partial.compute()] if len(p)] or [_empty_counts()]))


def tables_from_counts(
    counts: pd.DataFrame,
    *,
    label_threshold_min: int,
    window: tuple[date, date] | None = None,
    smoothing: float = SMOOTHING,
) -> FeatureTables:
    """`FeatureTables` from `table_counts`: `FeatureTables.from_counts` on the summed counts."""
    from flightontime_core.features import HISTORY_KINDS, FeatureTables, Tally

    if counts.empty:
        raise ValueError("cannot fit feature tables on an empty training window")
    tallies = {}
    for kind in HISTORY_KINDS:
        rows = counts[counts["kind"] == kind]
        tallies[kind] = Tally(
            keys=np.array(rows["key"].tolist(), dtype=str),
            slots=rows["slot"].to_numpy(dtype=np.int64),
            hits=rows["hits"].to_numpy(dtype=np.float64),
            flown=rows["flown"].to_numpy(dtype=np.int64),
            scheduled=rows["scheduled"].to_numpy(dtype=np.int64),
            first=rows["first"].to_numpy(dtype=np.int64),
            last=rows["last"].to_numpy(dtype=np.int64),
        )
    if window is None:
        airline = tallies["airline"]
        window = _window(int(airline.first.min()), int(airline.last.max()))
    return FeatureTables.from_counts(
        tallies, label_threshold_min=label_threshold_min, window=window, smoothing=smoothing
    )


def _window(first_minute: int, last_minute: int) -> tuple[date, date]:
    from flightontime_core.calendar import EPOCH_ORDINAL
    from flightontime_core.features import MINUTES_PER_DAY

    return (
        date.fromordinal(first_minute // MINUTES_PER_DAY + EPOCH_ORDINAL),
        date.fromordinal(last_minute // MINUTES_PER_DAY + EPOCH_ORDINAL),
    )


def fit_tables_dask(
    ddf: Any,
    *,
    label_threshold_min: int,
    window: tuple[date, date] | None = None,
    smoothing: float = SMOOTHING,
) -> FeatureTables:
    """`FeatureTables.fit` over a Dask DataFrame of canonical flights (airline, origin,
    destination, scheduled_departure, dep_delay_min, cancelled), one pass over its partitions;
    `window` defaults to the first and last day of the rows."""
    columns = [*_CANONICAL, "distance_m", "dep_delay_min", "cancelled"]
    counts = table_counts(ddf[columns], label_threshold_min)
    return tables_from_counts(
        counts, label_threshold_min=label_threshold_min, window=window, smoothing=smoothing
    )


# -- training on a bounded sample -------------------------------------------------------------


@dataclass(frozen=True)
class MonthSplit:
    """The temporal split of a partitioned table by month (as the in-memory pipeline's)."""

    train: tuple[str, str]  # first and last month, "YYYY-MM"
    validation: tuple[str, str]
    test: tuple[str, str]
    rows: int


def split_months(months: Mapping[str, int]) -> MonthSplit:
    """70/15/15 % of the distinct months (rows per "YYYY-MM"), as `temporal_split` counts."""
    from flightontime_core.training.split import MIN_MONTHS_FOR_MONTH_SPLIT, SPLIT_FRACTIONS

    units = sorted(months)
    n = len(units)
    if n < MIN_MONTHS_FOR_MONTH_SPLIT:
        raise ValueError(
            f"the Dask path splits by month: need at least {MIN_MONTHS_FOR_MONTH_SPLIT} "
            f"months, got {n} (train in memory instead)"
        )
    n_train = min(max(1, round(SPLIT_FRACTIONS[0] * n)), n - 2)
    n_val_end = min(max(n_train + 1, round(SPLIT_FRACTIONS[1] * n)), n - 1)
    return MonthSplit(
        (units[0], units[n_train - 1]),
        (units[n_train], units[n_val_end - 1]),
        (units[n_val_end], units[-1]),
        sum(months.values()),
    )


def _month_of(frame: pd.DataFrame) -> pd.Series:
    months: pd.Series = frame["scheduled_departure"].dt.strftime("%Y-%m")
    return months


def _in_months(frame: pd.DataFrame, first: str, last: str) -> pd.DataFrame:
    month = _month_of(frame)
    return frame[(month >= first) & (month <= last)]


def _sample(frame: pd.DataFrame, fraction: float, seed: int) -> pd.DataFrame:
    if fraction >= 1.0 or len(frame) == 0:
        return frame
    # Seeded by the partition's first departure and size: the same data, the same sample.
    first = int(frame["scheduled_departure"].min().value // 60_000_000_000)
    rng = np.random.default_rng([seed, first & 0xFFFFFFFF, len(frame)])
    return frame[rng.random(len(frame)) < fraction]


@dataclass
class ScaleResult:
    """A training run on a partitioned table: the bundle and what was measured out of core."""

    result: TrainResult
    load: LoadResult  # the sample the models were fitted on (its bad_rows: the rows left out)
    split: MonthSplit
    sampled_rows: int
    sample_fraction: float
    held_out: dict[str, Any]


def _held_out_sums(
    frame: pd.DataFrame, path: str, version: str, threshold: int, with_weather: bool
) -> dict[str, Any]:
    from flightontime_core.errors import FlightError
    from flightontime_core.training.evaluate import flights_of

    late = _labels(frame, threshold)
    known = ~np.isnan(late)
    y = late[known]
    answers = worker_service(path, version).predict_many(flights_of(frame[known], with_weather))
    # A flight the bundle cannot answer (an airport unknown to the reference data) is counted,
    # not scored.
    scored = np.array([not isinstance(a, FlightError) for a in answers], dtype=bool)
    p = np.array([a.probability for a in answers if not isinstance(a, FlightError)])
    y = y[scored]
    clipped = np.clip(p, 1e-15, 1 - 1e-15)
    bins = np.rint(p * (_AUC_BINS - 1)).astype(np.int64)
    return {
        "positives": np.bincount(bins[y == 1], minlength=_AUC_BINS),
        "negatives": np.bincount(bins[y == 0], minlength=_AUC_BINS),
        "rows": int(y.size),
        "refused": int((~scored).sum()),
        "late": float(y.sum()),
        "predicted": float(p.sum()),
        "brier": float(((p - y) ** 2).sum()),
        "log_loss": float(-(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).sum()),
    }


def evaluate_held_out(
    ddf: Any, model_dir: str | Path, threshold: int, with_weather: bool
) -> dict[str, Any]:
    """Primary-label metrics of a bundle on a Dask DataFrame of canonical flights, out of
    core: sums per partition, added up (ROC AUC on probabilities binned to 1e-4)."""
    from dask.base import compute
    from dask.delayed import delayed

    ref = BundleRef.read(model_dir)
    task = delayed(_held_out_sums, pure=True)
    parts = [
        task(part, ref.path, ref.version, threshold, with_weather) for part in ddf.to_delayed()
    ]
    sums: tuple[dict[str, Any], ...] = compute(*parts)  # type: ignore[no-untyped-call]
    n = sum(s["rows"] for s in sums)
    if n == 0:
        return {"rows": 0}
    positives = np.sum([s["positives"] for s in sums], axis=0)
    negatives = np.sum([s["negatives"] for s in sums], axis=0)

    def total(key: str) -> float:
        return float(sum(s[key] for s in sums))

    return {
        "rows": int(n),
        "refused": int(total("refused")),
        "roc_auc": _binned_auc(positives, negatives),
        "brier": total("brier") / n,
        "log_loss": total("log_loss") / n,
        "mean_predicted": total("predicted") / n,
        "observed_rate": total("late") / n,
    }


def _binned_auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    # P(a late flight scores above an on-time one), ties within a bin counted half.
    n_pos, n_neg = float(positives.sum()), float(negatives.sum())
    if n_pos == 0 or n_neg == 0:
        return None
    below = np.cumsum(negatives) - negatives
    wins = float((positives * (below + 0.5 * negatives)).sum())
    return wins / (n_pos * n_neg)


def _months(ddf: Any) -> dict[str, int]:
    counts = ddf["scheduled_departure"].map_partitions(
        lambda s: s.dt.strftime("%Y-%m"), meta=("scheduled_departure", object)
    )
    return {str(k): int(v) for k, v in counts.value_counts().compute().items()}


def train_dask(
    ddf: Any,
    out: str | Path,
    config: TrainConfig | None = None,
    *,
    max_training_rows: int = DEFAULT_MAX_TRAINING_ROWS,
    source: str = "partitioned table",
    progress: Callable[[str], None] | None = None,
) -> ScaleResult:
    """Train on a partitioned canonical table: the history tables over every row of the
    training months (Dask); the models on a time-ordered sample of at most
    `max_training_rows` rows (in memory, split by the same months); the test months scored
    out of core with the new bundle."""
    from flightontime_core.flights import WEATHER_FIELDS
    from flightontime_core.training.pipeline import TrainConfig, train_bundle
    from flightontime_core.training.sources.table import LoadResult

    config = config or TrainConfig()
    if config.retrain_all:
        raise ValueError("retrain_all is not available on the Dask path")
    if max_training_rows < 1:
        raise ValueError("max_training_rows must be >= 1")
    say = progress or (lambda _stage: None)
    say("months")
    months = _months(ddf)
    split = split_months(months)
    primary = config.thresholds[0]
    say("history tables")
    meta = ddf._meta
    train_rows = ddf.map_partitions(_in_months, *split.train, meta=meta)
    tables = fit_tables_dask(train_rows, label_threshold_min=primary)
    fraction = min(1.0, max_training_rows / max(split.rows, 1))
    say("sample")
    sample = ddf.map_partitions(_sample, fraction, config.seed, meta=meta).compute()
    sample = sample.sort_values("scheduled_departure", kind="mergesort").reset_index(drop=True)
    if set(_months_of_frame(sample)) != set(months):
        raise ValueError(
            "the sample misses whole months (raise max_training_rows): its split would "
            "differ from the table's"
        )
    has_weather = all(name in sample.columns for name in WEATHER_FIELDS)
    load = LoadResult(
        flights=sample,
        source=source,
        has_weather=has_weather,
        bad_rows=Counter({"not in the sample (max_training_rows)": split.rows - len(sample)}),
        rows_read=split.rows,
    )
    result = train_bundle(load, Path(out), replace(config, tables=tables), progress=say)
    say("held-out months")
    test_rows = ddf.map_partitions(_in_months, *split.test, meta=meta)
    held_out = evaluate_held_out(test_rows, out, primary, has_weather)
    held_out["months"] = list(split.test)
    return ScaleResult(result, load, split, len(sample), fraction, held_out)


def _months_of_frame(frame: pd.DataFrame) -> list[str]:
    return [str(m) for m in _month_of(frame).unique()]
