"""The serving side of the trees: lignum finds the leaves LightGBM finds, the service falls back
to LightGBM when lignum is missing or disagrees, and the row sums agree with and without scipy's
kernel."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from flightontime.data.schema import WEATHER_FIELDS, LoadResult
from flightontime.features import FEATURE_INDEX, FEATURE_NAMES, FlightInputs, build_features
from flightontime.model import predictor
from flightontime.model.bundle import Bundle
from flightontime.model.factors import GROUP_NAMES


@pytest.fixture(scope="module")
def engines(small_bundle_dir: Path) -> dict[str, Bundle]:
    return {engine: Bundle.load(small_bundle_dir, engine) for engine in ("auto", "lightgbm")}


def _rows(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.uniform(0.0, 30.0, (n, len(FEATURE_NAMES)))
    categories = FEATURE_INDEX["destination"] + 1
    rows[:, :categories] = np.floor(rows[:, :categories])
    rows[::3, -5:] = np.nan  # weather missing on a third of them
    return rows


def _features(bundle: Bundle, small_flights: LoadResult, edge_flights: pd.DataFrame) -> np.ndarray:
    df = pd.concat(
        [small_flights.flights.sample(300, random_state=5), edge_flights], ignore_index=True
    )
    return build_features(FlightInputs.from_frame(df), bundle.tables)


def test_auto_serves_with_lignum_when_it_is_installed(engines: dict[str, Bundle]) -> None:
    assert engines["auto"].tree_engine == "lignum"
    assert "verified" in engines["auto"].tree_engine_note
    assert engines["lightgbm"].tree_engine == "lightgbm"


def test_lignum_finds_the_leaves_lightgbm_finds(
    engines: dict[str, Bundle], small_flights: LoadResult, edge_flights: pd.DataFrame
) -> None:
    lignum, lightgbm = (engines[e]._scorer for e in ("auto", "lightgbm"))
    x = np.vstack([_features(engines["auto"], small_flights, edge_flights), _rows(500, 11)])
    for threads in (1, 2):
        assert np.array_equal(lignum.finder.many(x, threads), lightgbm.finder.many(x, threads))
    for row in x[::25]:
        lignum._row[0] = row
        lightgbm._row[0] = row
        assert np.array_equal(lignum.finder.one(), lightgbm.finder.one())


def test_both_engines_answer_the_same(
    engines: dict[str, Bundle], small_flights: LoadResult, edge_flights: pd.DataFrame
) -> None:
    df = pd.concat(
        [small_flights.flights.sample(200, random_state=9), edge_flights], ignore_index=True
    )
    inputs = FlightInputs.from_frame(df)
    a, b = (engines[e].predict(inputs) for e in ("auto", "lightgbm"))
    assert np.array_equal(a.probabilities, b.probabilities)
    assert a.cancellation is not None
    assert b.cancellation is not None
    assert np.array_equal(a.cancellation, b.cancellation)
    assert a.factors == b.factors
    for i in range(0, len(df), 20):
        one = [engines[e].predict(inputs.take(slice(i, i + 1))) for e in ("auto", "lightgbm")]
        assert np.array_equal(one[0].probabilities, one[1].probabilities)
        assert one[0].factors == one[1].factors


def test_without_lignum_lightgbm_serves(
    small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lignum", None)  # importing it raises ImportError
    bundle = Bundle.load(small_bundle_dir)
    assert bundle.tree_engine == "lightgbm"
    assert "lignum unusable (ModuleNotFoundError" in bundle.tree_engine_note
    assert (
        0.0
        < bundle.predict_row(
            "UA", "KJFK", "KLAX", pd.Timestamp("2013-05-01 09:00").to_pydatetime(), 3.98e6
        ).probabilities[0]
        < 1.0
    )


def test_lignum_that_disagrees_with_lightgbm_is_not_used(
    small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = predictor.LignumLeaves.many

    def off_by_one_leaf(self: predictor.LignumLeaves, x: np.ndarray, threads: int) -> np.ndarray:
        leaves = real(self, x, threads).copy()
        leaves[-1, -1] += 1
        return leaves

    monkeypatch.setattr(predictor.LignumLeaves, "many", off_by_one_leaf)
    bundle = Bundle.load(small_bundle_dir)
    assert bundle.tree_engine == "lightgbm"
    assert "differ" in bundle.tree_engine_note


def test_unknown_engine_is_refused(small_bundle_dir: Path) -> None:
    with pytest.raises(ValueError, match="tree engine 'gpu'"):
        Bundle.load(small_bundle_dir, "gpu")


def test_one_leaf_trees_have_leaf_zero_in_both_engines() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 1.0, (200, 4))
    # A constant label: every tree is a single leaf (its root carries no leaf index).
    stumps = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4},
        lgb.Dataset(x, np.ones(200)),
        num_boost_round=3,
    )
    mixed = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4},
        lgb.Dataset(x, (x[:, 0] > 0.5).astype(float)),
        num_boost_round=3,
    )
    merged = lgb.Booster(model_str=mixed.model_to_string())
    predictor._check(predictor._LIB.LGBM_BoosterMerge(merged._handle, stumps._handle))
    row = np.zeros((1, 4))
    offsets = np.arange(merged.num_trees(), dtype=np.int32) * 4
    finder, note = predictor.leaf_finder(merged, merged.dump_model(), row, offsets)
    assert finder.name == "lignum", note
    leaves = merged.predict(x, pred_leaf=True)
    assert np.array_equal(finder.many(x, 1), leaves + offsets)


def test_row_sums_with_and_without_scipys_kernel_are_identical(
    engines: dict[str, Bundle], monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = engines["auto"]._scorer
    assert predictor._csr_matvecs is not None  # the installed scipy has the kernel
    rows = _rows(200, 7)

    def scores() -> list[tuple[list[float], list[float]]]:
        return [scorer.score(row) for row in rows.tolist()]

    with_kernel = scores()
    monkeypatch.setattr(predictor, "_csr_matvecs", None)
    assert scores() == with_kernel


def test_batch_sums_equal_the_row_sums(engines: dict[str, Bundle]) -> None:
    scorer = engines["auto"]._scorer
    rows = _rows(300, 13)
    grouped, raw = scorer.score_many(rows, 2)
    for i, row in enumerate(rows.tolist()):
        contributions, scores = scorer.score(row)
        assert contributions == grouped[i].tolist()
        assert scores == raw[i].tolist()


def test_batches_without_weather_sum_the_same_floats(engines: dict[str, Bundle]) -> None:
    scorer = engines["auto"]._scorer
    rows = _rows(300, 17)
    rows[:, [FEATURE_INDEX[name] for name in WEATHER_FIELDS]] = np.nan  # as sent by the backend
    grouped, raw = scorer.score_many(rows, 2)
    weather = [GROUP_NAMES.index(name) for name in WEATHER_FIELDS]
    assert not grouped[:, weather].any()  # never a factor: not summed
    for i, row in enumerate(rows.tolist()):
        contributions, scores = scorer.score(row)
        assert scores == raw[i].tolist()
        named = [g for g in range(len(GROUP_NAMES)) if g not in weather]
        assert [contributions[g] for g in named] == grouped[i, named].tolist()
