"""docker-compose.yml started for real (podman-compose here), its settings checked in effect."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
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
        [*compose_cmd(), "-p", PROJECT, "-f", str(ROOT / "docker-compose.yml"), *args],
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
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    api = doc["services"]["api"]
    assert api["image"].endswith(f"flightontime:{VERSION}}}"), (
        "image tag = version in pyproject.toml"
    )
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
    dev = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())["services"]["api"]
    assert any(v.startswith("./src:") for v in dev["volumes"])
    assert any(v.startswith("./models:") for v in dev["volumes"])
    assert "--reload" in dev["command"]
    assert dev["environment"]["FLIGHTONTIME_LOG_LEVEL"] == "debug"
    assert "PREDICTION_API_TOKEN" in dev["environment"]


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
def test_dev_compose_serves_the_mounted_source_and_models(tmp_path: Path) -> None:
    """docker-compose.dev.yml in a scratch project: ./src (the repo's), ./models (the image's)."""
    name = "flightontime-api-dev"
    if engine("container", "exists", name, check=False).returncode == 0:
        pytest.fail(f"a container named {name} already runs: not touching it")
    shutil.copy(ROOT / "docker-compose.dev.yml", tmp_path / "docker-compose.dev.yml")
    (tmp_path / "src").symlink_to(ROOT / "src")
    (tmp_path / "models").mkdir()
    holder = f"fot-ct-model-{os.getpid()}"
    engine("create", "--name", holder, IMAGE)
    try:
        engine("cp", f"{holder}:/opt/flightontime/model", str(tmp_path / "models" / "default"))
    finally:
        engine("rm", "-f", holder, check=False)
    port = free_port()
    env = _clean_env(FLIGHTONTIME_DEV_PORT=str(port))
    cmd = [*compose_cmd(), "-p", "fot-ct-dev", "-f", str(tmp_path / "docker-compose.dev.yml")]

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
            "exec", name, "python", "-c", "import flightontime; print(flightontime.__file__)"
        )
        assert where.stdout.strip() == "/opt/flightontime/src/flightontime/__init__.py"
        cmdline = engine("exec", name, "cat", "/proc/1/cmdline").stdout.replace("\0", " ")
        assert "--reload" in cmdline
        url = f"http://127.0.0.1:{port}/predict"
        headers = {"Authorization": "dev-token-not-for-production"}
        status, answer = http("POST", url, PREDICT_BODY, headers)
        assert status == 200, answer
        assert inspect(name)["HostConfig"]["ReadonlyRootfs"] is True
    finally:
        run("down", "-t", "5")
