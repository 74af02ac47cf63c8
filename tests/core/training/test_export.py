"""The ONNX export: categorical models refused, float32 thresholds that keep scikit-learn's
every comparison, contributions that add up, parity checked (on given rows and on the
export's own probe)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

import onnx
import onnxruntime as ort
from sklearn.ensemble import HistGradientBoostingClassifier

from flightontime_core.explain import GROUP_NAMES, GROUP_OF_FEATURE
from flightontime_core.features import FEATURE_INDEX, N_FEATURES, WEATHER_SLICE
from flightontime_core.training import export
from flightontime_core.training.export import (
    ExportError,
    VariantLayout,
    check_parity,
    export_graph,
    graph_probabilities,
    probe_parity,
    probe_rows,
)
from flightontime_core.training.fit import ALL_FEATURES, PLAIN_FEATURES, Fitted, without_weather

Variants = dict[str, dict[str, list[Fitted]]]


def _scores(
    graph: bytes, layouts: dict[str, VariantLayout], rows: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each variant's graph output (float64) for its rows."""
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    feeds = {
        layout.graph_input: np.ascontiguousarray(rows[name], np.float32)
        for name, layout in layouts.items()
    }
    outputs = session.run([layout.graph_output for layout in layouts.values()], feeds)
    return {
        name: np.asarray(out, dtype=np.float64) for name, out in zip(layouts, outputs, strict=True)
    }


def _log_odds(fitted: Fitted, x: np.ndarray) -> np.ndarray:
    """scikit-learn's log-odds of a fitted model on rows of the full matrix."""
    rows = x[:, list(fitted.features)].astype(np.float64)
    return np.asarray(fitted.model.decision_function(rows))


def _used_groups(fitted: Fitted) -> set[int]:
    """The factor groups of the features the model's splits read (full-matrix indices)."""
    return {
        GROUP_OF_FEATURE[fitted.features[int(f)]]
        for p in fitted.model._predictors
        for f in p[0].nodes["feature_idx"][~p[0].nodes["is_leaf"].astype(bool)]
    }


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


def _fit(
    x: np.ndarray, y: np.ndarray, features: tuple[int, ...] = ALL_FEATURES, **params: Any
) -> Fitted:
    settings = {"max_iter": 25, "max_leaf_nodes": 15, "random_state": 0, **params}
    model = HistGradientBoostingClassifier(**settings)
    return Fitted(model.fit(x[:, list(features)].astype(np.float64), y), features)


@pytest.fixture(scope="module")
def variants(synthetic: tuple[np.ndarray, np.ndarray]) -> Variants:
    """Two variants as training makes them: the weather variant's primary model the mean of
    two members on every feature, the plain one's a model on PLAIN_FEATURES, and the shared
    conditional and cancellation models (the same objects in both)."""
    x, y = synthetic
    flipped = np.where(np.random.default_rng(1).random(y.size) < 0.3, 1 - y, y)
    shared = {
        "30": [_fit(x, flipped, learning_rate=0.2)],
        "cancelled": [_fit(x, 1 - y)],
    }
    members = [_fit(x, y), _fit(x, y, random_state=1, max_leaf_nodes=7)]
    return {
        "weather": {"15": members, **shared},
        "plain": {"15": [_fit(x, y, PLAIN_FEATURES)], **shared},
    }


@pytest.fixture(scope="module")
def rows(synthetic: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows each variant answers: with their weather, and the same without."""
    x, _ = synthetic
    return {"weather": x, "plain": without_weather(x)}


@pytest.fixture(scope="module")
def exported(variants: Variants) -> tuple[bytes, dict[str, VariantLayout]]:
    """Both variants exported once, the 15-minute models explained."""
    return export_graph(variants, "15")


def test_export_answers_what_scikit_learn_answers(
    variants: Variants,
    exported: tuple[bytes, dict[str, VariantLayout]],
    rows: dict[str, np.ndarray],
) -> None:
    graph, layouts = exported
    gaps = check_parity(graph, variants, layouts, rows)
    assert set(gaps) == {f"{name}:{key}" for name, members in variants.items() for key in members}
    assert max(gaps.values()) <= 1e-5
    # One input, one output and one tree-ensemble node per variant.
    model = onnx.load_from_string(graph)
    assert [i.name for i in model.graph.input] == ["features_weather", "features_plain"]
    assert [o.name for o in model.graph.output] == ["scores_weather", "scores_plain"]
    assert [(n.op_type, list(n.input), list(n.output)) for n in model.graph.node] == [
        ("TreeEnsembleRegressor", ["features_weather"], ["scores_weather"]),
        ("TreeEnsembleRegressor", ["features_plain"], ["scores_plain"]),
    ]
    assert list(layouts) == ["weather", "plain"]
    assert layouts["weather"].columns == {"15": (0, 1), "30": (2,), "cancelled": (3,)}
    assert layouts["plain"].columns == {"15": (0,), "30": (1,), "cancelled": (2,)}
    scores = _scores(graph, layouts, rows)
    for name, members in variants.items():
        layout = layouts[name]
        assert (layout.graph_input, layout.graph_output) == (f"features_{name}", f"scores_{name}")
        n_columns = sum(len(m) for m in members.values())
        assert scores[name].shape == (len(rows[name]), n_columns + len(GROUP_NAMES))
        assert layout.explanation.first_column == n_columns
        assert layout.explanation.groups == GROUP_NAMES
        # Each member's column is its log-odds, in the models' order, on its own features.
        for key, fitted in members.items():
            for column, member in zip(layout.columns[key], fitted, strict=True):
                expected = _log_odds(member, rows[name])
                assert np.allclose(scores[name][:, column], expected, atol=1e-4), (name, key)
    # What the graph answers per model is the mean of its members' probabilities.
    got = graph_probabilities(graph, layouts, rows)
    for name, members in variants.items():
        assert set(got[name]) == set(members)
        for key, fitted in members.items():
            expected = np.mean([m.predict(rows[name]) for m in fitted], axis=0)
            assert np.max(np.abs(got[name][key] - expected)) <= 1e-5, (name, key)


def test_a_model_on_a_feature_subset_reads_its_own_columns(
    variants: Variants,
    exported: tuple[bytes, dict[str, VariantLayout]],
    synthetic: tuple[np.ndarray, np.ndarray],
) -> None:
    """The plain model's trees are mapped onto the full matrix: the graph reads the columns it
    was fitted on, and what it was not fitted on (the weather block, days_to_holiday) changes
    nothing, whatever is in those columns."""
    graph, layouts = exported
    x, _ = synthetic
    (plain,) = variants["plain"]["15"]
    assert plain.features == PLAIN_FEATURES
    noise = x.copy()
    ignored = [i for i in range(N_FEATURES) if i not in PLAIN_FEATURES]
    assert FEATURE_INDEX["days_to_holiday"] in ignored
    noise[:, ignored] = np.random.default_rng(9).normal(size=(len(x), len(ignored)))
    column = layouts["plain"].columns["15"][0]
    both = _scores(graph, layouts, {"weather": x, "plain": x})["plain"][:, column]
    scrambled = _scores(graph, layouts, {"weather": x, "plain": noise})["plain"][:, column]
    assert np.array_equal(both, scrambled)
    assert np.allclose(both, _log_odds(plain, x), atol=1e-4)


def test_shared_models_answer_the_same_in_both_variants(
    exported: tuple[bytes, dict[str, VariantLayout]], synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    graph, layouts = exported
    x, _ = synthetic
    scores = _scores(graph, layouts, {"weather": x, "plain": x})
    for key in ("30", "cancelled"):
        (w,), (p,) = layouts["weather"].columns[key], layouts["plain"].columns[key]
        assert np.allclose(scores["weather"][:, w], scores["plain"][:, p], rtol=0, atol=1e-6), key


def test_contributions_add_up_to_the_explained_model_log_odds(
    variants: Variants,
    exported: tuple[bytes, dict[str, VariantLayout]],
    rows: dict[str, np.ndarray],
) -> None:
    """Per variant, the contributions + bias are the explained model's members' mean
    log-odds; also for another explained model exported on its own."""
    graph, layouts = exported
    alone = {"plain": {"30": variants["weather"]["30"]}}
    alone_graph, alone_layouts = export_graph(alone, "30")
    for graph_, layouts_, variants_, key in (
        (graph, layouts, variants, "15"),
        (alone_graph, alone_layouts, alone, "30"),
    ):
        scores = _scores(graph_, layouts_, rows)
        for name, members in variants_.items():
            explanation = layouts_[name].explanation
            contributions = scores[name][:, explanation.first_column :]
            assert contributions.shape[1] == len(GROUP_NAMES)
            fitted = members[key]
            log_odds = np.mean([_log_odds(m, rows[name]) for m in fitted], axis=0)
            assert np.allclose(contributions.sum(axis=1) + explanation.bias, log_odds, atol=1e-4)
            # A group never used by a split of any member never contributes.
            used = set().union(*(_used_groups(m) for m in fitted))
            for g in set(range(len(GROUP_NAMES))) - used:
                assert not contributions[:, g].any(), (name, GROUP_NAMES[g])
    # The plain model reads no weather: no weather group ever explains it.
    plain = _scores(graph, layouts, rows)["plain"][:, layouts["plain"].explanation.first_column :]
    weather_groups = {GROUP_OF_FEATURE[i] for i in range(WEATHER_SLICE.start, WEATHER_SLICE.stop)}
    assert not plain[:, sorted(weather_groups)].any()


def test_export_refuses_an_unknown_explained_model(variants: Variants) -> None:
    with pytest.raises(ExportError, match="the explained model '45' is not in variant plain"):
        export_graph({"plain": {"15": variants["plain"]["15"]}}, "45")
    # Every variant must hold the explained model.
    with pytest.raises(ExportError, match="not in variant plain"):
        export_graph(
            {
                "weather": {"15": variants["weather"]["15"]},
                "plain": {"30": variants["plain"]["30"]},
            },
            "15",
        )


@pytest.fixture(scope="module")
def categorical(synthetic: tuple[np.ndarray, np.ndarray]) -> Fitted:
    """An HGB with a categorical feature whose classes no threshold separates."""
    x, _ = synthetic
    codes = np.nan_to_num(x[:, FEATURE_INDEX["airline"]], nan=0.0)
    y = np.isin(codes, [1, 4, 6, 9, 13]).astype(np.int64)
    fitted = _fit(x, y, categorical_features=[FEATURE_INDEX["airline"]])
    assert any(p[0].nodes["is_categorical"].any() for p in fitted.model._predictors)
    return fitted


def test_export_refuses_categorical_splits(
    categorical: Fitted, monkeypatch: pytest.MonkeyPatch
) -> None:
    """skl2onnx converts an HGB with categorical features without a word and drops its
    categorical splits (design notes, trap 1): the export itself must refuse the model, before
    converting it."""
    import skl2onnx

    def never(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a categorical model reached skl2onnx")

    monkeypatch.setattr(skl2onnx, "to_onnx", never)
    with pytest.raises(ExportError, match="categorical"):
        export_graph({"plain": {"15": [categorical]}}, "15")
    # Also as a member or a shared model of a variant whose other models are fine.
    with pytest.raises(ExportError, match="categorical"):
        export_graph({"plain": {"15": [categorical], "30": [categorical]}}, "15")


def test_parity_catches_dropped_categorical_splits(
    categorical: Fitted, synthetic: tuple[np.ndarray, np.ndarray]
) -> None:
    """Past the refusal (a model that hides its categorical features), skl2onnx converts the
    categorical splits as numeric thresholds, and the export's parity probe refuses the graph:
    its rows hold every category (the bin thresholds of a categorical feature)."""
    x, _ = synthetic
    hidden = copy.deepcopy(categorical.model)
    hidden.is_categorical_ = None
    disguised = Fitted(hidden, categorical.features)
    assert np.array_equal(disguised.predict(x), categorical.predict(x))  # scikit-learn still right
    with pytest.raises(ExportError, match=r"differs from scikit-learn.*'plain:15'"):
        export_graph({"plain": {"15": [disguised]}}, "15")


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


@pytest.mark.parametrize(
    "features",
    [ALL_FEATURES, (FEATURE_INDEX["hour"], FEATURE_INDEX["distance_km"])],
    ids=["every-feature", "a-subset"],
)
def test_float32_thresholds_keep_every_comparison(features: tuple[int, ...]) -> None:
    x, y = _threshold_trap()
    fitted = _fit(x, y, features, max_iter=3, min_samples_leaf=20)
    root = fitted.model._predictors[0][0].nodes[0]
    assert not root["is_leaf"]
    assert fitted.features[int(root["feature_idx"])] == FEATURE_INDEX["distance_km"]
    assert np.float32(root["num_threshold"]) == x[-1, FEATURE_INDEX["distance_km"]]
    variants = {"plain": {"15": [fitted]}}
    graph, layouts = export_graph(variants, "15")
    gaps = check_parity(graph, variants, layouts, {"plain": x})
    assert gaps["plain:15"] <= 1e-5


def test_without_the_float32_rule_parity_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _threshold_trap()
    fitted = _fit(x, y, max_iter=3, min_samples_leaf=20)
    nearest = lambda _model, attributes: [float(np.float32(w)) for w in attributes["nodes_values"]]  # noqa: E731
    monkeypatch.setattr(export, "_float32_thresholds", nearest)
    variants = {"plain": {"15": [fitted]}}
    # The probe straddles every threshold, so the export itself refuses the graph...
    with pytest.raises(ExportError, match="differs from scikit-learn"):
        export_graph(variants, "15")
    # ...and, past the probe, so does parity on the rows that meet the trap.
    monkeypatch.setattr(export, "probe_parity", lambda *_args: {})
    graph, layouts = export_graph(variants, "15")
    with pytest.raises(ExportError, match="differs from scikit-learn"):
        check_parity(graph, variants, layouts, {"plain": x})


def test_check_parity_raises_above_the_tolerance(
    variants: Variants,
    exported: tuple[bytes, dict[str, VariantLayout]],
    rows: dict[str, np.ndarray],
) -> None:
    graph, layouts = exported
    weather = variants["weather"]
    swapped = {**variants, "weather": {**weather, "15": weather["30"], "30": weather["15"]}}
    with pytest.raises(ExportError, match=r"more than 1e-05.*'weather:15'") as info:
        check_parity(graph, swapped, layouts, rows)
    assert "plain:" not in str(info.value)  # only what differs is named
    # One member of a mean changed is caught too.
    one_member = {**variants, "weather": {**weather, "15": [weather["15"][0]] * 2}}
    with pytest.raises(ExportError, match=r"'weather:15'"):
        check_parity(graph, one_member, layouts, rows)
    # Each variant is checked on its own rows: the plain variant's on rows without weather.
    with pytest.raises(ExportError, match=r"'plain:15'"):
        check_parity(graph, {**variants, "plain": variants["weather"]}, layouts, rows)
    # A tolerance is a tolerance: the same gaps pass when allowed.
    gaps = check_parity(graph, variants, layouts, rows)
    with pytest.raises(ExportError):
        check_parity(graph, variants, layouts, rows, tolerance=min(gaps.values()) / 2)


def test_the_probe_refuses_a_graph_that_disagrees(
    variants: Variants, exported: tuple[bytes, dict[str, VariantLayout]]
) -> None:
    """The probe needs no data: a graph probed against other estimators than its own is
    refused, naming only the models that differ; its own pass."""
    graph, layouts = exported
    gaps = probe_parity(graph, variants, layouts)
    assert set(gaps) == {f"{name}:{key}" for name, members in variants.items() for key in members}
    weather = variants["weather"]
    swapped = {**variants, "weather": {**weather, "15": weather["30"], "30": weather["15"]}}
    with pytest.raises(ExportError, match=r"differs from scikit-learn.*'weather:15'") as info:
        probe_parity(graph, swapped, layouts)
    assert "plain:" not in str(info.value)


def test_probe_rows_straddle_every_threshold(variants: Variants) -> None:
    """Each column a model reads takes values on both sides of each of its bin thresholds, and
    NaN; a column no model reads stays 0."""
    (plain,) = variants["plain"]["15"]
    rows = probe_rows([plain], n=20000)
    assert rows.dtype == np.float32
    thresholds = plain.model._bin_mapper.bin_thresholds_
    for local, column in enumerate(plain.features):
        values = rows[:, column]
        assert np.isnan(values).any()
        seen = values[~np.isnan(values)].astype(np.float64)
        for t in np.asarray(thresholds[local], dtype=np.float64)[::25]:
            assert (seen <= t).any(), (column, t)
            assert (seen > t).any(), (column, t)
    unread = [c for c in range(N_FEATURES) if c not in plain.features]
    assert unread
    assert not rows[:, unread].any()
