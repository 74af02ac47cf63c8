"""Blue-green deployment with podman, for real: the nginx proxy image, two versions of the
serving image (flightontime:<version>, docker/server.Dockerfile), deploy A -> B under continuous
load through the proxy (zero lost requests, every answer after the switch from B), rollback, and
broken versions refused while the old slot serves.

Needs podman (make container-engine) and the serving image (make image). Containers, network,
secrets and the test's derived images are removed at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import BACKEND_REQUEST, ROOT, free_port, package_version, wait_until
from .loadgen import Load, summary

pytestmark = pytest.mark.ops

SCRIPT = ROOT / "deploy" / "blue-green.sh"
VERSION = package_version()
APP_IMAGE = os.environ.get("FLIGHTONTIME_OPS_IMAGE") or f"flightontime:{VERSION}"
PROXY_IMAGE = "localhost/flightontime-proxy:ops-test"
PODMAN = shutil.which("podman")
# Run inside the image (its flightontime_core): each bundle's decision threshold +0.01, the model
# version recomputed from the content as training does (graph, tables, behaviour), then the
# bundle read and verified as the server will.
RETUNE = """\
import sys
import msgspec
from flightontime_core.bundle import (
    GRAPH_FILE, MANIFEST_FILE, TABLES_FILE, Bundle, content_version, encode_manifest,
    read_manifest,
)
from flightontime_core.service import find_bundles
for path in find_bundles(sys.argv[1]):
    m = read_manifest(path)
    behaviour = msgspec.structs.replace(
        m.behaviour, decision_threshold=round(m.behaviour.decision_threshold + 0.01, 4)
    )
    hashed = {k: v for k, v in m.files.items() if k in (GRAPH_FILE, TABLES_FILE)}
    m = msgspec.structs.replace(
        m, behaviour=behaviour, model_version=content_version(hashed, behaviour)
    )
    (path / MANIFEST_FILE).write_bytes(encode_manifest(m))
    assert Bundle.read(path).manifest.model_version == m.model_version
    print("version B:", path.name, m.model_version)
"""
# The tampered model: one byte of the default bundle's ONNX graph changed (its sha256 no longer
# matches the manifest), so `serve` refuses it before any worker starts and the slot exits.
TAMPER = """\
import sys
from flightontime_core.service import find_bundles
graph = find_bundles(sys.argv[1])[0] / "model.onnx"
data = bytearray(graph.read_bytes())
data[len(data) // 2] ^= 0x01
graph.write_bytes(bytes(data))
print("tampered", graph, "byte", len(data) // 2)
"""


def podman(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    assert PODMAN, "podman not found: run `make container-engine`"
    return subprocess.run(
        [PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def build(tag: str, containerfile: str, context: Path, *build_args: str) -> None:
    (context / "Containerfile").write_text(containerfile)
    started = time.monotonic()
    result = podman(
        "build",
        "--pull=never",
        "--format",
        "docker",
        *build_args,
        "-t",
        tag,
        "-f",
        str(context / "Containerfile"),
        str(context),
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"built {tag} in {time.monotonic() - started:.1f}s")


def image_env(image: str) -> dict[str, str]:
    env = podman("image", "inspect", "--format", "{{json .Config.Env}}", image).stdout
    return dict(item.split("=", 1) for item in json.loads(env))


@dataclass
class Stand:
    env: dict[str, str]
    port: int
    token: str
    images: dict[str, str]  # role -> tag
    versions: dict[str, str]  # role -> model version

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(
        self, *args: str, timeout: float = 300, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        result = subprocess.run(
            [str(SCRIPT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **extra_env},
            check=False,
        )
        result.duration = time.monotonic() - started  # type: ignore[attr-defined]
        print(
            f"$ blue-green.sh {' '.join(args)}  -> exit {result.returncode} "
            f"in {result.duration:.2f}s\n{result.stderr}{result.stdout}"
        )  # type: ignore[attr-defined]
        assert self.token not in result.stdout + result.stderr, "the token was printed"
        return result

    def status(self) -> str:
        return self.run("status").stdout

    def predict_version(self) -> str:
        r = httpx.post(
            f"{self.url}/predict",
            json=BACKEND_REQUEST,
            headers={"Authorization": self.token},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["versao_modelo"])


def model_dir_in(image: str) -> str:
    """Where the serving image keeps its bundle (docker/server.Dockerfile sets the variable)."""
    env = image_env(image)
    assert "FLIGHTONTIME_MODEL_DIR" in env, f"{image} sets no FLIGHTONTIME_MODEL_DIR: {env}"
    return env["FLIGHTONTIME_MODEL_DIR"]


@pytest.fixture(scope="module")
def stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    if PODMAN is None:
        pytest.fail("podman not found: run `make container-engine`")
    if podman("image", "exists", APP_IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {APP_IMAGE} not found: run `make image`")
    tmp = tmp_path_factory.mktemp("bluegreen")
    tag = secrets.token_hex(3)
    prefix = f"fot-ops-{tag}"

    # The proxy image, from deploy/bluegreen on the local Debian base.
    base = "debian:bookworm-slim"
    if podman("image", "exists", base, check=False).returncode != 0:
        base = "docker.io/library/python:3.11-slim"
    started = time.monotonic()
    result = podman(
        "build",
        "--pull=never",
        "--format",
        "docker",
        "--build-arg",
        f"BASE_IMAGE={base}",
        "-t",
        PROXY_IMAGE,
        str(ROOT / "deploy" / "bluegreen"),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"proxy image built in {time.monotonic() - started:.1f}s (base {base})")

    # Version B: image A with a re-tuned decision threshold (+0.01) in its bundle. The model
    # version is derived from the bundle's content (the graph's and tables' hashes and the
    # behaviour fields, the decision threshold among them), so this is a genuine new version
    # that loads, verifies and passes its self-test; retraining would give the same result at
    # the cost of minutes of CPU on this shared machine.
    model_path = model_dir_in(APP_IMAGE)
    images = {"A": APP_IMAGE}
    ctx_b = tmp / "b"
    ctx_b.mkdir()
    (ctx_b / "retune.py").write_text(RETUNE)
    images["B"] = f"localhost/flightontime-ops-b:{tag}"
    build(
        images["B"],
        f"FROM {APP_IMAGE}\nUSER root\nCOPY retune.py /tmp/retune.py\n"
        f"RUN python /tmp/retune.py {model_path} && rm /tmp/retune.py\nUSER appuser\n",
        ctx_b,
    )

    # Broken versions. Tampered model (a changed byte in model.onnx): `serve` refuses it and the
    # container exits before it ever listens.
    ctx_t = tmp / "tampered"
    ctx_t.mkdir()
    (ctx_t / "tamper.py").write_text(TAMPER)
    images["tampered"] = f"localhost/flightontime-ops-tampered:{tag}"
    build(
        images["tampered"],
        f"FROM {APP_IMAGE}\nUSER root\nCOPY tamper.py /tmp/tamper.py\n"
        f"RUN python /tmp/tamper.py {model_path} && rm /tmp/tamper.py\nUSER appuser\n",
        ctx_t,
    )
    # A command that fails at once.
    ctx_c = tmp / "crash"
    ctx_c.mkdir()
    images["crash"] = f"localhost/flightontime-ops-crash:{tag}"
    build(
        images["crash"],
        f'FROM {APP_IMAGE}\nCMD ["flightontime", "serve", "--port", "not-a-port"]\n',
        ctx_c,
    )

    token = secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "PREDICTION_API_TOKEN": token,
        "BG_PREFIX": prefix,
        "BG_PORT": str(port),
        "BG_STATE_DIR": str(tmp / "state"),
        "BG_PROXY_IMAGE": PROXY_IMAGE,
        "BG_READY_TIMEOUT": "60",
        "BG_STOP_TIMEOUT": "20",
        "BG_SLOT_ARGS": "--memory 1g",
        # Passed through to the slots by name (BG_SLOT_ENV's default).
        "FLIGHTONTIME_WORKERS": "1",
        "FLIGHTONTIME_THREADS": "1",
    }
    env.pop("PREDICTION_API_TOKEN_FILE", None)
    stand = Stand(env=env, port=port, token=token, images=images, versions={})
    try:
        yield stand
    finally:
        stand.run("down", timeout=120)
        # What `down` left behind (asserted below, after the fallback clean-up).
        net_left = podman("network", "exists", f"{prefix}-bg", check=False).returncode == 0
        names_left = podman(
            "ps", "-a", "--filter", f"name={prefix}", "--format", "{{.Names}}"
        ).stdout.split()
        for name in names_left:
            podman("rm", "-f", "-t", "0", name, check=False)
        podman("network", "rm", f"{prefix}-bg", check=False)
        for role in ("B", "tampered", "crash"):
            podman("rmi", "-f", images[role], check=False)
        assert not net_left, "blue-green.sh down left the network"
        assert not names_left, f"blue-green.sh down left containers: {names_left}"
        secrets_left = podman("secret", "ls", "--format", "{{.Name}}").stdout.split()
        assert not [s for s in secrets_left if s.startswith(prefix)], secrets_left
        assert not podman(
            "ps", "-a", "--filter", f"name={prefix}", "--format", "{{.Names}}"
        ).stdout.strip()


def deploy_under_load(
    stand: Stand, *args: str, **extra_env: str
) -> tuple[subprocess.CompletedProcess[str], list, float, float]:  # type: ignore[type-arg]
    load = Load(
        stand.url, stand.token, BACKEND_REQUEST, threads=4, max_requests=60_000, max_seconds=240
    ).start()
    time.sleep(2.0)  # steady traffic before the switch
    t_begin = time.time()
    result = stand.run(*args, **extra_env)
    t_end = time.time()
    time.sleep(2.0)  # and after it
    answers = load.stop()
    assert answers, "no load was sent"
    assert max(a.started for a in answers) >= t_end, "the load stopped before the command ended"
    return result, answers, t_begin, t_end


def report(
    title: str,
    answers: list,
    result: subprocess.CompletedProcess[str],
    t_begin: float,
    t_end: float,
) -> dict[str, float]:  # type: ignore[type-arg]
    numbers = summary(answers)
    switch = re.search(
        r"first answer from \w+ after (\d+) ms, confirmed after (\d+) ms", result.stderr
    )
    by_version: dict[str, int] = {}
    for a in answers:
        by_version[str(a.version)] = by_version.get(str(a.version), 0) + 1
    first, confirmed = (switch.group(1), switch.group(2)) if switch else ("n/a", "n/a")
    print(
        f"\n=== {title}: sent {numbers['sent']:.0f}, ok {numbers['ok']:.0f}, "
        f"lost {numbers['lost']:.0f} over {numbers['seconds']:.1f}s "
        f"({numbers['rps']:.0f} req/s, 4 clients); deploy command {t_end - t_begin:.2f}s; "
        f"switch (reload -> first answer from the new slot) {first} ms, confirmed {confirmed} ms; "
        f"latency p50 {numbers['p50_ms']:.1f} ms, p99 {numbers['p99_ms']:.1f} ms, "
        f"max {numbers['max_ms']:.1f} ms; answers by version {by_version}"
    )
    errors = [a.error for a in answers if a.status != 200][:5]
    if errors:
        print(f"first errors: {errors}")
    return numbers


def test_first_deploy_of_a(stand: Stand) -> None:
    result = stand.run("deploy", stand.images["A"])
    assert result.returncode == 0
    stand.versions["A"] = stand.predict_version()
    status = stand.status()
    image, version = re.escape(stand.images["A"]), re.escape(stand.versions["A"])
    assert re.search(rf"^blue\s+running\s+image={image} model={version} serving", status, re.M), (
        status
    )
    assert re.search(r"^proxy\s+running\s+\S+ -> blue", status, re.M), status
    # The token reaches the slot as a secret file: not in its configuration or environment.
    inspect = podman("inspect", f"{stand.env['BG_PREFIX']}-blue").stdout
    assert stand.token not in inspect
    assert "PREDICTION_API_TOKEN_FILE" in inspect
    # The server's settings from the host reach the slot (BG_SLOT_ENV).
    slot_env = json.loads(inspect)[0]["Config"]["Env"]
    assert "FLIGHTONTIME_WORKERS=1" in slot_env
    assert "FLIGHTONTIME_THREADS=1" in slot_env


def test_deploy_b_under_load_loses_nothing(stand: Stand) -> None:
    assert stand.versions.get("A"), "needs test_first_deploy_of_a"
    result, answers, t_begin, t_end = deploy_under_load(stand, "deploy", stand.images["B"])
    numbers = report("deploy A -> B under load", answers, result, t_begin, t_end)
    assert result.returncode == 0
    stand.versions["B"] = stand.predict_version()
    assert stand.versions["B"] != stand.versions["A"]
    assert numbers["lost"] == 0, [a.error for a in answers if a.status != 200][:5]
    versions = {a.version for a in answers}
    assert versions == {stand.versions["A"], stand.versions["B"]}, (
        versions
    )  # the switch happened under load
    after = [a for a in answers if a.started >= t_end]
    assert after, "no request after the deploy finished"
    assert all(a.version == stand.versions["B"] and a.slot == "green" for a in after)
    # Once the first answer from B arrived, A answers only requests already sent by then.
    first_b = min(a.ended for a in answers if a.version == stand.versions["B"])
    late_a = [a for a in answers if a.version == stand.versions["A"] and a.started > first_b + 1.0]
    assert not late_a, f"{len(late_a)} requests sent >1 s after the switch were answered by A"
    status = stand.status()
    assert re.search(
        rf"^green\s+running\s+image=\S+ model={re.escape(stand.versions['B'])} serving",
        status,
        re.M,
    ), status
    assert re.search(r"^blue\s+exited\s+.*rollback target", status, re.M), status


def test_rollback_under_load(stand: Stand) -> None:
    assert stand.versions.get("B"), "needs the deploy test"
    result, answers, t_begin, t_end = deploy_under_load(stand, "rollback")
    numbers = report("rollback B -> A under load", answers, result, t_begin, t_end)
    assert result.returncode == 0
    assert numbers["lost"] == 0
    after = [a for a in answers if a.started >= t_end]
    assert after
    assert all(a.version == stand.versions["A"] for a in after)
    assert stand.predict_version() == stand.versions["A"]
    # And forward again, so the next tests refuse a broken version with B serving.
    assert stand.run("deploy", stand.images["B"]).returncode == 0
    assert stand.predict_version() == stand.versions["B"]


@pytest.mark.parametrize(
    ("role", "reason", "extra_env", "logged"),
    [
        (
            "tampered",
            r"exited \(code 3\) before becoming ready",
            {},
            # The slot's own log, shown by the script (without the probes' access lines).
            "model.onnx: sha256 does not match the manifest",
        ),
        ("crash", r"exited \(code \d+\) before becoming ready", {}, "Invalid value for '--port'"),
        (
            "A",
            r"smoke test: /predict on \S+ answered HTTP 422",
            {"BG_SMOKE_BODY": json.dumps({**BACKEND_REQUEST, "origem": "ZZ-Z"})},
            None,
        ),
    ],
    ids=["tampered-model-ends-the-slot", "command-fails", "smoke-test-fails"],
)
def test_broken_version_is_refused(
    stand: Stand, role: str, reason: str, extra_env: dict[str, str], logged: str | None
) -> None:
    assert stand.versions.get("B"), "needs the deploy test"
    before = stand.status()
    result, answers, t_begin, t_end = deploy_under_load(
        stand, "deploy", stand.images[role], **extra_env
    )
    numbers = report(f"refused deploy ({role}) under load", answers, result, t_begin, t_end)
    assert result.returncode != 0
    assert re.search(r"ERROR: refused: .*" + reason, result.stderr), result.stderr
    assert "traffic stays on green" in result.stderr
    if logged is not None:
        assert logged in result.stderr, result.stderr
        assert '"logger":"flightontime_server.access"' not in result.stderr
    assert numbers["lost"] == 0
    assert {a.version for a in answers} == {stand.versions["B"]}, "the broken version got traffic"
    assert stand.status().splitlines()[0] == before.splitlines()[0]
    assert stand.predict_version() == stand.versions["B"]
    wait_until(lambda: "green   running" in stand.status(), 5, "green still running")
