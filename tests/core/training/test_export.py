"""The ONNX export: only faithful node modes, categorical splits refused, float32 thresholds
that keep scikit-learn's every comparison, contributions that add up, parity checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

import onnx
import onnxruntime as ort
from sklearn.ensemble import HistGradientBoostingClassifier

from flightontime_core.bundle import GRAPH_FILE
from flightontime_core.explain import GROUP_NAMES, GROUP_OF_FEATURE
from flightontime_core.features import FEATURE_INDEX, N_FEATURES, WEATHER_SLICE
from flightontime_core.training import export
from flightontime_core.training.export import ExportError, check_parity, export_graph


def _modes(graph: bytes) -> set[str]:
    model = onnx.load_from_string(graph)
    modes: set[str] = set()
    trees = 0
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "nodes_modes":
                values = onnx.helper.get_attribute_value(attribute)
                modes |= {m.decode() if isinstance(m, bytes) else m for m in values}
                trees += 1
    assert trees, "no tree ensemble in the graph"
    return modes


def _scores(graph: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    (out,) = session.run([export.OUTPUT], {export.INPUT: np.ascontiguousarray(x, np.float32)})
    return np.asarray(out, dtype=np.float64)


@pytest.fixture(scope="module")
def synthetic() -> tuple[np.ndarray, np.ndarray]:
    """Rows shaped like the features (codes, rates, weather NaN on a third) and a label."""
    rng = np.random.default_rng(5)
    n = 4000
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[:, FEATURE_INDEX["hour"]] = rng.integers(0, 24, n)
    x[:, FEATURE_INDEX["airline"]] = rng.integers(0, 16, n)
    x[rng.random(n) < 0.33, WEATHER_SLICE] = np.nan
    x[rng.random(n) < 0.05, FEATURE_INDEX["airline"]] = np.nan
    logit = 0.15 * x[:, FEATURE_INDEX["hour"]] - 2 + np.nan_to_num(x[:, WEATHER_SLICE][:, 4])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return x, y


def _fit(x: np.ndarray, y: np.ndarray, **params: Any) -> Any:
    settings = {"max_iter": 25, "max_leaf_nodes": 15, "random_state": 0, **params}
    return HistGradientBoostingClassifier(**settings).fit(x.astype(np.float64), y)


@pytest.fixture(scope="module")
def models(synthetic: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    x, y = synthetic
    flipped = np.where(np.random.default_rng(1).random(y.size) < 0.3, 1 - y, y)
    return {
        "15": _fit(x, y),
        "30": _fit(x, flipped, learning_rate=0.2),
        "cancelled": _fit(x, 1 - y),
    }


@pytest.fixture(scope="module")
def exported(models: dict[str, Any]) -> tuple[bytes, Any]:
    """The three models exported once, the 15-minute one explained."""
    return export_graph(models, "15")


def test_the_committed_graph_has_only_faithful_node_modes(default_model_dir: Path) -> None:
    assert _modes((default_model_dir / GRAPH_FILE).read_bytes()) <= {"BRANCH_LEQ", "LEAF"}


def test_the_small_bundle_graph_has_only_faithful_node_modes(small_bundle_dir: Path) -> None:
    assert _modes((small_bundle_dir / GRAPH_FILE).read_bytes()) <= {"BRANCH_LEQ", "LEAF"}


def test_export_answers_what_scikit_learn_answers(
    models: dict[str, Any], exported: tuple[bytes, Any], synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = synthetic
    graph, explanation = exported
    assert _modes(graph) <= {"BRANCH_LEQ", "LEAF"}
    gaps = check_parity(graph, models, x)
    assert set(gaps) == set(models)
    assert max(gaps.values()) <= 1e-5
    scores = _scores(graph, x)
    assert scores.shape == (len(x), len(models) + len(GROUP_NAMES))
    assert explanation.first_column == len(models)
    assert explanation.groups == GROUP_NAMES
    # Each model's column is its log-odds, in the models' order.
    for k, model in enumerate(models.values()):
        assert np.allclose(scores[:, k], model.decision_function(x.astype(np.float64)), atol=1e-4)


def test_contributions_add_up_to_the_explained_model_log_odds(
    models: dict[str, Any], exported: tuple[bytes, Any], synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = synthetic
    for explained in ("15", "30"):
        graph, explanation = (
            exported if explained == "15" else export_graph({"30": models["30"]}, "30")
        )
        scores = _scores(graph, x)
        contributions = scores[:, explanation.first_column :]
        log_odds = models[explained].decision_function(x.astype(np.float64))
        assert np.allclose(contributions.sum(axis=1) + explanation.bias, log_odds, atol=1e-4)
        # A group never used by a split never contributes.
        used = {
            GROUP_OF_FEATURE[int(f)]
            for p in models[explained]._predictors
            for f in p[0].nodes["feature_idx"][~p[0].nodes["is_leaf"].astype(bool)]
        }
        for g in set(range(len(GROUP_NAMES))) - used:
            assert not contributions[:, g].any(), GROUP_NAMES[g]


def test_export_refuses_an_unknown_explained_model(models: dict[str, Any]) -> None:
    with pytest.raises(ExportError, match="not among the models"):
        export_graph({"15": models["15"]}, "45")


@pytest.fixture(scope="module")
def categorical(synthetic: tuple[np.ndarray, np.ndarray]) -> Any:
    """An HGB with a categorical feature whose classes no threshold separates."""
    x, _ = synthetic
    codes = np.nan_to_num(x[:, FEATURE_INDEX["airline"]], nan=0.0)
    y = np.isin(codes, [1, 4, 6, 9, 13]).astype(np.int64)
    model = _fit(x, y, categorical_features=[FEATURE_INDEX["airline"]])
    assert any(p[0].nodes["is_categorical"].any() for p in model._predictors)
    return model


def test_export_refuses_categorical_splits(categorical: Any) -> None:
    """skl2onnx converts an HGB with categorical features without a word and drops its
    categorical splits (design notes, trap 1): the export itself must refuse the model."""
    with pytest.raises(ExportError, match="categorical"):
        export_graph({"15": categorical}, "15")


def test_parity_catches_dropped_categorical_splits(
    categorical: Any, synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = synthetic
    try:
        graph, _ = export_graph({"15": categorical}, "15")
    except ExportError:
        return  # refused at export: nothing to serve
    with pytest.raises(ExportError, match="differs from scikit-learn"):
        check_parity(graph, {"15": categorical}, x)


def _threshold_trap() -> tuple[np.ndarray, np.ndarray]:
    """Two adjacent float32 values a < v, with v's mantissa even: scikit-learn's float64
    threshold is their midpoint, whose nearest float32 is v itself (ties to even), so a graph
    storing the nearest float32 sends v left where scikit-learn sends it right."""
    a = np.nextafter(np.float32(1.0), np.float32(2.0))
    v = np.nextafter(a, np.float32(2.0))
    midpoint = (np.float64(a) + np.float64(v)) / 2
    assert np.float32(midpoint) == v  # the nearest float32 lies above a value sent right
    assert np.float64(v) > midpoint
    n = 400
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    x[: n // 2, FEATURE_INDEX["distance_km"]] = a
    x[n // 2 :, FEATURE_INDEX["distance_km"]] = v
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(np.int64)
    return x, y


def test_float32_thresholds_keep_every_comparison() -> None:
    x, y = _threshold_trap()
    model = _fit(x, y, max_iter=3, min_samples_leaf=20)
    root = model._predictors[0][0].nodes[0]
    assert not root["is_leaf"]
    assert np.float32(root["num_threshold"]) == x[-1, FEATURE_INDEX["distance_km"]]
    graph, _ = export_graph({"15": model}, "15")
    gaps = check_parity(graph, {"15": model}, x)
    assert gaps["15"] <= 1e-5


def test_without_the_float32_rule_parity_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _threshold_trap()
    model = _fit(x, y, max_iter=3, min_samples_leaf=20)
    nearest = lambda _model, attributes: [float(np.float32(w)) for w in attributes["nodes_values"]]  # noqa: E731
    monkeypatch.setattr(export, "_float32_thresholds", nearest)
    graph, _ = export_graph({"15": model}, "15")
    with pytest.raises(ExportError, match="differs from scikit-learn"):
        check_parity(graph, {"15": model}, x)


def test_check_parity_raises_above_the_tolerance(
    models: dict[str, Any], exported: tuple[bytes, Any], synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    x, _ = synthetic
    graph, _ = exported
    swapped = {"15": models["30"], "30": models["15"], "cancelled": models["cancelled"]}
    with pytest.raises(ExportError, match=r"more than 1e-05.*'15'"):
        check_parity(graph, swapped, x)
    # A tolerance is a tolerance: the same gaps pass when allowed.
    gaps = check_parity(graph, models, x)
    with pytest.raises(ExportError):
        check_parity(graph, models, x, tolerance=min(gaps.values()) / 2)
