"""FLIGHTONTIME_MODEL_PUBLIC_KEY: the real server on loopback serves a bundle signed with the
key's private half, and refuses (never ready, the log says why) an unsigned or wrongly signed
one. The key pairs are made by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.test_signing import make_key_pair
from flightontime_core.signing import SIGNATURE_FILE, sign_bundle
from flightontime_server.adapter import BUNDLE_ERROR
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN, Server, launch, start_server


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_key_pair(tmp_path_factory.mktemp("server-keys"))


def _serve(tmp: Path, bundle: Path, public_key: Path, ready: bool) -> Server:
    return start_server(
        tmp / "srv",
        bundle,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_PUBLIC_KEY": str(public_key)},
        ready=ready,
    )


def _assert_refused(tmp: Path, bundle: Path, public_key: Path, reason: str) -> None:
    # Every bundle is verified before any worker starts: a refused one ends the start (exit 3)
    # naming why, and no worker ever listens.
    env = {"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_MODEL_PUBLIC_KEY": str(public_key)}
    proc, _ = launch(tmp / "srv", bundle, env=env)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    printed = (tmp / "srv" / "stderr.log").read_text() + (tmp / "srv" / "stdout.log").read_text()
    assert code == BUNDLE_ERROR, printed
    assert "model bundle refused" in printed, printed
    assert reason in printed, printed


def test_the_setting_is_read_from_its_variable() -> None:
    settings = Settings.from_environ({"FLIGHTONTIME_MODEL_PUBLIC_KEY": "/keys/model.pub"})
    assert settings.model_public_key == "/keys/model.pub"
    assert Settings.from_environ({}).model_public_key is None
    assert settings.environ()["FLIGHTONTIME_MODEL_PUBLIC_KEY"] == "/keys/model.pub"  # workers


def test_a_bundle_signed_with_the_key_is_served(
    bundle_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    sign_bundle(bundle, keys[0])
    srv = _serve(tmp_path, bundle, keys[1], ready=True)
    try:
        answer = srv.client().post("/predict", json=JAVA_REQUEST)
        assert answer.status_code == 200, answer.text
        assert answer.json()["previsao"] in (0, 1)
        assert "model signatures verified" in srv.logs()
    finally:
        assert srv.stop() == 0


def test_an_unsigned_bundle_is_refused(
    bundle_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    (bundle / SIGNATURE_FILE).unlink(missing_ok=True)
    _assert_refused(tmp_path, bundle, keys[1], "model.sig: missing: the bundle is not signed")


def test_a_bundle_signed_with_another_key_or_changed_after_signing_is_refused(
    bundle_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    other_private, _ = make_key_pair(tmp_path / "other", "other")
    bundle = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    sign_bundle(bundle, other_private)
    _assert_refused(tmp_path / "a", bundle, keys[1], "signature does not verify")
    sign_bundle(bundle, keys[0])
    (bundle / "notes.txt").write_text("dropped in after signing")
    _assert_refused(tmp_path / "b", bundle, keys[1], "Extra files found")
