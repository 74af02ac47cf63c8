"""FLIGHTONTIME_MODEL_PUBLIC_KEY: the real server on loopback serves a bundle signed with the
key's private half, and refuses (never ready, the log says why) an unsigned or wrongly signed
one. The key pairs are made by the tests."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from core.test_signing import make_key_pair
from flightontime_core.signing import SIGNATURE_FILE, sign_bundle
from flightontime_server.settings import Settings

from .server import JAVA_REQUEST, TOKEN, Server, start_server


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


def _assert_refused(srv: Server, reason: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "rejected" not in srv.logs():
        srv.assert_alive()
        time.sleep(0.1)
    logs = srv.logs()
    assert "rejected" in logs, logs
    assert reason in logs, logs
    client = srv.client()
    for _ in range(3):
        assert client.get("/ready").status_code == 503
        time.sleep(0.2)
    assert client.post("/predict", json=JAVA_REQUEST).status_code == 503
    assert client.get("/health").status_code == 200  # alive, never serving
    srv.assert_alive()


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
        assert "model signature verified" in srv.logs()
    finally:
        assert srv.stop() == 0


def test_an_unsigned_bundle_is_refused(
    bundle_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    bundle = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    (bundle / SIGNATURE_FILE).unlink(missing_ok=True)
    srv = _serve(tmp_path, bundle, keys[1], ready=False)
    try:
        _assert_refused(srv, "model.sig: missing: the bundle is not signed")
    finally:
        srv.stop()


def test_a_bundle_signed_with_another_key_or_changed_after_signing_is_refused(
    bundle_dir: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    other_private, _ = make_key_pair(tmp_path / "other", "other")
    bundle = Path(shutil.copytree(bundle_dir, tmp_path / "model"))
    sign_bundle(bundle, other_private)
    srv = _serve(tmp_path / "a", bundle, keys[1], ready=False)
    try:
        _assert_refused(srv, "signature does not verify")
    finally:
        srv.stop()
    sign_bundle(bundle, keys[0])
    (bundle / "notes.txt").write_text("dropped in after signing")
    srv = _serve(tmp_path / "b", bundle, keys[1], ready=False)
    try:
        _assert_refused(srv, "Extra files found")
    finally:
        srv.stop()
