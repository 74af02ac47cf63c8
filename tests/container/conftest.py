"""Container suite: the real images, run the way production runs them (podman here,
Docker-compatible).

Run with `make test-container` (builds both images of docker-bake.hcl's group `default` first).
Every test talks to 127.0.0.1 only, is bounded in time and removes the containers (and images,
registries) it started. The serving image under test is $FLIGHTONTIME_IMAGE (default
flightontime:<packages' version>), the job image $FLIGHTONTIME_CLI_IMAGE (default
flightontime-cli:<version>); the engine is $CONTAINER_ENGINE (default podman).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tool_envs import env_bin

ROOT = Path(__file__).resolve().parents[2]
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (ROOT / "packages/core/src/flightontime_core/__about__.py").read_text(),
    re.MULTILINE,
).group(1)  # type: ignore[union-attr]
IMAGE = os.environ.get("FLIGHTONTIME_IMAGE", f"flightontime:{VERSION}")
CLI_IMAGE = os.environ.get("FLIGHTONTIME_CLI_IMAGE", f"flightontime-cli:{VERSION}")
BASE_IMAGE = "python:3.11-slim"
# docker.io/library/python:3.11-slim, uncompressed; the local stand-in base is larger.
OFFICIAL_BASE_MB = 125.0
# The size target for the serving image, estimated on the official base, and the bound
# the suite asserts: today's measured 249 MB plus a small margin, so that growth fails. The
# target is missed (docs/container.md, "Where the megabytes go"); the test prints both.
SIZE_TARGET_MB = 220.0
SIZE_LIMIT_MB = 255.0
# The scanners: $TOOLS_BIN when set, else the bin directory of the hatch environment `scan`.
TOOLS = Path(os.environ["TOOLS_BIN"]) if "TOOLS_BIN" in os.environ else env_bin("scan")
PREFIX = "fot-ct-"  # every container this suite starts is named with it

# The backend's request (the default model is trained on US 2013 flights).
PREDICT_BODY = {
    "companhia": "AA",
    "origem": "JFK",
    "destino": "LAX",
    "data_partida": "2013-11-10T14:30:00",
}

# `docker run` flags equivalent to docker/compose.yml's hardening. podman's --read-only also
# mounts tmpfs on /run and /var/tmp unless --read-only-tmpfs=false (Docker does not).
HARDENED = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--security-opt",
    "no-new-privileges",
    "--cap-drop",
    "ALL",
    "--memory",
    "2g",
    "--cpus",
    "2",
]
if ENGINE == "podman":
    HARDENED.insert(1, "--read-only-tmpfs=false")


def engine(
    *args: str,
    timeout: float = 60,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the container engine; raise with its output on failure."""
    proc = subprocess.run(
        [ENGINE, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{ENGINE} {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(engine("inspect", name).stdout)
    return data[0]


def wait_healthy(name: str, timeout: float = 60, since: float | None = None) -> float:
    """Run the image's HEALTHCHECK until it passes (no systemd timers here); seconds taken."""
    start = since if since is not None else time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        if engine("healthcheck", "run", name, check=False, timeout=30).returncode == 0:
            return time.monotonic() - start
        state = inspect(name)["State"]
        if not state.get("Running"):
            logs = engine("logs", "--tail", "40", name, check=False)
            raise AssertionError(
                f"{name} exited ({state.get('ExitCode')}):\n{logs.stdout}{logs.stderr}"
            )
        time.sleep(0.2)
    logs = engine("logs", "--tail", "40", name, check=False)
    raise AssertionError(f"{name} not healthy after {timeout:.0f}s:\n{logs.stdout}{logs.stderr}")


def host_port(name: str, port: int = 8000) -> int:
    out = engine("port", name, f"{port}/tcp").stdout.strip().splitlines()[0]
    host, _, hport = out.rpartition(":")
    assert host in ("127.0.0.1", "localhost"), f"published on {host}, expected 127.0.0.1"
    return int(hport)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> tuple[int, Any]:
    """(status, parsed JSON or text); never follows proxies (loopback only)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


@dataclass
class Running:
    name: str
    token: str
    started: float
    port: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_container(
    token: str,
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    name: str | None = None,
    image: str = IMAGE,
    hardened: bool = True,
) -> Running:
    """`run -d` the image hardened like production, the token passed by name (never in argv)."""
    name = name or f"{PREFIX}{uuid.uuid4().hex[:8]}"
    run_env = dict(os.environ, PREDICTION_API_TOKEN=token)
    env_args: list[str] = ["--env", "PREDICTION_API_TOKEN"]
    for key, value in (env or {}).items():
        env_args += ["--env", f"{key}={value}"]
    started = time.monotonic()
    engine(
        "run",
        "-d",
        "--name",
        name,
        *(HARDENED if hardened else []),
        "-p",
        "127.0.0.1::8000",
        *env_args,
        *(args or []),
        image,
        env=run_env,
        timeout=60,
    )
    running = Running(name=name, token=token, started=started)
    running.port = host_port(name)
    return running


def remove(name: str) -> None:
    engine("rm", "-f", "-t", "0", name, check=False, timeout=60)


def image_mb(ref: str) -> float:
    return int(engine("image", "inspect", "--format", "{{.Size}}", ref).stdout.strip()) / 1e6


def official_estimate_mb(ref: str) -> float:
    """The image's size as it would be on the official base: the layers above the local
    stand-in base plus the official base's size."""
    return image_mb(ref) - image_mb(BASE_IMAGE) + OFFICIAL_BASE_MB


def _require(ref: str) -> str:
    if shutil.which(ENGINE) is None:
        pytest.fail(f"{ENGINE} not found: run `make container-engine` (or set CONTAINER_ENGINE)")
    if engine("image", "inspect", ref, check=False).returncode != 0:
        pytest.fail(f"image {ref} not built: run `make images` (make test-container does)")
    return ref


@pytest.fixture(scope="session")
def image() -> str:
    return _require(IMAGE)


@pytest.fixture(scope="session")
def cli_image() -> str:
    return _require(CLI_IMAGE)


@pytest.fixture(scope="session")
def token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def prod(image: str, token: str) -> Iterator[Running]:
    """One container with the production settings (2 workers, metrics dir on /tmp)."""
    running = start_container(
        token,
        env={"FLIGHTONTIME_WORKERS": "2", "FLIGHTONTIME_METRICS_DIR": "/tmp/flightontime-metrics"},
    )
    try:
        running.extra["healthy_s"] = wait_healthy(running.name, 60, since=running.started)
        print(f"\n[container] {running.name}: start to healthy {running.extra['healthy_s']:.2f} s")
        yield running
    finally:
        remove(running.name)


# What the release's build context needs (a copy: a test signs its bundles, never the tree's).
RELEASE_CONTEXT = ("docker-bake.hcl", "scripts", "docker", "requirements", "packages")
RELEASE_BUNDLES = ("default", "brazil")


def throwaway_key_pair(directory: Path) -> tuple[Path, str]:
    """A P-256 key pair made for one test: (private key file, public key PEM text)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = directory / "model-signing.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def signed_release_context(directory: Path) -> tuple[Path, str]:
    """A copy of the build context whose bundles a throw-away key signed the way the release
    signs them (scripts/sign-models.sh), and that key's public half (PEM): what the bake file's
    `server-release` needs as MODEL_PUBLIC_KEY."""
    context = directory / "context"
    context.mkdir(parents=True)
    ignore = shutil.ignore_patterns(
        ".venv*", "__pycache__", "*.egg-info", ".*_cache", "build", "dist", "model.sig"
    )
    for name in RELEASE_CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=ignore)
        else:
            shutil.copy(source, context / name)
    for bundle in RELEASE_BUNDLES:
        shutil.copytree(ROOT / "models" / bundle, context / "models" / bundle, ignore=ignore)
    private, public = throwaway_key_pair(directory)
    signed = subprocess.run(
        ["bash", "scripts/sign-models.sh", "models"],
        cwd=context,
        env=dict(
            os.environ,
            MODEL_SIGNING_KEY_FILE=str(private),
            MODEL_PUBLIC_KEY=public,
            SIGN_PYTHON=sys.executable,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert signed.returncode == 0, signed.stderr
    for bundle in RELEASE_BUNDLES:
        assert (context / "models" / bundle / "model.sig").is_file(), bundle
    return context, public
