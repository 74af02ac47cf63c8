"""docker/compose.yml and docker/compose.dev.yml started for real (podman-compose here), from the
documented place (the repository root, `-f docker/compose.yml`), their settings checked in
effect; the development file's hot reload checked on a scratch copy of the sources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from .conftest import (
    IMAGE,
    PREDICT_BODY,
    ROOT,
    VERSION,
    engine,
    free_port,
    http,
    inspect,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

CONTAINER = "flightontime-api"
PROJECT = "fot-ct-compose"
COMPOSE_FILE = ROOT / "docker" / "compose.yml"
DEV_FILE = ROOT / "docker" / "compose.dev.yml"
MONITORING_FILE = ROOT / "docker" / "compose.monitoring.yml"
GiB = 1024**3
MiB = 1024**2


def compose_cmd() -> list[str]:
    """podman-compose here; Docker's compose plugin where Docker runs."""
    if shutil.which("podman-compose"):
        # Docker's behaviour for read_only: only the declared tmpfs is writable.
        return ["podman-compose", "--podman-run-args=--read-only-tmpfs=false"]
    if shutil.which("docker"):
        return ["docker", "compose"]
    pytest.fail("no compose client: run `make container-engine` (installs podman-compose)")


def compose(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*compose_cmd(), "-p", PROJECT, "-f", "docker/compose.yml", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"compose {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICTION_API_TOKEN", "FLIGHTONTIME_"))
    }
    env.update(FLIGHTONTIME_IMAGE=IMAGE, **extra)
    return env


@pytest.fixture
def no_foreign_container() -> None:
    if engine("container", "exists", CONTAINER, check=False).returncode == 0:
        labels = inspect(CONTAINER)["Config"].get("Labels") or {}
        if labels.get("com.docker.compose.project") != PROJECT:
            pytest.fail(
                f"a container named {CONTAINER} already runs (not this suite's): not touching it"
            )
        engine("rm", "-f", "-t", "0", CONTAINER, check=False)


def test_compose_file_matches_the_issue() -> None:
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    api = doc["services"]["api"]
    assert api["image"].endswith(f"flightontime:{VERSION}}}"), "image tag = the packages' version"
    assert api["build"] == {
        "context": "..",
        "dockerfile": "docker/server.Dockerfile",
        "target": "runtime",
        "args": {"VERSION": VERSION},
    }
    assert api["container_name"] == CONTAINER
    assert api["read_only"] is True
    assert api["tmpfs"] == ["/tmp"]
    assert api["security_opt"] == ["no-new-privileges:true"]
    assert api["cap_drop"] == ["ALL"]
    res = api["deploy"]["resources"]
    assert res["limits"] == {"cpus": "2.0", "memory": "2G"}
    assert res["reservations"] == {"cpus": "0.5", "memory": "512M"}
    assert api["restart"] == "unless-stopped"
    assert api["logging"]["options"]["max-size"]
    assert "volumes" not in api, "no volumes: the model is in the image"
    assert api["environment"]["PREDICTION_API_TOKEN_FILE"] == "/run/secrets/prediction_api_token"
    assert "prediction_api_token" in api["secrets"]
    assert {"test", "interval", "timeout", "retries", "start_period"} <= set(api["healthcheck"])
    for name in ("FLIGHTONTIME_WORKERS", "FLIGHTONTIME_LOG_LEVEL"):
        assert str(api["environment"][name]).startswith("${"), f"{name} from the environment"
    dev = yaml.safe_load(DEV_FILE.read_text())["services"]["api"]
    for package in ("core", "server", "cli"):
        assert f"../packages/{package}/src:/opt/flightontime/src/{package}:ro" in dev["volumes"]
    assert "../models:/opt/flightontime/models:ro" in dev["volumes"]
    assert "ServeOptions(reload=True)" in " ".join(dev["command"])
    assert dev["environment"]["FLIGHTONTIME_LOG_LEVEL"] == "debug"
    assert "dev-token-not-for-production" in dev["environment"]["PREDICTION_API_TOKEN"]
    assert dev["read_only"] is True
    assert dev["cap_drop"] == ["ALL"]
    monitoring = yaml.safe_load(MONITORING_FILE.read_text())["services"]
    assert {"prometheus", "grafana"} <= set(monitoring)
    for service in monitoring.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE_FILE.parent / source).exists(), f"{volume}: no such path"
    # The old root files are gone (one set of Compose files).
    for old in ("docker-compose.yml", "docker-compose.dev.yml", "docker-compose.monitoring.yml"):
        assert not (ROOT / old).exists(), f"{old} is back at the root"


@pytest.mark.usefixtures("image", "no_foreign_container")
def test_production_compose_up_with_token_file() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fot-ct-secret-") as tmp:
        token = "compose-file-token-" + os.urandom(8).hex()
        secret = Path(tmp) / "prediction_api_token"
        secret.write_text(token + "\n")
        if os.geteuid() == 0:  # as documented: readable by the container's UID only
            os.chown(secret, 1001, 1001)
            secret.chmod(0o400)
        else:
            secret.chmod(0o644)
        env = _clean_env(
            PREDICTION_API_TOKEN_FILE=str(secret),
            FLIGHTONTIME_PUBLISH=f"127.0.0.1:{port}",
            FLIGHTONTIME_WORKERS="2",
            FLIGHTONTIME_LOG_LEVEL="warning",
        )
        try:
            compose(env, "up", "-d")
            seconds = wait_healthy(CONTAINER, 60)
            print(
                f"\n[container] compose up -> healthy in {seconds:.2f} s (after `up -d` returned)"
            )
            info = inspect(CONTAINER)
            host, config = info["HostConfig"], info["Config"]
            assert host["ReadonlyRootfs"] is True
            assert host["Memory"] == 2 * GiB
            assert host["NanoCpus"] == 2_000_000_000 or host.get("CpuQuota") == 200_000
            assert host["MemoryReservation"] == 512 * MiB
            assert "no-new-privileges" in " ".join(host.get("SecurityOpt") or [])
            assert host["RestartPolicy"]["Name"] == "unless-stopped"
            assert "/tmp" in (host.get("Tmpfs") or {})
            assert host["LogConfig"].get("Size") or host["LogConfig"].get("Config", {}).get(
                "max-size"
            )
            dests = [m["Destination"] for m in info["Mounts"]]
            assert dests == ["/run/secrets/prediction_api_token"], (
                f"only the secret is mounted: {dests}"
            )
            env_names = {e.split("=", 1)[0]: e.split("=", 1)[1] for e in config["Env"]}
            assert env_names["FLIGHTONTIME_WORKERS"] == "2"
            assert env_names["FLIGHTONTIME_LOG_LEVEL"] == "warning"
            status = engine("exec", CONTAINER, "cat", "/proc/1/status").stdout
            cap_eff = re.search(r"CapEff:\s*([0-9a-f]+)", status).group(1)  # type: ignore[union-attr]
            assert int(cap_eff, 16) == 0, "all capabilities dropped"
            assert re.search(r"NoNewPrivs:\s*1", status)
            assert engine("exec", CONTAINER, "whoami").stdout.strip() == "appuser"
            assert (
                engine("exec", CONTAINER, "sh", "-c", "echo x > /var/tmp/x", check=False).returncode
                != 0
            )
            url = f"http://127.0.0.1:{port}"
            status_code, answer = http(
                "POST", f"{url}/predict", PREDICT_BODY, {"Authorization": token}
            )
            assert status_code == 200, answer
            assert http("POST", f"{url}/predict", PREDICT_BODY)[0] == 401
            print(
                f"[container] compose: ReadonlyRootfs, Memory 2G, NanoCpus 2e9, reservation 512M, "
                f"CapEff 0, NoNewPrivs, restart unless-stopped, log {host['LogConfig']}"
            )
        finally:
            compose(env, "down", "-t", "10", timeout=120)
    assert engine("container", "exists", CONTAINER, check=False).returncode != 0


@pytest.mark.usefixtures("image", "no_foreign_container")
def test_production_compose_up_with_token_from_environment() -> None:
    port = free_port()
    token = "compose-env-token-" + os.urandom(8).hex()
    env = _clean_env(PREDICTION_API_TOKEN=token, FLIGHTONTIME_PUBLISH=f"127.0.0.1:{port}")
    try:
        compose(env, "up", "-d")
        wait_healthy(CONTAINER, 60)
        url = f"http://127.0.0.1:{port}"
        assert http("POST", f"{url}/predict", PREDICT_BODY, {"Authorization": token})[0] == 200
        assert http("POST", f"{url}/predict", PREDICT_BODY, {"Authorization": "x" * 20})[0] == 401
    finally:
        compose(env, "down", "-t", "10", timeout=120)


@pytest.mark.usefixtures("image")
def test_dev_compose_serves_the_mounted_source_and_reloads(tmp_path: Path) -> None:
    """docker/compose.dev.yml in a scratch project laid out like the repository: copies of the
    packages' sources (edited below, never the repository's) and of models/default."""
    name = "flightontime-api-dev"
    if engine("container", "exists", name, check=False).returncode == 0:
        pytest.fail(f"a container named {name} already runs: not touching it")
    (tmp_path / "docker").mkdir()
    shutil.copy(DEV_FILE, tmp_path / "docker" / "compose.dev.yml")
    for package in ("core", "server", "cli"):
        shutil.copytree(
            ROOT / "packages" / package / "src",
            tmp_path / "packages" / package / "src",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copytree(ROOT / "models" / "default", tmp_path / "models" / "default")
    for path in tmp_path.rglob("*"):  # the container's appuser reads the mounts
        path.chmod(0o755 if path.is_dir() else 0o644)
    tmp_path.chmod(0o755)
    port = free_port()
    env = _clean_env(FLIGHTONTIME_DEV_PORT=str(port))
    cmd = [*compose_cmd(), "-p", "fot-ct-dev", "-f", "docker/compose.dev.yml"]

    def run(*args: str) -> None:
        proc = subprocess.run(
            [*cmd, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"

    try:
        run("up", "-d")
        wait_healthy(name, 90)
        where = engine(
            "exec",
            name,
            "python",
            "-c",
            "import flightontime_server, flightontime_core; "
            "print(flightontime_server.__file__, flightontime_core.__file__)",
        )
        assert where.stdout.split() == [
            "/opt/flightontime/src/server/flightontime_server/__init__.py",
            "/opt/flightontime/src/core/flightontime_core/__init__.py",
        ]
        url = f"http://127.0.0.1:{port}"
        headers = {"Authorization": "dev-token-not-for-production"}
        status, answer = http("POST", f"{url}/predict", PREDICT_BODY, headers)
        assert status == 200, answer
        assert http("GET", f"{url}/health")[1] == {"status": "ok"}
        info = inspect(name)
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert not mounts["/opt/flightontime/src/server"]["RW"]
        assert not mounts["/opt/flightontime/models"]["RW"]
        running_env = dict(e.split("=", 1) for e in info["Config"]["Env"])
        assert running_env["FLIGHTONTIME_LOG_LEVEL"] == "debug", "debug logs"
        assert running_env["PREDICTION_API_TOKEN"] == "dev-token-not-for-production"
        logs = engine("logs", name)
        assert "Will watch for changes" in logs.stdout + logs.stderr, "uvicorn's reloader runs"

        # Hot reload: change what /health answers in the mounted source.
        health = tmp_path / "packages/server/src/flightontime_server/routes/health.py"
        text = health.read_text()
        assert 'HealthResponse(status="ok")' in text
        health.write_text(
            text.replace('HealthResponse(status="ok")', 'HealthResponse(status="reloaded")')
        )
        deadline = time.monotonic() + 60
        body: object = None
        while time.monotonic() < deadline:
            status, body = http("GET", f"{url}/health", timeout=5)
            if status == 200 and isinstance(body, dict) and body.get("status") == "reloaded":
                break
            time.sleep(0.5)
        assert isinstance(body, dict), body
        assert body.get("status") == "reloaded", f"no reload: {body}"
        print(f"\n[container] dev compose: edited health.py, reloaded: {body}")
    finally:
        run("down", "-t", "5")
