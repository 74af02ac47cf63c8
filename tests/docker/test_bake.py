"""scripts/bake.py reads docker-bake.hcl's static facts right, and a change in the file shows.

No engine is needed: the podman commands are only printed (tests/container builds for real).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAKE_FILE = ROOT / "docker-bake.hcl"

_spec = importlib.util.spec_from_file_location("bake", ROOT / "scripts" / "bake.py")
assert _spec is not None
assert _spec.loader is not None
bake = importlib.util.module_from_spec(_spec)
sys.modules["bake"] = bake
_spec.loader.exec_module(bake)

VERSION = re.search(
    r'__version__ = "([^"]+)"',
    (ROOT / "packages/core/src/flightontime_core/__about__.py").read_text(),
).group(1)  # type: ignore[union-attr]


def load(path: Path = BAKE_FILE, **environ: str) -> Any:
    """The bake file with only the given variables from the environment."""
    return bake.BakeFile(path, environ)


def test_version_is_the_packages_version() -> None:
    assert load().variables["VERSION"] == VERSION


def test_each_targets_facts_are_read_right() -> None:
    bake_file = load(REVISION="abc1234def", CREATED="2026-01-02T03:04:05Z")
    assert bake_file.resolve(["default"]) == ["server", "cli"]
    assert bake_file.resolve(["release"]) == ["server-release", "cli-release"]
    for name, title in (("server", "flightontime"), ("cli", "flightontime-cli")):
        facts = bake_file.facts(name)
        assert facts["context"] == "."
        assert facts["dockerfile"] == f"docker/{name}.Dockerfile"
        assert (ROOT / facts["dockerfile"]).is_file()
        assert facts["target"] == "runtime"
        # The serving image carries the bundles MODELS names (default: both committed ones).
        models = {"MODELS": "default brazil"} if name == "server" else {}
        assert facts["args"] == {"VERSION": VERSION, **models}
        labels = facts["labels"]
        assert labels["org.opencontainers.image.title"] == title
        assert labels["org.opencontainers.image.version"] == VERSION
        assert labels["org.opencontainers.image.revision"] == "abc1234def"
        assert labels["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
        assert labels["org.opencontainers.image.licenses"] == "MIT"
        assert "platforms" not in facts
        assert bake_file.tags(facts) == [f"{title}:{VERSION}"]
        release = bake_file.facts(f"{name}-release")
        inherited = {k: v for k, v in facts.items() if name == "cli" or k not in ("target", "args")}
        assert {k: release[k] for k in inherited} == inherited  # inherited from the target
        assert release["platforms"] == ["linux/amd64", "linux/arm64"]
        assert release["attest"] == ["type=sbom", "type=provenance,mode=max"]
        assert release["output"] == ["type=registry"]
    # The release's serving image: the signing extra and the public key (stage `release`).
    server = bake_file.facts("server-release")
    assert server["target"] == "release"
    assert server["args"] == {
        "VERSION": VERSION,
        "MODELS": "default brazil",
        "SIGNING": "1",
        "MODEL_PUBLIC_KEY": "",
    }
    keyed = load(MODEL_PUBLIC_KEY="-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----")
    assert keyed.facts("server-release")["args"]["MODEL_PUBLIC_KEY"].count("\n") == 2
    assert "MODEL_PUBLIC_KEY" not in keyed.facts("server")["args"]
    assert load(MODELS="default").facts("server")["args"]["MODELS"] == "default"


def test_tags_local_and_release() -> None:
    plain = load(VERSION="1.2.3", REVISION="abcdef0123")
    assert plain.tags(plain.facts("server")) == ["flightontime:1.2.3"]
    assert plain.tags(plain.facts("cli-release")) == [
        "flightontime-cli:1.2.3",
        "flightontime-cli:1.2",
        "flightontime-cli:1",
        "flightontime-cli:sha-abcdef0",
    ]
    main = load(VERSION="1.2.3", REVISION="abcdef0123", REGISTRY="r.example/t")
    main.variables["IS_DEFAULT_BRANCH"] = "true"
    assert main.tags(main.facts("server"))[0] == "r.example/t/flightontime:1.2.3"
    assert main.tags(main.facts("server-release"))[-1] == "r.example/t/flightontime:latest"


def test_a_change_in_the_bake_file_shows(tmp_path: Path) -> None:
    text = BAKE_FILE.read_text()
    changed = tmp_path / "docker-bake.hcl"
    edits = (
        ('dockerfile = "docker/server.Dockerfile"', 'dockerfile = "docker/api.Dockerfile"'),
        ('target   = "release"', 'target   = "slim"'),
        ('context = "."', 'context = "src"'),
        ("VERSION = VERSION", 'VERSION = VERSION\n    EXTRA = "on-${REVISION}"'),
        ('default = "0.2.0"', 'default = "9.8.7"'),
    )
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    changed.write_text(text)
    facts = load(changed, REVISION="feed").facts("server-release")
    assert facts["dockerfile"] == "docker/api.Dockerfile"
    assert facts["target"] == "slim"
    assert facts["context"] == "src"
    assert facts["args"] == {
        "VERSION": "9.8.7",
        "EXTRA": "on-feed",
        "MODELS": "default brazil",
        "SIGNING": "1",
        "MODEL_PUBLIC_KEY": "",
    }
    argv = bake.command(facts, ["x:1"], "podman", False)
    assert argv[argv.index("-f") + 1] == "src/docker/api.Dockerfile"  # relative to the context
    assert argv[-1] == "src"


def test_a_computed_fact_is_refused_not_guessed(tmp_path: Path) -> None:
    changed = tmp_path / "docker-bake.hcl"
    changed.write_text(
        BAKE_FILE.read_text().replace(
            'dockerfile = "docker/cli.Dockerfile"', 'dockerfile = lower("docker/cli.Dockerfile")'
        )
    )
    with pytest.raises(bake.BakeError, match="not a static value"):
        load(changed).facts("cli")
    with pytest.raises(bake.BakeError, match="no target"):
        load().resolve(["nothing"])


def test_dry_run_and_print_from_the_command_line() -> None:
    env = {"PATH": "/usr/bin:/bin", "REVISION": "0123456789"}
    run = [sys.executable, "scripts/bake.py"]
    dry = subprocess.run(
        [*run, "--dry-run", "release", "--insecure-registry"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = dry.stdout.splitlines()
    builds = [line for line in lines if line.startswith("podman build")]
    assert len(builds) == 2
    assert "--pull=never --format docker -f docker/server.Dockerfile --target release" in builds[0]
    assert f"--build-arg VERSION={VERSION}" in builds[0]
    assert "--platform linux/" in builds[0]
    assert builds[0].endswith(" .")
    assert "podman push --tls-verify=false flightontime:sha-0123456" in lines
    assert "linux/arm64 not built" in dry.stderr or bake.native_platform() == "linux/arm64"
    printed = subprocess.run(
        [*run, "--print"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    targets = json.loads(printed.stdout)["target"]
    assert set(targets) == {"server", "cli"}
    assert targets["cli"]["tags"] == [f"flightontime-cli:{VERSION}"]


def test_make_builds_images_through_the_script_only() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(
        ["make", "-n", "image", "images"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert re.search(r"scripts/bake\.py\s+(\S+\s+)*server\b", dry), dry
    assert re.search(r"scripts/bake\.py\s+(\S+\s+)*default\b", dry), dry
    assert "podman build" not in dry


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker buildx here")
def test_the_facts_and_tags_agree_with_buildx_bake() -> None:
    """Where buildx runs, its own --print is the reference (the tags too: functions there)."""
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "REVISION": "abc1234def"}
    theirs = subprocess.run(
        ["docker", "buildx", "bake", "--print", "default", "release"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    if theirs.returncode:
        pytest.skip(f"docker buildx bake unavailable: {theirs.stderr[:200]}")
    ours = load(REVISION="abc1234def")
    for name, target in json.loads(theirs.stdout)["target"].items():
        facts = ours.facts(name)
        assert target["tags"] == ours.tags(facts), name
        for key, value in facts.items():
            assert target.get(key) == value, (name, key)
