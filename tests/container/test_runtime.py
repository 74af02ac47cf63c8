"""The image running hardened as in production: health, user, read-only root, API, SIGTERM."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from .conftest import (
    PREDICT_BODY,
    ROOT,
    Running,
    engine,
    http,
    inspect,
    remove,
    start_container,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.timeout(240)]


def test_becomes_healthy_quickly(prod: Running) -> None:
    seconds = prod.extra["healthy_s"]
    print(f"\n[container] start to healthy: {seconds:.2f} s (target < 3 s; start period 30 s)")
    assert inspect(prod.name)["State"]["Health"]["Status"] == "healthy"
    assert seconds < 30, "healthy within the HEALTHCHECK start period"


def test_runs_as_appuser_1001(prod: Running) -> None:
    out = engine("exec", prod.name, "id").stdout.strip()
    assert out.startswith("uid=1001(appuser) gid=1001(appuser)"), out
    assert engine("exec", prod.name, "whoami").stdout.strip() == "appuser"
    # PID 1 is the server itself (exec-form CMD), as appuser
    cmdline = engine("exec", prod.name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
    assert "flightontime serve" in cmdline, cmdline


def test_no_capabilities_no_new_privileges(prod: Running) -> None:
    status = engine("exec", prod.name, "cat", "/proc/1/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert int(fields["CapEff"].strip(), 16) == 0
    assert int(fields["CapPrm"].strip(), 16) == 0
    assert fields["NoNewPrivs"].strip() == "1"


def test_writes_outside_tmp_fail(prod: Running) -> None:
    assert inspect(prod.name)["HostConfig"]["ReadonlyRootfs"] is True
    for directory in (
        "/",
        "/opt/venv",
        "/opt/venv/bin",
        "/opt/flightontime",
        "/opt/flightontime/models",
        "/opt/flightontime/models/default",
        "/opt/pycache",
        "/etc",
        "/run",
        "/var/tmp",
        "/var/log",
        "/usr/local/bin",
    ):
        proc = engine(
            "exec", prod.name, "sh", "-c", f"echo x > {directory.rstrip('/')}/.w", check=False
        )
        assert proc.returncode != 0, f"could write to {directory}"
        assert "Read-only file system" in proc.stderr or "Permission denied" in proc.stderr, (
            proc.stderr
        )
    ok = engine("exec", prod.name, "sh", "-c", "echo x > /tmp/.w && cat /tmp/.w && rm /tmp/.w")
    assert ok.stdout.strip() == "x"
    # ... and the service still works (its metrics files live on /tmp)
    assert http("GET", f"{prod.url}/ready")[0] == 200
    assert engine("exec", prod.name, "sh", "-c", "ls /tmp/flightontime-metrics | head -1").stdout


def test_predict_with_token_and_401_without(prod: Running) -> None:
    status, answer = http(
        "POST", f"{prod.url}/predict", PREDICT_BODY, {"Authorization": prod.token}
    )
    assert status == 200, answer
    assert "previsao" in answer, answer
    assert "probabilidade" in answer, answer
    assert 0.0 <= float(answer["probabilidade"]) <= 1.0
    print(f"\n[container] /predict AA JFK->LAX: {json.dumps(answer)[:200]}")
    status, _ = http(
        "POST", f"{prod.url}/predict", PREDICT_BODY, {"Authorization": f"Bearer {prod.token}"}
    )
    assert status == 200
    assert http("POST", f"{prod.url}/predict", PREDICT_BODY)[0] == 401
    assert (
        http("POST", f"{prod.url}/predict", PREDICT_BODY, {"Authorization": "wrong-token-123456"})[
            0
        ]
        == 401
    )
    assert http("GET", f"{prod.url}/health")[0] == 200


def test_logs_are_on_stdout(prod: Running) -> None:
    logs = engine("logs", prod.name)
    text = logs.stdout + logs.stderr
    assert text.strip(), "the server logs to stdout/stderr (docker logs)"
    assert prod.token not in text, "the token must never be logged"


def test_model_ready_is_logged_with_its_version(prod: Running) -> None:
    logs = engine("logs", prod.name)
    ready = [
        json.loads(line)
        for line in (logs.stdout + logs.stderr).splitlines()
        if line.startswith("{") and '"model ready"' in line
    ]
    assert len(ready) == 2, f"one model-ready line per worker: {ready}"
    manifest = json.loads((ROOT / "models/default/manifest.json").read_text())
    versions = {
        str(r.get("model_version") or r.get("fields", {}).get("model_version")) for r in ready
    }
    assert versions == {str(manifest["model_version"])}, (versions, manifest["model_version"])


def test_every_baked_bundle_serves_and_unsigned_serving_is_said(prod: Running) -> None:
    """The default image carries models/default and models/brazil (MODELS) and checks no
    signature (only the release image has a public key): its start-up log says so."""
    logs = engine("logs", prod.name)
    text = logs.stdout + logs.stderr
    assert "model signatures not checked (no FLIGHTONTIME_MODEL_PUBLIC_KEY)" in text
    assert "bundle signatures not checked: no FLIGHTONTIME_MODEL_PUBLIC_KEY" in text
    ready = [
        json.loads(line)
        for line in text.splitlines()
        if line.startswith("{") and '"model ready"' in line
    ]
    assert ready
    for line in ready:
        bundles = line.get("bundles") or line.get("fields", {}).get("bundles")
        served = {str(b["version"]) for b in bundles}
        expected = {
            str(json.loads((ROOT / f"models/{name}/manifest.json").read_text())["model_version"])
            for name in ("default", "brazil")
        }
        assert served == expected, (served, expected)


def test_no_byte_code_is_written_at_run_time(image: str, token: str) -> None:
    """Even with a writable root file system, serving writes nothing outside /tmp: every module
    it imports was byte-compiled at build time (unchecked-hash .pyc under /opt/pycache)."""
    running = start_container(token, hardened=False, args=["--tmpfs", "/tmp"])
    try:
        wait_healthy(running.name, 60, since=running.started)
        headers = {"Authorization": token}
        assert http("POST", f"{running.url}/predict", PREDICT_BODY, headers)[0] == 200
        assert http("POST", f"{running.url}/predict", {"companhia": 1}, headers)[0] in (400, 422)
        assert http("GET", f"{running.url}/openapi.json")[0] == 200
        assert http("GET", f"{running.url}/docs")[0] == 200
        assert http("GET", f"{running.url}/metrics")[0] == 200
        engine("exec", running.name, "flightontime", "healthcheck")
        changed = engine("diff", running.name).stdout.split()
        written = [p for p in changed if p not in ("C", "A", "D") and not p.startswith("/tmp")]
        assert not [p for p in written if p.endswith(".pyc") or "__pycache__" in p], written
        assert not [p for p in written if p.startswith("/opt")], written
        # The interpreter really reads the build's byte code (no source compile on import).
        verbose = engine(
            "exec",
            running.name,
            "python",
            "-v",
            "-c",
            "import flightontime_server.app",
            timeout=60,
        ).stderr
        compiled = (
            r"code object from '/opt/pycache/opt/venv/lib/python3\.11/site-packages/"
            r"flightontime_server/app\.cpython-311\.pyc'"
        )
        assert re.search(compiled, verbose), verbose[-2000:]
    finally:
        remove(running.name)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    sock.settimeout(30)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_is_graceful_with_a_request_in_flight(image: str, token: str, workers: int) -> None:
    stop_timeout = 15
    running = start_container(token, env={"FLIGHTONTIME_WORKERS": str(workers)})
    try:
        wait_healthy(running.name, 60, since=running.started)
        body = json.dumps(PREDICT_BODY).encode()
        sock = socket.create_connection(("127.0.0.1", running.port), timeout=30)
        try:
            # A slow client: headers and part of the body now, the rest after SIGTERM.
            head = (
                f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            sock.sendall(head + body[:20])
            time.sleep(0.5)
            stopped: dict[str, float | int] = {}

            def stop() -> None:
                t0 = time.monotonic()
                proc = engine(
                    "stop",
                    "-t",
                    str(stop_timeout),
                    running.name,
                    check=False,
                    timeout=stop_timeout + 30,
                )
                stopped["seconds"] = time.monotonic() - t0
                stopped["rc"] = proc.returncode

            stopper = threading.Thread(target=stop)
            stopper.start()  # `stop` sends the image's STOPSIGNAL (SIGTERM), then waits
            time.sleep(1.5)
            # podman reports "stopping" (Running false) while the server drains
            status_now = inspect(running.name)["State"]["Status"]
            assert status_now in ("running", "stopping"), f"{status_now} with a request in flight"
            sock.sendall(body[20:])
            status, answer = _read_response(sock)
        finally:
            sock.close()
        stopper.join(stop_timeout + 35)
        assert status == 200, answer
        assert "previsao" in json.loads(answer)
        state = inspect(running.name)["State"]
        print(
            f"\n[container] workers={workers}: SIGTERM -> exit {state['ExitCode']} "
            f"in {stopped['seconds']:.1f} s (stop timeout {stop_timeout} s)"
        )
        assert stopped["rc"] == 0
        assert stopped["seconds"] < stop_timeout, "stopped by itself, not killed at the timeout"
        assert state["ExitCode"] == 0, "graceful exit (137 would mean SIGKILL)"
    finally:
        remove(running.name)
