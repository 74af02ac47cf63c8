"""`flightontime verify DIR --public-key PEM`: the bundle's model-signing signature, with key
pairs made by the test; the signature file shows in the files table as what it is."""

from __future__ import annotations

from pathlib import Path

from core.test_signing import make_key_pair
from flightontime_core.signing import SIGNATURE_FILE, sign_bundle


def test_verify_a_signed_bundle_with_its_key(run, bundle_copy: Path, tmp_path: Path) -> None:
    private, public = make_key_pair(tmp_path / "keys")
    sign_bundle(bundle_copy, private)
    result = run("verify", bundle_copy, "--public-key", public)
    assert result.exit_code == 0, result.output
    assert "signature: ok" in result.stdout
    assert SIGNATURE_FILE in result.stdout
    assert "not in the manifest" not in result.stdout  # the signature is no stray file
    assert result.stdout.rstrip().endswith("ok")
    # Without the key the bundle still verifies, and nothing claims the signature was checked.
    plain = run("verify", bundle_copy)
    assert plain.exit_code == 0, plain.output
    assert "signature: ok" not in plain.stdout
    assert "signature: not checked (--public-key PEM checks model.sig)" in plain.stdout


def test_verify_refuses_unsigned_or_wrongly_signed(run, bundle_copy: Path, tmp_path: Path) -> None:
    private, public = make_key_pair(tmp_path / "keys")
    other, _ = make_key_pair(tmp_path / "keys", "other")
    unsigned = run("verify", bundle_copy, "--public-key", public)
    assert unsigned.exit_code == 1
    assert "model.sig: missing: the bundle is not signed" in unsigned.stderr
    sign_bundle(bundle_copy, other)
    wrong = run("verify", bundle_copy, "--public-key", public)
    assert wrong.exit_code == 1
    assert "signature does not verify" in wrong.stderr
    sign_bundle(bundle_copy, private)
    (bundle_copy / "feature_tables.json").write_bytes(b"{}")
    tampered = run("verify", bundle_copy, "--public-key", public)
    assert tampered.exit_code == 1
    assert "Hash mismatch for 'feature_tables.json'" in tampered.stderr
    assert run("verify", bundle_copy, "--public-key", tmp_path / "none.pub").exit_code == 1
