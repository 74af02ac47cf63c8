"""What a training run measured, printed: the metrics table, the decisions, the data and the
bundle (`flightontime train`, local or on Dask)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from flightontime_cli import output

if TYPE_CHECKING:
    from flightontime_core.training.pipeline import TrainResult
    from flightontime_core.training.sources.table import LoadResult

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
