"""The job image (flightontime-cli): the CLI with the training extra, non-root, no compiler, no
pip; it verifies and scores with a model mounted read-only (training itself is too slow here:
the build's smoke test imports the whole training stack instead)."""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from pathlib import Path

import pytest

from .conftest import CLI_IMAGE, HARDENED, ROOT, VERSION, engine, image_mb

pytestmark = [pytest.mark.container, pytest.mark.timeout(300)]

MODELS = ROOT / "models"


def run_cli(*args: str, mounts: list[str] | None = None, timeout: float = 120) -> str:
    volumes = [x for m in (mounts or []) for x in ("-v", m)]
    proc = engine(
        "run", "--rm", *HARDENED, *volumes, CLI_IMAGE, *args, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"flightontime {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def config(cli_image: str) -> dict:
    data: dict = json.loads(engine("image", "inspect", cli_image).stdout)[0]["Config"]
    return data


def test_config_and_labels(config: dict) -> None:
    assert config["User"] == "appuser"
    assert config["Entrypoint"] == ["flightontime"]
    assert config["Cmd"] == ["--help"]
    env = dict(e.split("=", 1) for e in config["Env"])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONPYCACHEPREFIX"] == "/opt/pycache"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "flightontime-cli"
    assert labels["org.opencontainers.image.version"] == VERSION
    for key in ("revision", "created", "source", "licenses", "description"):
        assert labels[f"org.opencontainers.image.{key}"], key


def test_help_version_and_user(cli_image: str) -> None:
    assert "train" in run_cli("--help")
    version = run_cli("version")
    assert f"flightontime {VERSION}" in version
    assert re.search(r"\[train\]: installed", version), version
    assert "flightontime-server: not installed" in version, "the job image has no server"
    who = engine("run", "--rm", "--entrypoint", "id", cli_image).stdout.strip()
    assert who.startswith("uid=1001(appuser) gid=1001(appuser)"), who
    print(f"\n[container] {CLI_IMAGE}: {image_mb(cli_image):.0f} MB here")


def test_no_compiler_and_no_pip(cli_image: str) -> None:
    probe = (
        "import importlib.util as u, shutil; "
        "print([m for m in ('pip', 'ensurepip._bundled') if u.find_spec(m.split('.')[0]) and "
        "(m != 'ensurepip._bundled' or u.find_spec(m))]); "
        "print([t for t in ('gcc', 'cc', 'g++', 'make', 'ld', 'as', 'pip', 'pip3') "
        "if shutil.which(t)])"
    )
    out = engine("run", "--rm", "--entrypoint", "python", cli_image, "-c", probe).stdout
    assert out.split("\n")[:2] == ["[]", "[]"], out


def test_verify_the_model_mounted_read_only(cli_image: str) -> None:
    out = run_cli("verify", "/models/default", mounts=[f"{MODELS}:/models:ro"])
    assert out.rstrip().endswith("ok"), out


def test_scores_a_csv_against_the_mounted_model(cli_image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="fot-ct-jobs-") as tmp:
        jobs = Path(tmp)
        jobs.chmod(0o777)  # the container's appuser writes the result here
        (jobs / "flights.csv").write_text(
            "companhia,origem,destino,data_partida\n"
            "AA,JFK,LAX,2013-11-10T14:30:00\n"
            "DL,LGA,ATL,2013-12-01T08:05:00\n"
            "XX,???,LAX,not a date\n"
        )
        (jobs / "flights.csv").chmod(0o644)
        run_cli(
            "score",
            "/jobs/flights.csv",
            "/jobs/scored.csv",
            "--model",
            "/models/default",
            mounts=[f"{MODELS}:/models:ro", f"{jobs}:/jobs"],
        )
        with (jobs / "scored.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        owner = os.stat(jobs / "scored.csv").st_uid
    assert len(rows) == 3
    assert rows[0]["previsao"] in ("0", "1")
    assert 0.0 <= float(rows[0]["probabilidade"]) <= 1.0
    assert rows[2]["erro"], "the bad row is kept, with its reason"
    assert owner == 1001, "written by appuser"
    print(f"\n[container] cli score: {rows[0]}")
