"""The bundle on disk: every file hashed, every behaviour field in the version, a refusal that
names the file and the reason; `write_bundle` then `Bundle.read` round trip."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flightontime_core.bundle import (
    BUNDLE_FORMAT,
    EVALUATION_FILE,
    GRAPH_FILE,
    MANIFEST_FILE,
    TABLES_FILE,
    Bundle,
    Manifest,
    content_version,
    sha256_bytes,
    write_bundle,
)
from flightontime_core.errors import BundleError
from flightontime_core.features import FEATURE_NAMES, N_FEATURES
from flightontime_core.flights import Flight, Weather
from flightontime_core.model import Model, load_model

Data = dict[str, Any]


@pytest.fixture
def copy(default_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(default_model_dir, target)
    return target


VARIANTS = ("weather", "plain")


def variant(data: Data, name: str) -> Data:
    """A variant of a manifest's behaviour, by name."""
    found = [v for v in data["behaviour"]["variants"] if v["name"] == name]
    assert len(found) == 1, name
    return found[0]


def model_of(data: Data, name: str, key: str) -> Data:
    """A model of a variant, by key ("15", "30", "60", "cancelled")."""
    found = [m for m in variant(data, name)["models"] if m["key"] == key]
    assert len(found) == 1, (name, key)
    return found[0]


def read(path: Path) -> Data:
    data = json.loads((path / MANIFEST_FILE).read_text())
    assert isinstance(data, dict)
    return data


def version_of(data: Data) -> str:
    """The model version the core computes for a manifest's files and behaviour."""
    manifest = msgspec.convert(data, Manifest)
    hashed = {n: d for n, d in manifest.files.items() if n in (GRAPH_FILE, TABLES_FILE)}
    return content_version(hashed, manifest.behaviour)


def edit(path: Path, change: Callable[[Data], None], *, reversion: bool = False) -> None:
    """Edit the manifest; with `reversion`, also recompute its model version (an edit made by
    someone who knows the rule, so the check under test is the next one)."""
    data = read(path)
    change(data)
    if reversion:
        data["model_version"] = version_of(data)
    (path / MANIFEST_FILE).write_text(json.dumps(data, indent=2))


def refused(path: Path, file: str | None, words: str) -> BundleError:
    with pytest.raises(BundleError) as info:
        load_model(path)
    assert info.value.file == file, str(info.value)
    assert words in info.value.reason, str(info.value)
    if file is not None:
        assert str(info.value).startswith(f"{file}: ")
    return info.value


def test_the_committed_bundle_verifies(default_model_dir: Path) -> None:
    bundle = Bundle.read(default_model_dir)
    manifest = bundle.manifest
    assert manifest.format == BUNDLE_FORMAT
    assert manifest.model_version.startswith("m-")
    assert manifest.model_version == version_of(read(default_model_dir))
    assert {GRAPH_FILE, TABLES_FILE, EVALUATION_FILE} <= set(manifest.files)
    for name, digest in manifest.files.items():
        assert sha256_bytes((default_model_dir / name).read_bytes()) == digest, name
    assert bundle.graph == (default_model_dir / GRAPH_FILE).read_bytes()
    assert bundle.behaviour.feature_names == FEATURE_NAMES
    assert bundle.path == default_model_dir


@pytest.mark.parametrize("name", [GRAPH_FILE, TABLES_FILE, EVALUATION_FILE])
def test_a_tampered_file_is_refused_by_name(copy: Path, name: str) -> None:
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / name).write_bytes(bytes(data))
    refused(copy, name, "sha256 does not match")


def test_a_truncated_file_is_refused_by_name(copy: Path) -> None:
    path = copy / TABLES_FILE
    path.write_bytes(path.read_bytes()[:-10])
    refused(copy, TABLES_FILE, "sha256")


@pytest.mark.parametrize("name", [GRAPH_FILE, EVALUATION_FILE])
def test_a_missing_listed_file_is_refused_by_name(copy: Path, name: str) -> None:
    (copy / name).unlink()
    refused(copy, name, "missing")


def test_no_manifest_no_directory_no_json(copy: Path, tmp_path: Path) -> None:
    refused(tmp_path / "nothing", None, "no model bundle directory")
    (copy / MANIFEST_FILE).write_text("{not json")
    refused(copy, MANIFEST_FILE, "not JSON")
    (copy / MANIFEST_FILE).unlink()
    refused(copy, MANIFEST_FILE, "missing")


@pytest.mark.parametrize("fmt", [2, 4, "3", None])
def test_an_unknown_format_is_refused(copy: Path, fmt: Any) -> None:
    edit(copy, lambda d: d.update(format=fmt))
    error = refused(copy, MANIFEST_FILE, "bundle format")
    assert f"format {fmt!r}" in error.reason
    assert "retrain" in error.reason


def test_an_incomplete_manifest_is_refused(copy: Path) -> None:
    edit(copy, lambda d: d.pop("behaviour"))
    refused(copy, MANIFEST_FILE, "incomplete manifest")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["behaviour"].update(feature_names=list(reversed(FEATURE_NAMES))),
        lambda d: d["behaviour"].update(feature_names=[*FEATURE_NAMES, "runway"]),
        lambda d: d["behaviour"].update(
            feature_definition=d["behaviour"]["feature_definition"] + 1
        ),
    ],
    ids=["order", "extra", "definition"],
)
def test_a_feature_spec_that_differs_from_the_code_is_refused(
    copy: Path, change: Callable[[Data], None]
) -> None:
    edit(copy, change, reversion=True)
    refused(copy, MANIFEST_FILE, "feature specification differs")


def _swap_columns(d: Data, name: str, a: str, b: str) -> None:
    """Two models of a variant trade their log-odds columns (the output stays tiled)."""
    first, second = model_of(d, name, a), model_of(d, name, b)
    first["columns"], second["columns"] = second["columns"], first["columns"]


def _move_a_member(d: Data) -> None:
    """The second member of the weather variant's primary model joins its 30-minute model."""
    primary, longer = model_of(d, "weather", "15"), model_of(d, "weather", "30")
    assert len(primary["columns"]) == 2
    longer["columns"] = [primary["columns"].pop(), *longer["columns"]]


def _only_plain(d: Data) -> None:
    """A consistent "trained without weather" edit: no weather fields, no weather variant."""
    d["behaviour"].update(
        weather_fields=[], variants=[v for v in d["behaviour"]["variants"] if v["name"] == "plain"]
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["behaviour"].update(decision_threshold=0.5),
        *(
            lambda d, name=name: model_of(d, name, "15")["calibration"].update(
                method="platt", a=2.0
            )
            for name in VARIANTS
        ),
        *(
            lambda d, name=name: model_of(d, name, "cancelled")["calibration"].update(
                method="platt", a=2.0
            )
            for name in VARIANTS
        ),
        *(
            lambda d, name=name: variant(d, name)["explanation"].update(bias=0.0)
            for name in VARIANTS
        ),
        *(lambda d, name=name: _swap_columns(d, name, "30", "60") for name in VARIANTS),
        _move_a_member,
        lambda d: d["behaviour"].update(weather_fields=d["behaviour"]["weather_fields"][:-1]),
        _only_plain,
        lambda d: d["files"].update({TABLES_FILE: sha256_bytes(b"x")}),
    ],
    ids=[
        "decision_threshold",
        *(f"calibration-{name}" for name in VARIANTS),
        *(f"cancellation_calibration-{name}" for name in VARIANTS),
        *(f"bias-{name}" for name in VARIANTS),
        *(f"columns-{name}" for name in VARIANTS),
        "members-weather",
        "weather_fields",
        "without_weather",
        "tables_digest",
    ],
)
def test_an_edited_behaviour_field_breaks_the_model_version(
    copy: Path, change: Callable[[Data], None]
) -> None:
    edit(copy, change)
    # (The tables digest edit is caught by the file's own hash first.)
    with pytest.raises(BundleError, match=r"model_version does not match|sha256") as info:
        load_model(copy)
    assert info.value.file in (MANIFEST_FILE, TABLES_FILE)


def test_descriptive_fields_are_not_hashed(copy: Path, default_model: Model) -> None:
    edit(copy, lambda d: d["data"].update(note="edited by hand"))
    assert load_model(copy).version == default_model.version


def test_the_default_bundle_declares_its_country(default_model: Model) -> None:
    assert default_model.manifest.countries == ("US",)


def test_a_bundle_written_before_countries_loads_with_none(
    copy: Path, default_model: Model
) -> None:
    edit(copy, lambda d: d.pop("countries"))
    assert "countries" not in read(copy)
    model = load_model(copy)
    assert model.manifest.countries == ()
    assert model.version == default_model.version  # outside `behaviour`: not hashed


@pytest.mark.parametrize("name", ["../secret.txt", "sub/model.onnx", "/etc/passwd", "..", "."])
def test_a_file_name_with_a_path_is_refused(copy: Path, name: str) -> None:
    edit(copy, lambda d: d["files"].update({name: "0" * 64}))
    refused(copy, name, "plain names")


def test_a_required_file_must_be_listed(copy: Path) -> None:
    edit(copy, lambda d: d["files"].pop(GRAPH_FILE))
    refused(copy, GRAPH_FILE, "not listed")


def _variant_names(d: Data, names: list[str]) -> None:
    by_name = {v["name"]: v for v in d["behaviour"]["variants"]}
    d["behaviour"]["variants"] = [
        {**by_name[n], "name": n} if n in by_name else {**by_name["plain"], "name": n}
        for n in names
    ]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        # Trained with weather: "weather" then "plain"; without: "plain" alone.
        (lambda d: d["behaviour"].update(weather_fields=[]), "expected ['plain']"),
        (lambda d: _variant_names(d, ["plain"]), "expected ['weather', 'plain']"),
        (lambda d: _variant_names(d, ["plain", "weather"]), "expected ['weather', 'plain']"),
        (lambda d: _variant_names(d, ["weather", "blind"]), "expected ['weather', 'plain']"),
        (
            lambda d: _variant_names(d, ["weather", "plain", "plain"]),
            "expected ['weather', 'plain']",
        ),
        (lambda d: d["behaviour"].update(variants=[]), "expected ['weather', 'plain']"),
    ],
    ids=["no-weather-fields", "no-weather-variant", "order", "renamed", "extra", "none"],
)
def test_variants_that_do_not_match_the_weather_fields_are_refused(
    copy: Path, change: Callable[[Data], None], words: str
) -> None:
    edit(copy, change, reversion=True)
    error = refused(copy, MANIFEST_FILE, words)
    assert error.reason.startswith("variants [")


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda d, name: model_of(d, name, "30").update(given=None),
            "the 30-minute model must be conditional on 15 minutes",
        ),
        (
            lambda d, name: model_of(d, name, "30").update(given=60),
            "the 30-minute model must be conditional on 15 minutes",
        ),
        (
            lambda d, name: model_of(d, name, "60").update(given=15),
            "the 60-minute model must be conditional on 30 minutes",
        ),
        (
            lambda d, name: model_of(d, name, "15").update(given=15),
            "the 15-minute model must be conditional on no threshold",
        ),
        (
            lambda d, name: variant(d, name).update(models=variant(d, name)["models"][1:]),
            "the delay models do not match the thresholds",
        ),
        (
            lambda d, name: model_of(d, name, "60").update(key="45"),
            "the delay models do not match the thresholds",
        ),
    ],
    ids=["given-none", "given-60", "given-15", "first-given", "missing-model", "other-key"],
)
def test_a_broken_chain_of_either_variant_is_refused(
    copy: Path, change: Callable[[Data, str], None], words: str, name: str
) -> None:
    edit(copy, lambda d: change(d, name), reversion=True)
    refused(copy, MANIFEST_FILE, f"variant {name}: {words}")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["behaviour"].update(thresholds=[15, 30]), "do not match the thresholds"),
        (lambda d: d["behaviour"].update(thresholds=[]), "do not match the thresholds"),
        (lambda d: d["behaviour"].update(decision_threshold=1.5), "between 0 and 1"),
        (lambda d: d["behaviour"].update(decision_threshold=0.0), "between 0 and 1"),
    ],
    ids=["thresholds", "no-thresholds", "dt-1.5", "dt-0"],
)
def test_a_broken_threshold_is_refused(
    copy: Path, change: Callable[[Data], None], words: str
) -> None:
    edit(copy, change, reversion=True)
    refused(copy, MANIFEST_FILE, words)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(
    "change",
    [
        lambda d, name: model_of(d, name, "15").update(columns=[99]),
        lambda d, name: model_of(d, name, "30").update(columns=model_of(d, name, "15")["columns"]),
        lambda d, name: model_of(d, name, "30").update(columns=[]),
        lambda d, name: model_of(d, name, "30").update(
            columns=[*model_of(d, name, "30")["columns"], *model_of(d, name, "60")["columns"]]
        ),
        lambda d, name: variant(d, name)["explanation"].update(
            first_column=variant(d, name)["explanation"]["first_column"] + 1
        ),
        lambda d, name: variant(d, name)["explanation"].update(
            first_column=variant(d, name)["explanation"]["first_column"] - 1
        ),
    ],
    ids=["out-of-range", "shared", "empty", "overlap", "first_column+1", "first_column-1"],
)
def test_columns_that_do_not_tile_the_output_are_refused(
    copy: Path, change: Callable[[Data, str], None], name: str
) -> None:
    edit(copy, lambda d: change(d, name), reversion=True)
    with pytest.raises(BundleError) as info:
        Bundle.read(copy)  # refused from the manifest alone, before the graph is looked at
    assert info.value.file == MANIFEST_FILE
    assert info.value.reason == f"variant {name}: the models' columns do not tile the output"


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("key", ["15", "cancelled"])
def test_an_unusable_calibration_is_refused(copy: Path, name: str, key: str) -> None:
    edit(
        copy,
        lambda d: model_of(d, name, key).update(calibration={"method": "magic"}),
        reversion=True,
    )
    error = refused(copy, MANIFEST_FILE, "unknown calibration method")
    assert error.reason.startswith(f"variant {name}, model {key}: ")
    edit(
        copy,
        lambda d: model_of(d, name, key).update(
            calibration={"method": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]}
        ),
        reversion=True,
    )
    error = refused(copy, MANIFEST_FILE, "non-decreasing")
    assert error.reason.startswith(f"variant {name}, model {key}: ")


def test_variants_that_disagree_on_the_cancellation_model_are_refused(copy: Path) -> None:
    """Both variants answer the same questions: a bundle whose plain variant has no
    cancellation model (its column handed to the 60-minute model, so the output still tiles)
    would answer P(cancelled) for flights with a forecast only."""

    def drop_plain_cancellation(d: Data) -> None:
        plain = variant(d, "plain")
        cancellation = model_of(d, "plain", "cancelled")
        plain["models"] = [m for m in plain["models"] if m["key"] != "cancelled"]
        model_of(d, "plain", "60")["columns"] += cancellation["columns"]

    edit(copy, drop_plain_cancellation, reversion=True)
    with pytest.raises(BundleError) as info:
        load_model(copy)
    assert info.value.file == MANIFEST_FILE, str(info.value)


def _rename(d: Data, name: str, field: str, value: str) -> None:
    variant(d, name)[field] = value


def _swap(d: Data, field: str) -> None:
    weather, plain = variant(d, "weather"), variant(d, "plain")
    weather[field], plain[field] = plain[field], weather[field]


def _wider(d: Data, name: str) -> None:
    """One more output column, given to the cancellation model: the manifest still tiles its
    output, which is now one column wider than the graph's."""
    explanation = variant(d, name)["explanation"]
    model_of(d, name, "cancelled")["columns"].append(explanation["first_column"])
    explanation["first_column"] += 1


@pytest.mark.parametrize(
    "change",
    [
        *(
            lambda d, name=name: _rename(d, name, "graph_output", "probabilities")
            for name in VARIANTS
        ),
        *(lambda d, name=name: _rename(d, name, "graph_input", "x") for name in VARIANTS),
        lambda d: _rename(d, "plain", "graph_input", variant(d, "weather")["graph_input"]),
        lambda d: _swap(d, "graph_output"),
        # Each variant's output computed from the other's input: the names are all the graph's,
        # but forecast rows would be answered by the plain trees and the others by the weather
        # trees.
        lambda d: _swap(d, "graph_input"),
        *(lambda d, name=name: _wider(d, name) for name in VARIANTS),
        _only_plain,
    ],
    ids=[
        *(f"output-{name}" for name in VARIANTS),
        *(f"input-{name}" for name in VARIANTS),
        "one-input-for-both",
        "swapped-outputs",
        "swapped-inputs",
        *(f"width-{name}" for name in VARIANTS),
        "without-the-weather-variant",
    ],
)
def test_a_graph_that_does_not_match_the_manifest_is_refused(
    copy: Path, change: Callable[[Data], None]
) -> None:
    edit(copy, change, reversion=True)
    Bundle.read(copy)  # the files and the version hold: only the graph disagrees
    refused(copy, GRAPH_FILE, "differ from the manifest")


def _replace_graph(path: Path, graph: bytes) -> None:
    (path / GRAPH_FILE).write_bytes(graph)
    edit(path, lambda d: d["files"].update({GRAPH_FILE: sha256_bytes(graph)}), reversion=True)


def _identity_graph(pairs: list[tuple[str, str]], width: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", [i], [o]) for i, o in pairs],
        "other",
        [helper.make_tensor_value_info(i, TensorProto.FLOAT, [None, width]) for i, _ in pairs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, [None, width]) for _, o in pairs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_another_graph_with_valid_hashes_is_refused(copy: Path) -> None:
    _replace_graph(copy, _identity_graph([("features", "scores")], 3))
    refused(copy, GRAPH_FILE, "differ from the manifest")
    # The manifest's input and output names, but not its outputs' widths.
    data = read(copy)
    names = [(v["graph_input"], v["graph_output"]) for v in data["behaviour"]["variants"]]
    assert len(names) == 2
    _replace_graph(copy, _identity_graph(names, N_FEATURES))
    refused(copy, GRAPH_FILE, "differ from the manifest")
    _replace_graph(copy, b"not a graph at all")
    refused(copy, GRAPH_FILE, "onnxruntime cannot load the graph")


def test_unreadable_tables_with_a_valid_hash_are_refused(copy: Path) -> None:
    raw = b'{"format": 2}'
    (copy / TABLES_FILE).write_bytes(raw)
    edit(copy, lambda d: d["files"].update({TABLES_FILE: sha256_bytes(raw)}), reversion=True)
    refused(copy, TABLES_FILE, "unreadable feature tables")


def test_write_bundle_then_read_round_trip(
    default_model_dir: Path, default_model: Model, tmp_path: Path
) -> None:
    original = Bundle.read(default_model_dir)
    files = {name: (default_model_dir / name).read_bytes() for name in original.manifest.files}
    manifest = msgspec.json.decode((default_model_dir / MANIFEST_FILE).read_bytes(), type=Manifest)
    manifest.model_version = ""
    manifest.files = {}
    out = tmp_path / "written"
    written = write_bundle(out, manifest, files)
    assert written.model_version == original.manifest.model_version
    assert written.files == original.manifest.files
    again = Bundle.read(out)
    assert again.manifest == written
    assert again.graph == original.graph
    assert again.tables.to_json() == original.tables.to_json()
    assert sorted(p.name for p in out.iterdir()) == sorted([*files, MANIFEST_FILE])
    model = load_model(out)
    flight = Flight(airline="UA", origin="EWR", destination="ORD", departure="2013-12-24T18:45")
    # Each variant answers as the original's: a flight without a forecast and one with.
    forecast = msgspec.structs.replace(flight, weather=Weather(wind_kmh=60.0, visibility_km=0.5))
    for one in (flight, forecast):
        assert model.predict(one) == default_model.predict(one)
    assert model.predict_many([flight, forecast]) == default_model.predict_many([flight, forecast])
    assert model.self_test() == []


def test_the_version_follows_what_answers_not_the_card(
    default_model_dir: Path, tmp_path: Path
) -> None:
    original = Bundle.read(default_model_dir)
    files = {name: (default_model_dir / name).read_bytes() for name in original.manifest.files}

    def fresh() -> Manifest:
        return msgspec.json.decode((default_model_dir / MANIFEST_FILE).read_bytes(), type=Manifest)

    with_card = write_bundle(tmp_path / "a", fresh(), {**files, "model_card.md": b"# Card\n"})
    assert with_card.model_version == original.manifest.model_version
    assert "model_card.md" in with_card.files
    Bundle.read(tmp_path / "a")
    other_tables = write_bundle(
        tmp_path / "b", fresh(), {**files, TABLES_FILE: files[TABLES_FILE] + b" "}
    )
    assert other_tables.model_version != original.manifest.model_version
    behaviour = fresh()
    behaviour.behaviour = msgspec.structs.replace(behaviour.behaviour, decision_threshold=0.5)
    assert write_bundle(tmp_path / "c", behaviour, files).model_version != (
        original.manifest.model_version
    )
