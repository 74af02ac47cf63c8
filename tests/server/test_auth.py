"""Authentication: header forms, rotation list, token file (and its rotation without a restart),
refusing to start, insecure mode, the generated token."""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
import pytest

from .server import JAVA_REQUEST, ROTATED, TOKEN, Server, launch, start_server


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        (TOKEN, 200),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
        (ROTATED, 200),
        (f"Bearer {ROTATED}", 200),
        ("wrong-token-0123456789abcdef", 401),
        (f"Bearer {TOKEN}x", 401),
        (TOKEN[:-1], 401),
        (f"{TOKEN},{ROTATED}", 401),
        ("", 401),
        ("Bearer", 401),
    ],
)
def test_token_matrix_on_predict(server: Server, header: str | None, status: int) -> None:
    client = server.client(token=None)
    headers = {"Authorization": header} if header is not None else {}
    response = client.post("/predict", json=JAVA_REQUEST, headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["erro"]["codigo"] == "nao_autorizado"


@pytest.mark.parametrize(
    ("method", "path", "protected"),
    [
        ("POST", "/predict", True),
        ("POST", "/predict/batch", True),
        ("GET", "/model", True),
        ("GET", "/health", False),
        ("GET", "/ready", False),
        ("GET", "/metrics", False),
    ],
)
def test_which_routes_need_a_token(server: Server, method: str, path: str, protected: bool) -> None:
    response = server.client(token=None).request(method, path, json={"voos": []})
    assert (response.status_code == 401) is protected


def test_auth_is_checked_before_the_body(server: Server) -> None:
    # No token and a malformed body: 401, not a 422 telling a stranger about the schema.
    response = server.client(token=None).post(
        "/predict", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 401


def test_token_never_logged(server: Server) -> None:
    client = server.client()
    client.post("/predict", json=JAVA_REQUEST, headers={"Authorization": f"Bearer {TOKEN}"})
    client.post("/predict", json=JAVA_REQUEST, headers={"Authorization": "wrong-secret-value-123"})
    logs = server.logs()
    assert TOKEN not in logs
    assert ROTATED not in logs
    assert "wrong-secret-value-123" not in logs


def test_token_file(bundle_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("file-token-0123456789abcdef\nsecond-file-token-0123456789\n")
    srv = start_server(tmp_path / "srv", bundle_dir, env={"PREDICTION_API_TOKEN_FILE": str(secret)})
    try:
        for token in ("file-token-0123456789abcdef", "Bearer second-file-token-0123456789"):
            assert srv.client(token=token).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert srv.client(token=TOKEN).post("/predict", json=JAVA_REQUEST).status_code == 401
    finally:
        assert srv.stop() == 0
    assert "file-token-0123456789abcdef" not in srv.logs()


def test_token_file_rotates_without_a_restart(bundle_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    old, new = "old-file-token-0123456789abcdef", "new-file-token-0123456789abcdef"
    secret.write_text(f"{old}\n")
    srv = start_server(tmp_path / "srv", bundle_dir, env={"PREDICTION_API_TOKEN_FILE": str(secret)})
    try:
        assert srv.client(token=old).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert srv.client(token=new).post("/predict", json=JAVA_REQUEST).status_code == 401
        # Rotation as an operator does it: both while clients move over, then the new alone.
        secret.write_text(f"{old}\n{new}\n")
        assert srv.client(token=new).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert srv.client(token=old).post("/predict", json=JAVA_REQUEST).status_code == 200
        staged = tmp_path / "token.new"
        staged.write_text(f"{new}\n")
        staged.replace(secret)  # an atomic swap, as a mounted secret changes
        assert srv.client(token=old).post("/predict", json=JAVA_REQUEST).status_code == 401
        assert srv.client(token=new).post("/predict", json=JAVA_REQUEST).status_code == 200
    finally:
        assert srv.stop() == 0
    assert old not in srv.logs()
    assert new not in srv.logs()


def _refused(srv: Server, token: str) -> None:
    """Every protected route answers 401 in the usual shape, in both languages."""
    for language, text in (("pt-BR", "Token inválido"), ("en", "Invalid token")):
        client = srv.client(token=token, **{"Accept-Language": language})
        for method, path in (("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/model")):
            response = client.request(method, path, json={"voos": [JAVA_REQUEST]})
            assert response.status_code == 401, (path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            error = response.json()["erro"]
            assert error["codigo"] == "nao_autorizado"
            assert error["mensagem"].startswith(text), error


def test_deleting_the_token_file_revokes_every_token(bundle_dir: Path, tmp_path: Path) -> None:
    """Deleting the token file (or making it unreadable) after the start refuses every token,
    the environment's too, until a readable file is back; each change is logged once."""
    secret = tmp_path / "token"
    from_file = "file-token-0123456789abcdef"
    secret.write_text(f"{from_file}\n")
    srv = start_server(
        tmp_path / "srv",
        bundle_dir,
        env={"PREDICTION_API_TOKEN_FILE": str(secret), "PREDICTION_API_TOKEN": TOKEN},
    )
    gone = "the token file (PREDICTION_API_TOKEN_FILE) is gone or unreadable"
    back = "the token file (PREDICTION_API_TOKEN_FILE) is back"
    try:
        for token in (from_file, TOKEN):
            assert srv.client(token=token).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert gone not in srv.logs()

        secret.unlink()
        for token in (from_file, TOKEN):
            _refused(srv, token)
        assert srv.logs().count(gone) == 1  # on the change, not on every request
        assert "No such file or directory" in srv.logs()

        secret.write_text(f"{from_file}\n")
        for token in (from_file, TOKEN):
            assert srv.client(token=token).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert srv.logs().count(back) == 1

        # Unreadable (a directory where the file was): the same refusal until it is a file.
        secret.unlink()
        secret.mkdir()
        _refused(srv, TOKEN)
        assert srv.logs().count(gone) == 2
        secret.rmdir()
        rotated = "rotated-file-token-0123456789"
        secret.write_text(f"{rotated}\n")
        assert srv.client(token=rotated).post("/predict", json=JAVA_REQUEST).status_code == 200
        assert srv.client(token=from_file).post("/predict", json=JAVA_REQUEST).status_code == 401
        assert srv.logs().count(back) == 2
    finally:
        assert srv.stop() == 0
    assert from_file not in srv.logs()


def test_refuses_to_start_without_a_token(bundle_dir: Path, tmp_path: Path) -> None:
    proc, _ = launch(tmp_path, bundle_dir)
    assert proc.wait(timeout=30) == 2
    err = (tmp_path / "stderr.log").read_text()
    assert "PREDICTION_API_TOKEN" in err
    assert "--insecure-no-auth" in err


def test_refuses_to_start_with_unreadable_token_file(bundle_dir: Path, tmp_path: Path) -> None:
    proc, _ = launch(
        tmp_path, bundle_dir, env={"PREDICTION_API_TOKEN_FILE": str(tmp_path / "missing")}
    )
    assert proc.wait(timeout=30) == 2
    assert "PREDICTION_API_TOKEN_FILE" in (tmp_path / "stderr.log").read_text()


def test_insecure_flag_serves_without_token_and_warns(bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(tmp_path, bundle_dir, args=["--insecure-no-auth"])
    try:
        before = srv.logs().count("authentication is disabled")
        response = srv.client(token=None).post("/predict", json=JAVA_REQUEST)
        assert response.status_code == 200
        srv.client(token=None).post("/predict", json=JAVA_REQUEST)
    finally:
        srv.stop()
    logs = srv.logs()
    assert "authentication is DISABLED" in logs  # at start
    assert logs.count("authentication is disabled") >= before + 2  # on each request


def test_generated_token_is_printed_once_and_works(bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(tmp_path, bundle_dir, args=["--generate-token"])
    try:
        out = srv.stdout_path.read_text()
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        token = lines[lines.index(next(x for x in lines if x.startswith("No PREDICTION"))) + 1]
        assert len(token) >= 32
        assert "curl -s http://127.0.0.1:" in out
        assert srv.client(token=token).post("/predict", json=JAVA_REQUEST).status_code == 200
        # The printed example works as pasted: its URL, headers and body, sent as curl would.
        curl = shlex.split(next(x for x in lines if x.startswith("curl ")))
        headers = dict(
            h.split(": ", 1) for h in (curl[i + 1] for i, a in enumerate(curl) if a == "-H")
        )
        body = curl[curl.index("-d") + 1]
        sent = httpx.post(curl[2], content=body, headers=headers, timeout=10)
        assert sent.status_code == 200, sent.text
        assert set(sent.json()) >= {"previsao", "probabilidade"}
        assert srv.client(token=None).post("/predict", json=JAVA_REQUEST).status_code == 401
    finally:
        assert srv.stop() == 0
    assert out.count(token) == 2  # the token line and the curl example, nothing else
    assert token not in srv.log_path.read_text()


def test_generate_token_keeps_a_configured_token(bundle_dir: Path, tmp_path: Path) -> None:
    srv = start_server(
        tmp_path, bundle_dir, env={"PREDICTION_API_TOKEN": TOKEN}, args=["--generate-token"]
    )
    try:
        assert srv.client().post("/predict", json=JAVA_REQUEST).status_code == 200
    finally:
        srv.stop()
    assert "generated a token" not in srv.logs()
