"""Graceful shutdown: SIGTERM while a request is in flight; it completes, exit code 0."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from .server import JAVA_REQUEST, TOKEN, start_server


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    sock.settimeout(20)
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
def test_sigterm_finishes_in_flight_request(bundle_dir: Path, tmp_path: Path, workers: int) -> None:
    srv = start_server(
        tmp_path,
        bundle_dir,
        env={"PREDICTION_API_TOKEN": TOKEN, "FLIGHTONTIME_GRACEFUL_TIMEOUT_S": "15"},
        args=["--workers", str(workers)],
    )
    for _ in range(10):
        srv.wait_ready()
    port = int(srv.base_url.rsplit(":", 1)[1])
    body = json.dumps(JAVA_REQUEST).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        # A slow client: headers and half the body now, the rest after SIGTERM.
        head = (
            f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body[:20])
        time.sleep(0.5)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        if workers == 1:
            # Stopped accepting new connections...
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # ...but the request in flight is still served.
        assert srv.proc.poll() is None
        sock.sendall(body[20:])
        status, answer = _read_response(sock)
        assert status == 200, answer
        assert json.loads(answer)["previsao"] in (0, 1)
    finally:
        sock.close()
    assert srv.proc.wait(timeout=20) == 0
