"""A loaded model: one flight and a batch give the same answers, errors stay in place,
probabilities are coherent, factors explain the graph that answers, the self-test bites."""

from __future__ import annotations

import itertools
import math
import shutil
from datetime import datetime
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest

from flightontime_core import (
    BundleError,
    Flight,
    FlightError,
    Model,
    Prediction,
    PredictionService,
    Problem,
    SelfTestError,
    Weather,
    load_model,
)
from flightontime_core.bundle import (
    CANCELLATION,
    MANIFEST_FILE,
    PLAIN_VARIANT,
    WEATHER_VARIANT,
    Manifest,
    ModelSpec,
    Variant,
    encode_manifest,
)
from flightontime_core.calibration import calibrate
from flightontime_core.explain import GROUP_KEY_FEATURE, GROUP_NAMES, TOP
from flightontime_core.features import N_FEATURES, WEATHER_SLICE
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import WEATHER_FIELDS
from flightontime_core.training.evaluate import flights_of
from flightontime_core.training.split import Split

STORM = Weather(
    temperature_c=-1.0,
    dew_point_c=-3.0,
    humidity_pct=95.0,
    wind_direction_deg=40.0,
    wind_kmh=55.0,
    gust_kmh=80.0,
    precipitation_mm=6.5,
    pressure_hpa=995.0,
    visibility_km=0.4,
)
EDGE_FLIGHTS = [
    Flight(airline="aal", origin=" kjfk ", destination="lax", departure="2013-11-10T19:30:00Z"),
    Flight(airline="AA", origin="JFK", destination="LAX", departure="2013-11-10T16:30:00-03:00"),
    Flight(airline="AA", origin="JFK", destination="LAX", departure=datetime(2013, 11, 10, 14, 30)),
    Flight(airline="AZU", origin="SBKP", destination="SBRP", departure="2025-11-10T14:30:00"),
    Flight(airline="AD", origin="VCP", destination="RAO", departure="2025-11-15T08:00-03:00"),
    Flight(airline="B6", origin="LGA", destination="LAX", departure="2013-12-20T07:00:00"),
    Flight(airline="BA", origin="EGLL", destination="JFK", departure="2013-12-24T11:00:00"),
    Flight(airline="ZZ", origin="EWR", destination="ORD", departure="2013-12-24T18:45:00"),
    Flight(airline="UA", origin="EWR", destination="ORD", departure="2013-12-24T18:45:00"),
    Flight(
        airline="UA",
        origin="EWR",
        destination="ORD",
        departure="2013-12-24T18:45:00",
        weather=STORM,
    ),
    Flight(
        airline="UA",
        origin="EWR",
        destination="ORD",
        departure="2013-12-24T18:45:00",
        weather=Weather(temperature_c=-3.5),
    ),
    Flight(
        airline="UA",
        origin="EWR",
        destination="ORD",
        departure="2013-12-24T23:45:00+00:00",
        distance_m=1_150_000.0,
        weather=Weather(visibility_km=0.2, wind_kmh=70),
    ),
    Flight(airline="DL", origin="LGA", destination="ATL", departure="2013-03-10T02:30:00"),
    Flight(airline="DL", origin="LGA", destination="ATL", departure="2013-11-03T01:30:00"),
    Flight(airline="DL", origin="LGA", destination="ATL", departure="2013-07-04T09:15:00"),
]
BAD_FLIGHTS = [
    Flight(airline="A", origin="JFK", destination="LAX", departure="2013-11-10T14:30:00"),
    Flight(airline="AA", origin="JFK", destination="JFK", departure="2013-11-10"),
    Flight(
        airline="AA",
        origin="JFK",
        destination="LAX",
        departure="2013-11-10T14:30:00",
        distance_m=math.nan,
        weather=Weather(humidity_pct=140.0),
    ),
]


@pytest.fixture(scope="module")
def test_rows(nyc_sorted: pd.DataFrame, nyc_split: Split) -> pd.DataFrame:
    """300 flights of the test window (November and December 2013)."""
    return nyc_sorted.loc[nyc_split.test].sample(300, random_state=11)


@pytest.fixture(scope="module")
def flights(test_rows: pd.DataFrame) -> list[Flight]:
    """Real flights with their weather, the same without it, and the edge flights."""
    return [*flights_of(test_rows, True), *flights_of(test_rows.iloc[:100], False), *EDGE_FLIGHTS]


@pytest.fixture(scope="module")
def answers(default_model: Model, flights: list[Flight]) -> list[Prediction]:
    out = default_model.predict_many(flights)
    assert all(isinstance(a, Prediction) for a in out)
    return [a for a in out if isinstance(a, Prediction)]


def _forecast_rows(x: np.ndarray) -> np.ndarray:
    """Rows of a feature matrix sent with any weather value."""
    return np.asarray(~np.isnan(x[:, WEATHER_SLICE]).all(axis=1))


def _graph_outputs(model: Model, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every variant's graph output for the rows fed to it (no rows where not given), from a
    session of our own over the bundle's graph (one thread, like the model's)."""
    import onnxruntime as ort

    variants = model.manifest.behaviour.variants
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.bundle.graph, options, providers=["CPUExecutionProvider"])
    empty = np.empty((0, N_FEATURES), dtype=np.float32)
    outputs = session.run(
        [v.graph_output for v in variants],
        {v.graph_input: feeds.get(v.name, empty) for v in variants},
    )
    return {v.name: out for v, out in zip(variants, outputs, strict=True)}


def _spec(variant: Variant, key: str) -> ModelSpec:
    (spec,) = [m for m in variant.models if m.key == key]
    return spec


def _sigmoid(log_odds: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-log_odds.astype(np.float64))))


def _features(model: Model, flights: list[Flight]) -> np.ndarray:
    table = FlightTable.from_flights(flights)
    assert not model.resolver.table(table).errors
    return model.features(table)


# -- one flight and a batch ----------------------------------------------------------------------


def test_one_flight_equals_its_entry_in_the_batch(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    for i, flight in enumerate(flights):
        one = default_model.predict(flight)
        batch = answers[i]
        for field in Prediction.__struct_fields__:
            assert getattr(one, field) == getattr(batch, field), (i, field, flight)
        assert one == batch


def test_a_bad_flight_in_a_batch_is_answered_in_place(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    mixed: list[Flight] = [BAD_FLIGHTS[0], *flights[:40], BAD_FLIGHTS[1], *flights[40:80]]
    mixed.append(BAD_FLIGHTS[2])
    out = default_model.predict_many(mixed)
    assert len(out) == len(mixed)
    errors = {i: a for i, a in enumerate(out) if isinstance(a, FlightError)}
    assert sorted(errors) == [0, 41, 82]
    for i, bad in zip(sorted(errors), BAD_FLIGHTS, strict=True):
        with pytest.raises(FlightError) as info:
            default_model.predict(bad)
        assert errors[i] == info.value
        assert errors[i].problems
    good = [a for a in out if not isinstance(a, FlightError)]
    assert good == answers[:80]


def test_items_refused_before_stay_in_their_place(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    """An adapter's decoding refusal (a FlightError) passes through predict_many untouched."""
    refused = FlightError([Problem("airline", "required")])
    out = default_model.predict_many([refused, flights[0], refused, flights[1]])
    assert out[0] is refused
    assert out[2] is refused
    assert out[1] == answers[0]
    assert out[3] == answers[1]


def test_empty_batch_and_all_bad_batch(default_model: Model) -> None:
    assert default_model.predict_many([]) == []
    out = default_model.predict_many(BAD_FLIGHTS)
    assert all(isinstance(a, FlightError) for a in out)
    assert len(out) == len(BAD_FLIGHTS)


def test_predict_raises_every_problem_of_the_flight(default_model: Model) -> None:
    with pytest.raises(FlightError) as info:
        default_model.predict(BAD_FLIGHTS[2])
    assert {(p.field, p.code) for p in info.value.problems} == {
        ("distance_m", "not_finite"),
        ("weather.humidity_pct", "out_of_range"),
    }


@pytest.fixture(scope="module")
def two_threads(default_model_dir: Path) -> Model:
    return load_model(default_model_dir, threads=2)


def _reads_the_same(a: Prediction | FlightError, reference: Prediction) -> None:
    """What load_model promises across thread counts and batches: the same verdict, factors
    and notices, and probabilities to float32 rounding over the trees."""
    assert isinstance(a, Prediction)
    assert a.delayed == reference.delayed
    assert [f.group for f in a.factors] == [f.group for f in reference.factors]
    assert [f.params for f in a.factors] == [f.params for f in reference.factors]
    assert a.warnings == reference.warnings
    assert list(a.probabilities) == list(reference.probabilities)
    for key, value in reference.probabilities.items():
        assert a.probabilities[key] == pytest.approx(value, abs=1e-6)
    assert a.probability == pytest.approx(reference.probability, abs=1e-6)
    if reference.cancellation is None:
        assert a.cancellation is None
    else:
        assert a.cancellation == pytest.approx(reference.cancellation, abs=1e-6)
    assert a.model_version == reference.model_version


def test_two_threads_give_the_same_answers(
    two_threads: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    """What a reader sees does not depend on the thread count nor on the batch a flight comes
    in: verdicts, factors, notices, and probabilities to float32 rounding (two threads sum the
    trees in another order, so the last digits may differ; load_model's docstring says so)."""
    full = two_threads.predict_many(flights)
    assert len(full) == len(answers)
    for a, reference in zip(full, answers, strict=True):
        _reads_the_same(a, reference)
    for a, reference in zip(two_threads.predict_many(flights[:50]), answers[:50], strict=True):
        _reads_the_same(a, reference)
    reverse = list(reversed(flights))
    for a, reference in zip(two_threads.predict_many(reverse), answers[::-1], strict=True):
        _reads_the_same(a, reference)
    for flight, reference in zip(flights, answers, strict=True):
        _reads_the_same(two_threads.predict(flight), reference)


def test_one_thread_gives_bit_identical_answers_alone_and_in_any_batch(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    """With one thread (the default) the module's promise holds to the last bit: a flight gets
    the same floats alone and in any batch, whatever its neighbours and their variant."""
    assert default_model.predict_many(flights[:50]) == answers[:50]
    assert default_model.predict_many(flights[::-1]) == answers[::-1]
    order = np.random.default_rng(3).permutation(len(flights)).tolist()
    assert default_model.predict_many([flights[i] for i in order]) == [answers[i] for i in order]
    forecast = [i for i, f in enumerate(flights) if f.weather is not None]
    plain = [i for i, f in enumerate(flights) if f.weather is None]
    assert forecast
    assert plain
    for only in (forecast, plain):
        assert default_model.predict_many([flights[i] for i in only]) == [answers[i] for i in only]
    assert [default_model.predict(f) for f in flights[:50]] == answers[:50]
    assert default_model.predict_many(flights) == answers  # and again: nothing is stateful


# -- probabilities -------------------------------------------------------------------------------


def test_probabilities_are_coherent(default_model: Model, answers: list[Prediction]) -> None:
    thresholds = default_model.thresholds
    assert thresholds == tuple(sorted(thresholds))
    for a in answers:
        p = [a.probabilities[t] for t in thresholds]
        assert list(a.probabilities) == list(thresholds)
        assert all(0.0 <= v <= 1.0 for v in p)
        assert all(later <= earlier for earlier, later in itertools.pairwise(p)), p
        assert a.probability == a.probabilities[thresholds[0]]
        assert a.delayed == (a.probability >= a.decision_threshold)
        assert a.decision_threshold == default_model.decision_threshold
        assert a.model_version == default_model.version
        if default_model.has_cancellation:
            assert a.cancellation is not None
            assert 0.0 <= a.cancellation <= 1.0
        else:
            assert a.cancellation is None
    # The answers are not constant, and both verdicts occur on real flights.
    assert len({a.probability for a in answers}) > 100
    assert {a.delayed for a in answers} == {True, False}


def test_weather_changes_the_answer(default_model: Model) -> None:
    assert default_model.weather_fields == WEATHER_FIELDS
    calm, storm = EDGE_FLIGHTS[8], EDGE_FLIGHTS[9]
    assert default_model.predict(storm).probability > default_model.predict(calm).probability


def test_decision_threshold_can_be_overridden(
    default_model_dir: Path, flights: list[Flight], answers: list[Prediction]
) -> None:
    probabilities = sorted(a.probability for a in answers)
    cut = probabilities[len(probabilities) // 2]
    model = load_model(default_model_dir, decision_threshold=cut)
    assert model.decision_threshold == cut
    out = model.predict_many(flights)
    for a, reference in zip(out, answers, strict=True):
        assert isinstance(a, Prediction)
        assert a.probabilities == reference.probabilities
        assert a.factors == reference.factors
        assert a.decision_threshold == cut
        assert a.delayed == (a.probability >= cut)
        assert a.model_version == reference.model_version  # the same model
    assert model.predict(flights[0]).delayed == (answers[0].probability >= cut)
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="decision_threshold"):
            load_model(default_model_dir, decision_threshold=bad)
    with pytest.raises(ValueError, match="threads"):
        load_model(default_model_dir, threads=0)


def test_raw_scores_check_the_shape_and_an_empty_table_is_answered_empty(
    default_model: Model,
) -> None:
    with pytest.raises(ValueError, match="features must be"):
        default_model.raw_scores(np.zeros((2, N_FEATURES - 1), dtype=np.float32))
    with pytest.raises(ValueError, match="features must be"):
        default_model.raw_scores(np.zeros(N_FEATURES, dtype=np.float32))
    assert default_model.raw_scores(np.zeros((0, N_FEATURES), dtype=np.float32)) == {}
    empty = default_model.predict_table(FlightTable.from_flights([]))
    assert len(empty) == 0
    assert empty.rows.shape == (0,)
    assert empty.probabilities.shape == (0, len(default_model.thresholds))
    assert empty.cancellation.shape == (0,)
    assert empty.factor_group.shape == empty.factor_key.shape == (0, TOP)
    assert empty.predictions() == []
    assert default_model.predict_many([]) == []
    assert default_model.features(FlightTable.from_flights([])).shape == (0, N_FEATURES)


def test_predict_table_answers_what_predict_many_answers(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    """The columns of predict_table (both variants in one matrix) hold the same floats as the
    Predictions, row by row."""
    table = default_model.predict_table(FlightTable.from_flights(flights))
    assert table.rows.tolist() == list(range(len(flights)))
    assert not table.errors
    thresholds = default_model.thresholds
    assert table.probabilities.tolist() == [
        [a.probabilities[t] for t in thresholds] for a in answers
    ]
    assert table.cancellation.tolist() == [a.cancellation for a in answers]
    assert table.delayed.tolist() == [a.delayed for a in answers]
    for i, a in enumerate(answers):
        named = [GROUP_NAMES[g] for g in table.factor_group[i] if g >= 0]
        assert named == [f.group for f in a.factors], i
        assert table.factor_weight[i, : len(named)].tolist() == [f.weight for f in a.factors], i
        params = [table.factor_params[k] for k in table.factor_key[i] if k >= 0]
        assert params == [f.params for f in a.factors], i
    # The features it reads are the model's features of the table.
    x = default_model.features(FlightTable.from_flights(flights))
    assert x.shape == (len(flights), N_FEATURES)
    assert x.dtype == np.float32


def test_raw_scores_answer_each_row_with_its_variant(
    default_model: Model, flights: list[Flight]
) -> None:
    """Rows with any weather value go to the weather variant, the others to the plain one;
    each variant's output is the graph's for those rows."""
    x = _features(default_model, flights)
    forecast = _forecast_rows(x)
    raw = default_model.raw_scores(x)
    assert list(raw) == [WEATHER_VARIANT, PLAIN_VARIANT]
    expected_rows = {
        WEATHER_VARIANT: np.flatnonzero(forecast),
        PLAIN_VARIANT: np.flatnonzero(~forecast),
    }
    own = _graph_outputs(default_model, {n: x[r] for n, r in expected_rows.items()})
    variants = {v.name: v for v in default_model.manifest.behaviour.variants}
    for name, (rows, out) in raw.items():
        assert np.array_equal(rows, expected_rows[name]), name
        width = variants[name].explanation.first_column + len(GROUP_NAMES)
        assert out.shape == (rows.size, width), name
        assert out.dtype == np.float32
        assert np.array_equal(out, own[name]), name
    # A variant with no rows is left out of the answer.
    only_plain = x[~forecast]
    assert list(default_model.raw_scores(only_plain)) == [PLAIN_VARIANT]
    assert list(default_model.raw_scores(x[forecast])) == [WEATHER_VARIANT]
    # Flights the resolver saw with weather are those rows: the split follows the request.
    assert forecast.tolist() == [f.weather is not None for f in flights]


def test_the_variants_share_their_conditional_and_cancellation_models(
    default_model: Model, flights: list[Flight]
) -> None:
    """The weather variant's primary model is the mean of two members; the plain variant has a
    model of its own; the longer thresholds and the cancellation are the same models in both
    (the same log-odds on the same rows)."""
    variants = {v.name: v for v in default_model.manifest.behaviour.variants}
    assert list(variants) == [WEATHER_VARIANT, PLAIN_VARIANT]
    primary = str(default_model.thresholds[0])
    assert len(_spec(variants[WEATHER_VARIANT], primary).columns) == 2
    assert len(_spec(variants[PLAIN_VARIANT], primary).columns) == 1
    x = _features(default_model, flights)
    out = _graph_outputs(default_model, {WEATHER_VARIANT: x, PLAIN_VARIANT: x})
    weather, plain = out[WEATHER_VARIANT], out[PLAIN_VARIANT]
    keys = [m.key for m in variants[WEATHER_VARIANT].models]
    assert keys == [m.key for m in variants[PLAIN_VARIANT].models]
    for key in keys[1:]:
        w, p = _spec(variants[WEATHER_VARIANT], key), _spec(variants[PLAIN_VARIANT], key)
        assert len(w.columns) == len(p.columns) == 1, key
        assert np.allclose(weather[:, w.columns], plain[:, p.columns], rtol=0, atol=1e-6), key
        assert w.given == p.given, key
    # The primary models differ: the plain one reads no weather, the weather one does.
    forecast = _forecast_rows(x)
    w_primary = weather[:, list(_spec(variants[WEATHER_VARIANT], primary).columns)]
    p_primary = plain[:, list(_spec(variants[PLAIN_VARIANT], primary).columns)]
    assert not np.allclose(w_primary[forecast].mean(axis=1), p_primary[forecast, 0])


# -- factors -------------------------------------------------------------------------------------


def test_factors_are_at_most_three_strongest_first(
    answers: list[Prediction], flights: list[Flight]
) -> None:
    weather_groups = set(WEATHER_FIELDS)
    named = 0
    for a, flight in zip(answers, flights, strict=True):
        assert len(a.factors) <= 3
        weights = [abs(f.weight) for f in a.factors]
        assert weights == sorted(weights, reverse=True)
        assert len({f.group for f in a.factors}) == len(a.factors)
        for f in a.factors:
            assert f.group in GROUP_NAMES
            assert f.raises == (f.weight > 0)
            assert f.weight != 0.0
            assert f.text("en")
            assert f.text("pt")
        if flight.weather is None:
            assert not weather_groups & {f.group for f in a.factors}, a.factors
        named += len(a.factors)
    assert named > 2 * len(answers)  # nearly every flight has three reasons


def test_unknown_values_are_never_named_as_factors(default_model: Model) -> None:
    unknown = default_model.predict(EDGE_FLIGHTS[3])  # AZU, Campinas -> Ribeirão Preto
    assert not {"airline", "origin", "destination", "density"} & {f.group for f in unknown.factors}
    # Weather was used when given: at least one storm field is among the reasons.
    storm = default_model.predict(EDGE_FLIGHTS[9])
    assert set(WEATHER_FIELDS) & {f.group for f in storm.factors}


def test_contributions_add_up_to_the_answering_model_log_odds(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    x = _features(default_model, flights)
    forecast = _forecast_rows(x)
    rows = {WEATHER_VARIANT: np.flatnonzero(forecast), PLAIN_VARIANT: np.flatnonzero(~forecast)}
    assert all(r.size for r in rows.values())  # both variants answer some of these flights
    outputs = _graph_outputs(default_model, {n: x[r] for n, r in rows.items()})
    behaviour = default_model.manifest.behaviour
    primary_key = str(behaviour.thresholds[0])
    for variant in behaviour.variants:
        at = rows[variant.name]
        out = outputs[variant.name].astype(np.float64)
        explanation = variant.explanation
        assert explanation.groups == GROUP_NAMES
        first = explanation.first_column
        contributions = out[:, first : first + len(GROUP_NAMES)]
        primary = _spec(variant, primary_key)
        members = out[:, list(primary.columns)]
        # Float32 sums in the graph: the two paths agree to float32 rounding over all the
        # trees; the contributions add up to the members' mean log-odds.
        gap = np.abs(contributions.sum(axis=1) + explanation.bias - members.mean(axis=1))
        assert np.max(gap) < 2e-4, variant.name
        # Those log-odds, each member's probability averaged and calibrated, are the
        # probability answered.
        p = calibrate(primary.calibration, _sigmoid(members).mean(axis=1))
        answered = [answers[i].probability for i in at]
        assert np.allclose(p, answered, rtol=1e-12, atol=1e-15), variant.name
        # And the factors are those contributions: the strongest groups the flight has a
        # value for.
        strength = np.abs(contributions)
        strength[np.isnan(x[at][:, GROUP_KEY_FEATURE])] = -1.0
        for row, i in enumerate(at.tolist()):
            a = answers[i]
            order = np.argsort(-strength[row], kind="stable")
            expected = [int(g) for g in order[:3] if strength[row, g] > 0]
            assert [f.group for f in a.factors] == [GROUP_NAMES[g] for g in expected], i
            for f in a.factors:
                weight = contributions[row, GROUP_NAMES.index(f.group)]
                assert f.weight == pytest.approx(weight, rel=1e-6)


def test_the_chain_multiplies_each_variant_calibrated_models(
    default_model: Model, flights: list[Flight], answers: list[Prediction]
) -> None:
    """P(>= T_k) = P(>= T_k-1) x calibrated P(>= T_k | >= T_k-1), each model's probability the
    mean of its members', from the graph of the variant that answers the flight."""
    x = _features(default_model, flights)
    forecast = _forecast_rows(x)
    rows = {WEATHER_VARIANT: np.flatnonzero(forecast), PLAIN_VARIANT: np.flatnonzero(~forecast)}
    outputs = _graph_outputs(default_model, {n: x[r] for n, r in rows.items()})
    for variant in default_model.manifest.behaviour.variants:
        out = outputs[variant.name]
        chained = np.ones(out.shape[0])
        for threshold in default_model.thresholds:
            spec = _spec(variant, str(threshold))
            p = calibrate(spec.calibration, _sigmoid(out[:, list(spec.columns)]).mean(axis=1))
            chained = chained * p
            answered = [answers[i].probabilities[threshold] for i in rows[variant.name]]
            assert np.allclose(chained, answered, rtol=1e-12, atol=1e-15), (variant.name, threshold)
        if not default_model.has_cancellation:
            continue
        spec = _spec(variant, CANCELLATION)
        p = calibrate(spec.calibration, _sigmoid(out[:, list(spec.columns)]).mean(axis=1))
        answered_cancellation = [answers[i].cancellation for i in rows[variant.name]]
        assert np.allclose(p, answered_cancellation, rtol=1e-12, atol=1e-15), variant.name


def test_cancellation_is_its_own_model(default_model: Model, answers: list[Prediction]) -> None:
    behaviour = default_model.manifest.behaviour
    with_cancellation = set()
    for variant in behaviour.variants:
        keys = [m.key for m in variant.models]
        assert keys[: len(behaviour.thresholds)] == [str(t) for t in behaviour.thresholds]
        assert keys[len(behaviour.thresholds) :] in ([], [CANCELLATION]), variant.name
        with_cancellation.add(CANCELLATION in keys)
    assert len(with_cancellation) == 1  # both variants or neither
    assert default_model.has_cancellation == with_cancellation.pop()
    if not default_model.has_cancellation:
        pytest.skip("the default model has no cancellation part")
    values = [a.cancellation for a in answers if a.cancellation is not None]
    assert len(values) == len(answers)
    # Not a copy of the delay answer.
    assert not np.allclose(values, [a.probability for a in answers])


# -- self-test -----------------------------------------------------------------------------------


def _edited_copy(source: Path, target: Path, change: float) -> Path:
    shutil.copytree(source, target)
    manifest = msgspec.json.decode((target / MANIFEST_FILE).read_bytes(), type=Manifest)
    first, *rest = manifest.self_test
    key = next(iter(first.probabilities))
    edited = msgspec.structs.replace(
        first, probabilities={**first.probabilities, key: first.probabilities[key] + change}
    )
    manifest.self_test = (edited, *rest)
    (target / MANIFEST_FILE).write_bytes(encode_manifest(manifest))
    return target


def test_self_test_passes_on_the_committed_bundle(
    default_model: Model, default_model_dir: Path
) -> None:
    cases = default_model.manifest.self_test
    assert cases
    assert any(c.weather for c in cases) == bool(default_model.weather_fields)
    assert any(not c.weather for c in cases)
    assert default_model.self_test() == []
    service = PredictionService.load(default_model_dir)
    assert service.version == default_model.version


def test_self_test_fails_when_a_stored_probability_is_edited(
    default_model_dir: Path, tmp_path: Path
) -> None:
    copy = _edited_copy(default_model_dir, tmp_path / "edited", 0.01)
    model = load_model(copy)  # the self-test values are not part of the hashed behaviour
    problems = model.self_test()
    assert len(problems) == 1
    first = model.manifest.self_test[0]
    assert f"{first.airline} {first.origin}-{first.destination}" in problems[0]
    assert "the bundle says" in problems[0]
    with pytest.raises(SelfTestError) as info:
        PredictionService.load(copy)
    assert info.value.problems == tuple(problems)
    assert isinstance(info.value, BundleError)
    assert info.value.file == str(copy / MANIFEST_FILE)  # the bundle's file, named in full
    # Within the tolerance it still passes.
    assert load_model(_edited_copy(default_model_dir, tmp_path / "tiny", 1e-7)).self_test() == []


def test_a_bundle_without_self_test_flights_is_not_ready(
    default_model_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "none"
    shutil.copytree(default_model_dir, copy)
    manifest = msgspec.json.decode((copy / MANIFEST_FILE).read_bytes(), type=Manifest)
    manifest.self_test = ()
    (copy / MANIFEST_FILE).write_bytes(encode_manifest(manifest))
    assert load_model(copy).self_test() == ["the bundle stores no self-test flights"]
    with pytest.raises(SelfTestError, match="no self-test flights"):
        PredictionService.load(copy)
