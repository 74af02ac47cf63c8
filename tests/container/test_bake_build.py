"""A real build of docker-bake.hcl's group `default` through scripts/bake.py (what `make images`
runs; after it, a cache hit): each image carries its target's tags and labels exactly."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys

import pytest

from .conftest import ENGINE, ROOT, engine

pytestmark = [pytest.mark.container, pytest.mark.timeout(3600)]


def _bake_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bake", ROOT / "scripts" / "bake.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bake", module)
    spec.loader.exec_module(module)
    return module


def test_default_group_builds_as_the_bake_file_says() -> None:
    bake = _bake_module()
    env = dict(os.environ, CONTAINER_ENGINE=ENGINE)
    proc = subprocess.run(
        [sys.executable, "scripts/bake.py", "default"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=3500,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # What was run is what the bake file's facts say (the script echoes each command it runs).
    bake_file = bake.BakeFile(ROOT / "docker-bake.hcl", env)
    names = bake_file.resolve(["default"])
    facts = {name: bake_file.facts(name) for name in names}
    tags = {name: bake_file.tags(facts[name]) for name in names}
    echoed = [line[2:] for line in proc.stderr.splitlines() if line.startswith("+ ")]
    assert echoed == [shlex.join(bake.command(facts[n], tags[n], ENGINE, False)) for n in names]
    for name in names:
        for tag in tags[name]:
            info = json.loads(engine("image", "inspect", tag).stdout)[0]
            labels = info["Config"]["Labels"]
            for key, value in facts[name]["labels"].items():
                assert labels.get(key) == value, (tag, key)
        print(f"\n[container] bake {name}: {', '.join(tags[name])} built with its labels")


def test_a_models_name_without_a_bundle_fails_the_build() -> None:
    """MODELS names the bundles baked in: a name with no models/<name>/manifest.json stops the
    build with its name (up to the smoke stage; the build stage is a cache hit by now)."""
    proc = engine(
        "build", "--pull=never", "--format", "docker", "-f", "docker/server.Dockerfile",
        "--target", "smoke", "--build-arg", "MODELS=default nowhere", str(ROOT),
        timeout=1800, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "MODELS: no bundle models/nowhere" in proc.stdout + proc.stderr
