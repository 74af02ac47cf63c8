"""A real registry round trip: Debian's docker-registry on 127.0.0.1, the bake file's `release`
group built and pushed by scripts/bake.py (every release tag), pulled back BY DIGEST, and the
server run from the pulled image answers a prediction. Everything it starts is removed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import (
    ENGINE,
    PREDICT_BODY,
    VERSION,
    engine,
    free_port,
    http,
    remove,
    signed_release_context,
    start_container,
    wait_healthy,
)

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]

REGISTRY_BIN = "docker-registry"  # Debian's package (make registry-tools)
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status), response.read()
    except OSError:
        return 0, b""


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """docker-registry serving a scratch directory on 127.0.0.1 only; its address."""
    binary = shutil.which(REGISTRY_BIN)
    if binary is None:
        pytest.fail(f"{REGISTRY_BIN} not found: run `make registry-tools` (Debian's package)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="fot-ct-registry-") as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp}/data\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        log = (Path(tmp) / "registry.log").open("w")
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 30
            while _get(f"http://127.0.0.1:{port}/v2/")[0] != 200:
                assert proc.poll() is None, (Path(tmp) / "registry.log").read_text()
                assert time.monotonic() < deadline, "registry did not start"
                time.sleep(0.2)
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.mark.usefixtures("image", "cli_image")
def test_push_release_pull_by_digest_and_serve(registry: str, token: str) -> None:
    namespace = f"{registry}/flightontime"
    env = dict(
        os.environ,
        REGISTRY=namespace,
        REVISION=REVISION,
        IS_DEFAULT_BRANCH="true",
        CONTAINER_ENGINE=ENGINE,
    )
    pulled: list[str] = []
    tags: list[str] = []
    container = ""
    with tempfile.TemporaryDirectory(prefix="fot-ct-bake-") as tmp:
        # The release group's server image verifies its bundles: they are signed first, in a
        # copy of the context, with a key made for this test (as the release does with its own).
        context, env["MODEL_PUBLIC_KEY"] = signed_release_context(Path(tmp))
        metadata_file = Path(tmp) / "metadata.json"
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "scripts/bake.py",
                "release",
                "--insecure-registry",
                "--metadata-file",
                str(metadata_file),
            ],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=1000,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        took = time.monotonic() - started
        metadata = json.loads(metadata_file.read_text())
    try:
        major, minor = VERSION.split(".")[:2]
        for target, name in (
            ("server-release", "flightontime"),
            ("cli-release", "flightontime-cli"),
        ):
            tags += metadata[target]["image.name"].split(",")
            digest = metadata[target]["containerimage.digest"]
            assert digest.startswith("sha256:"), metadata
            listed = json.loads(_get(f"http://{registry}/v2/flightontime/{name}/tags/list")[1])
            assert sorted(listed["tags"]) == sorted(
                [VERSION, f"{major}.{minor}", major, f"sha-{REVISION[:7]}", "latest"]
            ), listed
            ref = f"{namespace}/{name}@{digest}"
            engine("pull", "--tls-verify=false", ref, timeout=600)
            pulled.append(ref)
            # The pulled image answers to its registry digest (podman keeps the local image's own
            # digest in .Digest when the layers were already there; the repo digest is the pull's).
            info = json.loads(engine("image", "inspect", ref).stdout)[0]
            assert ref in info["RepoDigests"], info["RepoDigests"]
        shown = ", ".join(p[: p.index("@") + 19] for p in pulled)
        print(
            f"\n[container] registry round trip: release group built and pushed in {took:.0f} s; "
            f"pulled {shown}"
        )
        assert "linux/arm64 not built" in proc.stderr, "the skipped platform is reported"
        assert "attestation type=sbom not produced" in proc.stderr, "so are attestations"

        running = start_container(token, image=pulled[0])
        container = running.name
        wait_healthy(running.name, 60, since=running.started)
        status, answer = http(
            "POST", f"{running.url}/predict", PREDICT_BODY, {"Authorization": token}
        )
        assert status == 200, answer
        assert answer["previsao"] in (0, 1)
        logs = engine("logs", running.name)
        assert "model signatures verified with" in logs.stdout + logs.stderr
        labels = json.loads(engine("image", "inspect", pulled[0]).stdout)[0]["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == REVISION
        cli = engine("run", "--rm", pulled[1], "--help", timeout=120)
        assert "train" in cli.stdout
    finally:
        if container:
            remove(container)
        for ref in [*pulled, *(t for t in tags if t)]:
            engine("rmi", ref, check=False)
