"""The model card: Markdown with PNG plots, from a bundle's manifest and evaluation curves only.

Every number the card shows is read from the manifest or the curves (evaluation.json), never
computed here, so it can be rebuilt from any verified bundle and says what that bundle
measured. matplotlib (the [train] extra) is imported only when a plot is drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from flightontime_core.bundle import (
    CANCELLATION,
    EVALUATION_FILE,
    Bundle,
    Manifest,
    ModelSpec,
    read_verified,
)
from flightontime_core.errors import BundleError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CARD_FILE: Final = "model_card.md"
ROC_PLOT: Final = "card_roc.png"
RELIABILITY_PLOT: Final = "card_reliability.png"
FACTORS_PLOT: Final = "card_factors.png"
BY_HOUR_PLOT: Final = "card_delay_by_hour.png"
# Fixed resolution: the same inputs must give the same bytes (the bundle hashes the card).
DPI: Final = 110

# The series of the ROC and reliability plots, in drawing order, with fixed colours so the
# same series looks the same in every plot.
_SERIES: Final = (
    ("model_with_weather", "model, weather given", "tab:blue"),
    ("model_without_weather", "model, no weather", "tab:orange"),
    ("baseline", "baseline (seed project's shape)", "tab:grey"),
)
_CASES: Final = (
    ("with_weather", "weather given", "tab:blue"),
    ("without_weather", "no weather", "tab:orange"),
)
_METRIC_ROWS: Final = (
    ("roc_auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("brier", "Brier score"),
    ("log_loss", "log loss"),
    ("ece", "ECE"),
    ("mean_predicted", "mean prediction"),
    ("observed_rate", "observed rate"),
    ("rows", "test rows"),
)


def _f(value: Any, digits: int = 4) -> str:
    """A number as the card prints it: floats with `digits` decimals, "—" when unknown."""
    if value is None or isinstance(value, bool):
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "—"
    return str(value)


def _window(value: Any) -> str:
    if isinstance(value, list | tuple) and len(value) == 2:
        return f"{value[0]} → {value[1]}"
    return "—"


def _section(mapping: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A sub-dictionary of the manifest or the curves, empty when absent or not a mapping."""
    value = mapping.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


# -- plots ----------------------------------------------------------------------------------------


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" entry: the bytes then depend on the drawing only, not on the version string.
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    # A bare Figure renders with Agg without pyplot: no global figure list to leak into, no
    # backend switch in a process that may have a GUI of its own.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _roc_plot(roc: Mapping[str, Any]) -> bytes | None:
    drawn = [(key, label, colour) for key, label, colour in _SERIES if _has_xy(roc.get(key))]
    if not drawn:
        return None
    figure, ax = _figure(5.5, 5)
    for key, label, colour in drawn:
        ax.plot(roc[key]["x"], roc[key]["y"], label=label, color=colour)
    ax.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=0.8, label="chance")
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title="ROC, test window (primary label)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="lower right")
    return _png(figure)


def _has_xy(curve: Any) -> bool:
    return isinstance(curve, Mapping) and bool(curve.get("x")) and bool(curve.get("y"))


def _reliability_plot(reliability: Mapping[str, Any]) -> bytes | None:
    drawn = [
        (key, label, colour)
        for key, label, colour in _SERIES
        if isinstance(bins := reliability.get(key), Mapping) and bins.get("mean_predicted")
    ]
    if not drawn:
        return None
    figure, ax = _figure(5.5, 5)
    for key, label, colour in drawn:
        bins = reliability[key]
        ax.plot(bins["mean_predicted"], bins["observed_rate"], label=label, color=colour)
        # Marker area follows the bin's share of flights: a bin of a few flights at the top
        # of the range must not look as solid as the crowded bins below it.
        counts = [float(c) for c in bins.get("count") or []]
        total = sum(counts)
        if len(counts) == len(bins["mean_predicted"]) and total > 0:
            sizes = [8 + 200 * c / total for c in counts]
        else:
            sizes = [20.0] * len(bins["mean_predicted"])
        ax.scatter(bins["mean_predicted"], bins["observed_rate"], s=sizes, color=colour)
    ax.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=0.8, label="perfect")
    ax.set(
        xlabel="predicted probability (bin mean)",
        ylabel="observed delay rate",
        title="Reliability, test window (primary label)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    return _png(figure)


def _factor_rows(weights: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Groups to draw (largest weight first) and the cases that have weights."""
    cases = [c for c in _CASES if isinstance(weights.get(c[0]), Mapping) and weights[c[0]]]
    groups: dict[str, float] = {}
    for case, _, _ in cases:
        for group, value in weights[case].items():
            if isinstance(value, int | float) and math.isfinite(value):
                groups[str(group)] = max(groups.get(str(group), 0.0), float(value))
    # A group never named (weather without weather given) would only be an empty row.
    kept = [g for g, w in groups.items() if w > 0]
    kept.sort(key=lambda g: (-groups[g], g))
    return kept, cases


def _factors_plot(weights: Mapping[str, Any]) -> bytes | None:
    groups, cases = _factor_rows(weights)
    if not groups:
        return None
    height = 0.8 / len(cases)
    figure, ax = _figure(6.5, 0.35 * len(groups) * len(cases) + 1.4)
    for i, (case, label, colour) in enumerate(cases):
        values = [float(weights[case].get(g) or 0.0) for g in groups]
        # Largest weight at the top: rows go down from the first group.
        positions = [-(row + i * height) for row in range(len(groups))]
        ax.barh(positions, values, height=height, label=label, color=colour)
    ax.set_yticks([-(row + (len(cases) - 1) * height / 2) for row in range(len(groups))])
    ax.set_yticklabels(groups)
    ax.set(
        xlabel="mean |log-odds contribution| when named, per test flight",
        title="Factor weight (primary model, test window)",
    )
    ax.legend(loc="lower right")
    return _png(figure)


def _by_hour_plot(by_hour: Mapping[str, Any], label: str) -> bytes | None:
    hours = by_hour.get("hour") or []
    series = []
    for key, name, colour in (
        ("train", "training window", "tab:green"),
        ("test", "test window", "tab:red"),
    ):
        values = by_hour.get(key) or []
        points = [(h, v) for h, v in zip(hours, values, strict=False) if v is not None]
        if points:
            series.append((name, colour, points))
    if not series:
        return None
    figure, ax = _figure(7, 4)
    for name, colour, points in series:
        ax.plot(
            [h for h, _ in points], [v for _, v in points], marker="o", label=name, color=colour
        )
    ax.set(
        xlabel="scheduled departure hour (local)",
        ylabel="delay rate",
        title=f"Delay rate by hour ({label})",
        xticks=range(0, 24, 2),
    )
    ax.legend()
    return _png(figure)


def _plots(curves: Mapping[str, Any]) -> dict[str, bytes]:
    """The PNGs whose data the curves hold, by file name."""
    import matplotlib

    label = str(curves.get("label") or "primary label")
    plots: dict[str, bytes | None] = {}
    # matplotlib's defaults, not the local matplotlibrc: the same card on every machine.
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # undone when the context ends
        plots[ROC_PLOT] = _roc_plot(_section(curves, "roc"))
        plots[RELIABILITY_PLOT] = _reliability_plot(_section(curves, "reliability"))
        plots[FACTORS_PLOT] = _factors_plot(_section(curves, "factor_weight"))
        plots[BY_HOUR_PLOT] = _by_hour_plot(_section(curves, "delay_rate_by_hour"), label)
    return {name: png for name, png in plots.items() if png is not None}


# -- Markdown -------------------------------------------------------------------------------------


def _table(
    header: Iterable[str], rows: Iterable[Iterable[str]], numeric_from: int = 1
) -> list[str]:
    header = list(header)
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _minutes(key: str | int | None) -> str:
    return "—" if key is None else f"{key} min"


def _header(m: Manifest) -> list[str]:
    made = []
    if m.created:
        made.append(f"Created {m.created}")
    if m.package_version:
        made.append(f"by flightontime-core {m.package_version}")
    made.append(f"(bundle format {m.format}).")
    return [f"# Model card — FlightOnTime {m.model_version}", "", " ".join(made), ""]


def _what_it_predicts(m: Manifest) -> list[str]:
    b = m.behaviour
    primary = b.thresholds[0]
    definitions = _section(m.label, "definitions")
    validation = _section(m.metrics, "validation")
    lines = [
        "## What it predicts",
        "",
        "The probability that a flight departs late, for each label threshold: "
        + "; ".join(f"**{t} min**: {definitions.get(str(t), '—')}" for t in b.thresholds)
        + f". The first ({primary} min) is the primary answer. "
        + "Cancelled flights: "
        + str(m.label.get("cancelled_flights") or "never delay rows")
        + ".",
        "",
        f"The yes/no answer (`previsao`) is 1 when the primary probability is at least "
        f"**{_f(b.decision_threshold)}**"
        + (f", {validation['note']}." if validation.get("note") else "."),
        "",
        "### The chain of models",
        "",
        "Each longer threshold has its own model, fitted on the flights late by the previous "
        "threshold; its probability is the product down the chain, so a longer threshold's "
        "probability never exceeds a shorter one's. Flights sent with a weather forecast are "
        "answered by the `weather` variant, flights without one by the `plain` variant; the "
        "two share the conditional and cancellation models. Every model is a scikit-learn "
        "HistGradientBoosting classifier; all of them, with the primary models' factor "
        "contributions, are one ONNX graph, so one onnxruntime run answers a whole batch.",
        "",
    ]
    iterations = _section(m.training, "iterations")
    primary_key = str(primary)
    rows = [
        [
            variant.name,
            _minutes(spec.key) if spec.key != CANCELLATION else "cancellation",
            spec.label or "—",
            _minutes(spec.given),
            str(len(spec.columns)),
            spec.calibration.method,
            " + ".join(
                _f(i)
                for i in iterations.get(
                    f"{variant.name}:{spec.key}" if spec.key == primary_key else spec.key, []
                )
            )
            or "—",
        ]
        for variant in b.variants
        for spec in variant.models
    ]
    lines += _table(
        ["variant", "model", "answers", "conditional on", "members", "calibration", "trees"],
        rows,
        numeric_from=4,
    )
    lines.append("")
    if m.cancellation.get("available"):
        lines.append(
            "The cancellation model gives the probability that the flight is cancelled "
            f"({m.cancellation.get('reason', '—')})."
        )
    else:
        lines.append(f"No cancellation model: {m.cancellation.get('reason', 'not trained')}.")
    lines.append("")
    return lines


def _inputs(m: Manifest) -> list[str]:
    b = m.behaviour
    weather = (
        "; optionally the weather at the origin for the scheduled hour ("
        + ", ".join(b.weather_fields)
        + ")."
        if b.weather_fields
        else ". This bundle was trained without weather."
    )
    lines = [
        "## Inputs",
        "",
        "Airline, origin, destination, scheduled local departure, distance (the great-circle "
        "distance when not given)" + weather,
    ]
    share = m.training.get("weather_hidden_share")
    if b.weather_fields and share is not None:
        lines.append(
            f"The weather variant's models and the shared ones were trained with the weather of "
            f"a seeded random share of their rows ({_f(share)} of them) hidden, so they answer "
            "with a partial forecast or none; the plain variant's primary model never sees "
            "weather."
        )
    lines += [
        "",
        f"Features (definition {b.feature_definition}): "
        + ", ".join(f"`{n}`" for n in b.feature_names)
        + ".",
        "",
    ]
    return lines


def _data(m: Manifest) -> list[str]:
    data = m.data
    if not data:
        return []
    bad = _section(data, "bad_rows")
    issues = _section(data, "weather_issues")
    lines = [
        "## Data",
        "",
        f"- Source: **{data.get('source', '—')}**, {_window(data.get('date_range'))}; "
        f"{_f(data.get('rows_read'))} rows read, {_f(data.get('rows'))} kept.",
        "- Rows dropped by reason: "
        + (", ".join(f"{k}: {_f(v)}" for k, v in bad.items()) or "none")
        + ".",
    ]
    if issues:
        lines.append(
            "- Weather values set aside: "
            + ", ".join(f"{k}: {_f(v)}" for k, v in issues.items())
            + "."
        )
    lines += [
        f"- Weather: {_f(data.get('has_weather'))}; cancelled flights in the source: "
        f"{_f(data.get('has_cancelled'))}.",
        "",
    ]
    return lines


def _split(m: Manifest) -> list[str]:
    split = m.split
    if not split:
        return []
    lines = ["## Split (temporal, never random)", ""]
    if split.get("rule"):
        lines += [f"{split['rule']}.", ""]
    rows = []
    for part in ("train", "validation", "test"):
        p = _section(split, part)
        if p:
            rows.append(
                [
                    part,
                    _window(p.get("window")),
                    _f(p.get("scheduled")),
                    _f(p.get("delay_rows")),
                    _f(p.get("cancelled")),
                ]
            )
    lines += _table(["part", "window", "scheduled", "delay rows", "cancelled"], rows, 2)
    lines += [
        "",
        "All statistics the features use (vocabularies, historical delay rates, schedule "
        "density) come from the training window only.",
        "",
    ]
    return lines


def _model_metrics(m: Manifest, case: str, threshold: int) -> dict[str, Any]:
    return _section(_section(_section(m.metrics, "model"), case), str(threshold))


def _metrics(m: Manifest) -> list[str]:
    metrics = m.metrics
    primary = m.behaviour.thresholds[0]
    lines = [f"## Metrics on the test window ({primary}-minute label)", ""]
    if not metrics:
        return [*lines, "This manifest holds no metrics.", ""]
    if m.training.get("retrained_on_all_rows"):
        lines += [
            f"**Retrained on all rows.** Metrics come from {m.training.get('metrics_from', '—')}.",
            "",
        ]
    lines += [
        f"Test window {_window(metrics.get('test_window'))}. Measured through the library's "
        "serving path (`load_model` + `predict_many`: the same ONNX graph, feature tables and "
        "calibration that answer requests) on the same test rows for every column. "
        "*Weather given* sends each test flight with its recorded origin weather, *no weather* "
        "the same flights without it.",
        "",
    ]
    columns = [(f"model, {title}", _model_metrics(m, case, primary)) for case, title, _ in _CASES]
    columns.append(("baseline", _section(metrics, "baseline")))
    columns = [(name, values) for name, values in columns if values]
    if columns:
        lines += _table(
            ["metric", *(name for name, _ in columns)],
            ([label, *(_f(v.get(key)) for _, v in columns)] for key, label in _METRIC_ROWS),
        )
        lines.append("")
    baseline = _section(metrics, "baseline")
    if baseline.get("description"):
        lines += [f"Baseline: {baseline['description']}.", ""]
    lines += _at_decision(m)
    lines += _other_thresholds(m)
    lines += _cancellation_metrics(m)
    return lines


def _at_decision(m: Manifest) -> list[str]:
    lines = []
    primary = m.behaviour.thresholds[0]
    for case, title, _ in _CASES:
        at = _model_metrics(m, case, primary).get("at_decision_threshold")
        if isinstance(at, Mapping):
            lines.append(
                f"- At the decision threshold ({_f(at.get('threshold'))}), {title}: precision "
                f"{_f(at.get('precision'))}, recall {_f(at.get('recall'))}, "
                f"F1 {_f(at.get('f1'))}."
            )
    chosen = _section(_section(m.metrics, "validation"), "decision_threshold")
    if chosen:
        lines.append(
            f"- On the validation window, where it was chosen: precision "
            f"{_f(chosen.get('precision'))}, recall {_f(chosen.get('recall'))}, "
            f"F1 {_f(chosen.get('f1'))}."
        )
    return [*lines, ""] if lines else []


def _other_thresholds(m: Manifest) -> list[str]:
    rows = []
    for threshold in m.behaviour.thresholds:
        for case, title, _ in _CASES:
            v = _model_metrics(m, case, threshold)
            if v:
                rows.append(
                    [
                        f"{threshold} min",
                        title,
                        *(_f(v.get(k)) for k in ("roc_auc", "pr_auc", "brier", "ece")),
                        _f(v.get("mean_predicted")),
                        _f(v.get("observed_rate")),
                        _f(v.get("rows")),
                    ]
                )
    if not rows:
        return []
    return [
        "### Every threshold",
        "",
        "The chained probability of each threshold against its label, on every flown test flight.",
        "",
        *_table(
            [
                "threshold",
                "case",
                "ROC AUC",
                "PR AUC",
                "Brier",
                "ECE",
                "mean prediction",
                "observed rate",
                "rows",
            ],
            rows,
            numeric_from=2,
        ),
        "",
    ]


def _cancellation_metrics(m: Manifest) -> list[str]:
    c = _section(m.metrics, "cancellation")
    if c:
        return [
            f"Cancellation model on every scheduled test flight: ROC AUC {_f(c.get('roc_auc'))}, "
            f"PR AUC {_f(c.get('pr_auc'))}, Brier {_f(c.get('brier'))}, ECE {_f(c.get('ece'))}, "
            f"mean prediction {_f(c.get('mean_predicted'))} vs observed "
            f"{_f(c.get('observed_rate'))}.",
            "",
        ]
    return [f"No cancellation model: {m.cancellation.get('reason', 'not trained')}.", ""]


def _name(spec: ModelSpec) -> str:
    return "cancellation" if spec.key == CANCELLATION else _minutes(spec.key)


def _calibration(m: Manifest) -> list[str]:
    reports = _section(m.training, "calibration")
    lines = [
        "## Calibration",
        "",
        "Chosen per model on the validation window: a calibrator is kept only where it "
        "improves the curve's shape on both halves of that window.",
        "",
    ]
    for variant in m.behaviour.variants:
        for spec in variant.models:
            lines.append(
                _calibration_line(
                    variant.name, spec, _section(reports, f"{variant.name}:{spec.key}")
                )
            )
    return [*lines, ""]


def _calibration_line(variant: str, spec: ModelSpec, report: Mapping[str, Any]) -> str:
    decision = report.get("decision", spec.calibration.method)
    reason = report.get("reason")
    raw = report.get("ece_validation_raw")
    return (
        f"- {variant}, {_name(spec)}: **{decision}**"
        + (f" — {reason}" if reason else "")
        + (f" (validation ECE before calibration {_f(raw)})" if raw is not None else "")
        + "."
    )


_PLOT_TEXT: Final = (
    (
        ROC_PLOT,
        "ROC curve, model vs baseline",
        "True against false positive rate of the primary probability on the test window, for "
        "the model with and without weather and for the baseline.",
    ),
    (
        RELIABILITY_PLOT,
        "Reliability diagram",
        "Observed delay rate against the mean predicted probability, in equal-width bins of "
        "the primary probability on the test window: points on the diagonal are calibrated; a "
        "marker's area grows with its bin's share of the flights.",
    ),
    (
        FACTORS_PLOT,
        "Factor weight",
        "For each factor group, the mean over the test flights of its absolute contribution to "
        "the primary model's log-odds when the answer names it as a factor (zero for a flight "
        "where it is not named), with and without weather. The contributions are the "
        "decision-path contributions the ONNX graph computes next to the primary model (they "
        "add up to its log-odds), so this chart shows which groups most often move the answers "
        "and by how much: what the model uses, not what causes delays. Weather groups are "
        "named only when weather is given; groups never named are left out.",
    ),
    (
        BY_HOUR_PLOT,
        "Delay rate by hour of day",
        "Observed rate of the primary label by scheduled local hour, in the training and the "
        "test windows: how much the level moves between the windows the model learned from "
        "and was tested on.",
    ),
)


def _plots_section(plots: Mapping[str, bytes]) -> list[str]:
    shown = [(name, title, text) for name, title, text in _PLOT_TEXT if name in plots]
    if not shown:
        return []
    lines = ["## Plots", ""]
    for name, title, text in shown:
        lines += [f"### {title}", "", f"![{title}]({name})", "", text, ""]
    return lines


def _limits(m: Manifest) -> list[str]:
    lines = [
        "## Known limits",
        "",
        "- The model knows the airports, airlines and routes of its training data only; for "
        "others it falls back to global rates (the answer carries a warning).",
        "- Delay rates move with the season. Without weather the model cannot see that and "
        "gives the training window's level; with weather it tracks part of it.",
        "- Weather is the origin's, for the scheduled hour: a forecast's errors pass straight "
        "into the answer. Destination weather, late inbound aircraft and air-traffic "
        "programmes are not inputs.",
        "- Factors are decision-path contributions of the primary model: they say what moved "
        "this model's answer, not what causes delays, and they do not explain the longer "
        "thresholds or the cancellation model.",
        "- Trained and tested on one source and period; metrics elsewhere will differ.",
    ]
    if m.training.get("retrained_on_all_rows"):
        lines.append(
            "- This bundle was retrained on all rows: it has no held-out metrics of its own."
        )
    return [*lines, ""]


def _markdown(m: Manifest, plots: Mapping[str, bytes]) -> str:
    lines = [
        *_header(m),
        *_what_it_predicts(m),
        *_inputs(m),
        *_data(m),
        *_split(m),
        *_metrics(m),
        *_calibration(m),
        *_plots_section(plots),
        *_limits(m),
    ]
    return "\n".join(lines)


# -- public ---------------------------------------------------------------------------------------


def render_card(manifest: Manifest, curves: Mapping[str, Any]) -> dict[str, bytes]:
    """The card's files by plain name: the Markdown and the plots whose data is present."""
    plots = _plots(curves)
    return {CARD_FILE: _markdown(manifest, plots).encode("utf-8"), **plots}


def _evaluation(bundle: Bundle) -> dict[str, Any]:
    """evaluation.json of a verified bundle, checked against its manifest hash."""
    digest = bundle.manifest.files.get(EVALUATION_FILE)
    if digest is None:
        if (bundle.path / EVALUATION_FILE).exists():
            # A file the manifest does not hash is not part of the bundle: nothing vouches
            # for it, and the card must describe what the bundle measured.
            raise BundleError(EVALUATION_FILE, "not listed in the manifest (unverified)")
        raise BundleError(EVALUATION_FILE, "missing: the card needs the evaluation data")
    raw = read_verified(bundle.path, EVALUATION_FILE, digest)
    try:
        return msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.DecodeError as exc:
        raise BundleError(EVALUATION_FILE, f"not JSON: {exc}") from None


def write_card(bundle_dir: Path, out_dir: Path) -> Path:
    """Verify the bundle, write its card (Markdown and PNGs) into out_dir; the Markdown path."""
    bundle = Bundle.read(bundle_dir)
    curves = _evaluation(bundle)
    out_dir = Path(out_dir)
    if out_dir.resolve() == bundle.path.resolve():
        # The bundle's own card files are hashed in its manifest: rewriting them there (with
        # another matplotlib, bytes may differ) would leave a bundle that fails verification.
        raise ValueError("write the card outside the bundle directory (its files are hashed)")
    files = render_card(bundle.manifest, curves)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return out_dir / CARD_FILE
