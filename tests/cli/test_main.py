"""The `flightontime` group: help stays fast (no heavy import), every command is wired."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flightontime_cli.main import cli

HEAVY = ("pandas", "sklearn", "onnxruntime", "pyarrow", "matplotlib", "numpy", "rich")
HEAVY += ("flightontime_core",)  # the core imports numpy and onnxruntime
COMMANDS = (
    "data", "healthcheck", "predict", "report", "score", "serve", "train", "verify", "version",
)  # fmt: skip

PROBE = """
import json, sys
from flightontime_cli.main import cli
try:
    cli(sys.argv[1:], prog_name="flightontime")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def loaded_after(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], {name.split(".")[0] for name in report["modules"]}


@pytest.mark.parametrize("args", [["--help"], ["score", "--help"], ["data", "anac", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    code, modules = loaded_after(*args)
    assert code == 0
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_healthcheck_imports_nothing_heavy() -> None:
    # The container probe runs every few seconds in the serving image.
    code, modules = loaded_after(
        "healthcheck", "--url", "http://127.0.0.1:9/ready", "--timeout", "1"
    )
    assert code == 1
    assert not modules & set(HEAVY), modules & set(HEAVY)


def test_every_command_is_wired(run) -> None:
    assert set(cli.list_commands(None)) == set(COMMANDS)  # type: ignore[arg-type]
    result = run("--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.stdout
        assert run(name, "--help").exit_code == 0
    assert run("--version").stdout.startswith("flightontime, version ")


def test_the_console_script_runs() -> None:
    script = Path(sys.executable).parent / "flightontime"
    assert script.is_file(), "the console script is not installed"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "Usage: flightontime" in done.stdout
