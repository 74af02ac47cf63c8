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
from flightontime_core.features import FEATURE_NAMES
from flightontime_core.flights import Flight
from flightontime_core.model import Model, load_model

Data = dict[str, Any]


@pytest.fixture
def copy(default_model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(default_model_dir, target)
    return target


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


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["behaviour"].update(decision_threshold=0.5),
        lambda d: d["behaviour"]["models"][0]["calibration"].update(method="platt", a=2.0),
        lambda d: d["behaviour"]["explanation"].update(bias=0.0),
        lambda d: d["behaviour"].update(weather_fields=[]),
        lambda d: d["files"].update({TABLES_FILE: sha256_bytes(b"x")}),
    ],
    ids=["decision_threshold", "calibration", "bias", "weather_fields", "tables_digest"],
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


@pytest.mark.parametrize("name", ["../secret.txt", "sub/model.onnx", "/etc/passwd", "..", "."])
def test_a_file_name_with_a_path_is_refused(copy: Path, name: str) -> None:
    edit(copy, lambda d: d["files"].update({name: "0" * 64}))
    refused(copy, name, "plain names")


def test_a_required_file_must_be_listed(copy: Path) -> None:
    edit(copy, lambda d: d["files"].pop(GRAPH_FILE))
    refused(copy, GRAPH_FILE, "not listed")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d["behaviour"]["models"][1].update(given=None), "must be conditional on 15"),
        (lambda d: d["behaviour"]["models"][1].update(given=60), "must be conditional on 15"),
        (lambda d: d["behaviour"]["models"][0].update(given=15), "conditional on no threshold"),
        (lambda d: d["behaviour"].update(thresholds=[15, 30]), "do not match the thresholds"),
        (lambda d: d["behaviour"].update(thresholds=[]), "do not match the thresholds"),
        (lambda d: d["behaviour"].update(decision_threshold=1.5), "between 0 and 1"),
        (lambda d: d["behaviour"].update(decision_threshold=0.0), "between 0 and 1"),
    ],
    ids=["given-none", "given-60", "first-given", "thresholds", "no-thresholds", "dt-1.5", "dt-0"],
)
def test_a_broken_chain_or_threshold_is_refused(
    copy: Path, change: Callable[[Data], None], words: str
) -> None:
    edit(copy, change, reversion=True)
    refused(copy, MANIFEST_FILE, words)


def test_an_unusable_calibration_is_refused(copy: Path) -> None:
    edit(
        copy,
        lambda d: d["behaviour"]["models"][0].update(calibration={"method": "magic"}),
        reversion=True,
    )
    refused(copy, MANIFEST_FILE, "unknown calibration method")
    edit(
        copy,
        lambda d: d["behaviour"]["models"][0].update(
            calibration={"method": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]}
        ),
        reversion=True,
    )
    refused(copy, MANIFEST_FILE, "non-decreasing")


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["behaviour"].update(graph_output="probabilities"),
        lambda d: d["behaviour"].update(graph_input="x"),
        lambda d: d["behaviour"]["models"][0].update(column=99),
        lambda d: d["behaviour"]["explanation"].update(
            first_column=d["behaviour"]["explanation"]["first_column"] + 1
        ),
    ],
    ids=["output", "input", "column", "first_column"],
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


def test_another_graph_with_valid_hashes_is_refused(copy: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["scores"])],
        "other",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    _replace_graph(copy, model.SerializeToString())
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
    assert model.predict(flight) == default_model.predict(flight)
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
