"""Run the real HTTP adapter (`python -m flightontime_server`) on loopback for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TOKEN = "tok-primary-0123456789abcdef"
ROTATED = "tok-rotated-0123456789abcdef"
JAVA_REQUEST = {
    "companhia": "AZU",
    "origem": "SBKP",
    "destino": "SBRP",
    "data_partida": "2025-11-10T14:30:00",
    "distancia_m": 218000,
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any FlightOnTime or token setting, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLIGHTONTIME_", "PREDICTION_API_", "PROMETHEUS_"))
    }
    env.setdefault("FLIGHTONTIME_WORKERS", "1")  # tests that want more say so
    env.update(extra)
    return env


@dataclass
class Server:
    """A running server process and how to reach it."""

    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path
    stdout_path: Path
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def client(self, token: str | None = TOKEN, **headers: str) -> httpx.Client:
        """An HTTP client for this server (no proxies), with the raw token header by default."""
        if token is not None:
            headers.setdefault("Authorization", token)
        c = httpx.Client(base_url=self.base_url, headers=headers, timeout=30, trust_env=False)
        self.clients.append(c)
        return c

    def logs(self) -> str:
        """Everything the server wrote (stderr: JSON logs; stdout: banners)."""
        return self.log_path.read_text() + self.stdout_path.read_text()

    def wait_ready(self, timeout: float = 90) -> None:
        """Until /ready answers 200."""
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2, trust_env=False) as c:
            while time.monotonic() < deadline:
                self.assert_alive()
                try:
                    if c.get("/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s:\n{self.logs()}")

    def assert_alive(self) -> None:
        """Fail with the server's logs when it has exited."""
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.logs()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait, return the exit code (kill if it hangs)."""
        for c in self.clients:
            c.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def launch(
    tmp: Path,
    model_dir: Path | None,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `python -m flightontime_server` without waiting (logs go to files in tmp)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "flightontime_server", "--host", "127.0.0.1", "--port", str(port)]
    if model_dir is not None:
        cmd += ["--model", str(model_dir)]
    cmd += list(args)
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        cmd,
        env=clean_env(**(env or {})),
        stdout=(tmp / "stdout.log").open("wb"),
        stderr=(tmp / "stderr.log").open("wb"),
    )
    return proc, port


def start_server(
    tmp: Path,
    model_dir: Path | None,
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
    ready: bool = True,
    timeout: float = 90,
) -> Server:
    """Start the server and wait until it listens (and, by default, is ready)."""
    proc, port = launch(tmp, model_dir, env, args)
    server = Server(proc, f"http://127.0.0.1:{port}", tmp / "stderr.log", tmp / "stdout.log")
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=2, trust_env=False) as c:
        while True:
            try:
                server.assert_alive()
            except AssertionError:
                server.stop()
                raise
            try:
                if c.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise AssertionError(f"server did not listen in {timeout}s:\n{server.logs()}")
            time.sleep(0.05)
    if ready:
        server.wait_ready(timeout)
    return server
