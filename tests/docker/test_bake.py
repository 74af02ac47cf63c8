"""docker-bake.hcl and scripts/bake.py: every target of every group is built by the script, with
exactly the file's Dockerfile, context, stage, build arguments, labels and tags.

Two readings of the bake file are held against each other: python-hcl2's own dict form (the
literal attributes as written) and the script's evaluation (variables, functions, inherits);
then the podman command line is rebuilt here from the resolved definition, flag by flag. No
engine is needed; tests/container builds the group for real.
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

import hcl2
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
# No variable of the file comes from this process's environment unless a test sets it.
CLEAN: dict[str, str] = {}


def raw() -> dict[str, Any]:
    """python-hcl2's dict form: blocks as lists of {label: attributes}."""
    with BAKE_FILE.open() as handle:
        return dict(hcl2.load(handle))


def raw_blocks(kind: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for block in raw().get(kind, []):
        for label, attrs in block.items():
            out[label.strip('"')] = attrs
    return out


def literal(value: Any) -> Any:
    """A python-hcl2 literal: strings come back quoted."""
    if isinstance(value, str) and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return value


def expected_argv(t: dict[str, Any], platform: str | None = None) -> list[str]:
    """The podman command bake's definition `t` means, rebuilt independently of the script."""
    argv = ["podman", "build", "--pull=never", "--format", "docker"]
    argv += ["-f", str(Path(t["context"]) / t["dockerfile"])]
    argv += ["--target", t["target"]]
    for key in sorted(t["args"]):
        argv += ["--build-arg", f"{key}={t['args'][key]}"]
    for key in sorted(t["labels"]):
        argv += ["--label", f"{key}={t['labels'][key]}"]
    for tag in t["tags"]:
        argv += ["-t", tag]
    if platform:
        argv += ["--platform", platform]
    return [*argv, t["context"]]


def load(**env: str) -> Any:
    return bake.BakeFile.load(BAKE_FILE, {**CLEAN, **env})


# --------------------------------------------------------------------------------------------
def test_version_is_the_packages_version() -> None:
    variables = raw_blocks("variable")
    assert literal(variables["VERSION"]["default"]) == VERSION
    assert load().variables["VERSION"] == VERSION


def test_the_file_has_the_issues_shape() -> None:
    variables = raw_blocks("variable")
    for name in ("VERSION", "REGISTRY", "REVISION", "CREATED", "IS_DEFAULT_BRANCH"):
        assert name in variables, f"variable {name}"
    targets = raw_blocks("target")
    groups = raw_blocks("group")
    assert {"server", "cli"} <= set(targets)
    assert [literal(t) for t in groups["default"]["targets"]] == ["server", "cli"]
    for name in ("server", "cli"):
        assert literal(targets[name]["inherits"][0]) == "_common", "the common base target"
    common = load().target("_common")
    keys = {k.removeprefix("org.opencontainers.image.") for k in common["labels"]}
    assert {"version", "revision", "created", "source", "licenses"} <= keys
    for name in ("server", "cli"):
        labels = load().target(name)["labels"]
        assert {"title", "description"} <= {k.rsplit(".", 1)[1] for k in labels}
    assert common["annotations"], "annotations in the common target"
    release = load()
    for name in release.resolve(["release"]):
        t = release.target(name)
        assert t["platforms"] == ["linux/amd64", "linux/arm64"]
        assert t["attest"] == ["type=sbom", "type=provenance,mode=max"]
        assert t["output"] == ["type=registry"]


def test_literal_attributes_survive_evaluation_and_inheritance() -> None:
    """Dockerfile, context, stage and label keys as written (hcl2's reading) are what the
    script resolves, inherited ones included."""
    targets = raw_blocks("target")
    resolved = load()

    def written(name: str, key: str) -> Any:
        attrs = targets[name]
        if key in attrs:
            return attrs[key]
        for parent in reversed([literal(p) for p in attrs.get("inherits", [])]):
            found = written(parent, key)
            if found is not None:
                return found
        return None

    for name in targets:
        t = resolved.target(name)
        for key in ("dockerfile", "context", "target"):
            value = written(name, key)
            if value is not None:
                assert t[key] == literal(value), (name, key)
        keys: set[str] = set()
        chain = [name]
        while chain:
            current = chain.pop()
            keys |= {literal(k) for k in targets[current].get("labels", {})}
            chain += [literal(p) for p in targets[current].get("inherits", [])]
        assert set(t.get("labels", {})) == keys, name


def test_every_target_is_reachable_and_built_by_the_script() -> None:
    targets = {n for n in raw_blocks("target") if not n.startswith("_")}
    groups = raw_blocks("group")
    b = load()
    reachable = set(b.resolve(list(groups)))
    assert targets == reachable, f"targets no group builds: {targets - reachable}"
    for group in groups:
        planned = [build.name for build in bake.plan(b, [group])]
        assert planned == b.resolve([group]), group


@pytest.mark.parametrize("group", ["default", "release"])
def test_podman_commands_are_exactly_the_targets(group: str) -> None:
    env = {
        "REVISION": "0123456789abcdef0123",
        "CREATED": "2026-12-01T00:00:00Z",
        "REGISTRY": "127.0.0.1:5000/flightontime",
    }
    b = load(**env)
    for build in bake.plan(b, [group], insecure_registry=True):
        t = b.target(build.name)
        platform = bake.native_platform() if t.get("platforms") else None
        assert build.argv == expected_argv(t, platform), build.name
        assert build.argv[-1] == "."
        assert "-f" in build.argv
        assert Path(ROOT / build.argv[build.argv.index("-f") + 1]).is_file()
        ignore = ROOT / (build.argv[build.argv.index("-f") + 1] + ".dockerignore")
        assert ignore.is_file(), f"{build.name}: per-Dockerfile ignore file {ignore.name}"
        if group == "release":
            assert build.push == [
                ["podman", "push", "--tls-verify=false", tag] for tag in t["tags"]
            ]
            joined = " ".join(build.reports)
            assert "linux/arm64 not built" in joined
            assert "type=sbom" in joined
            assert "type=provenance,mode=max" in joined
            assert "annotations not written" in joined
        else:
            assert build.push == []


def test_tags_local_and_release() -> None:
    b = load(REGISTRY="")
    assert b.target("server")["tags"] == [f"flightontime:{VERSION}"]
    assert b.target("cli")["tags"] == [f"flightontime-cli:{VERSION}"]
    env = {"VERSION": "1.4.2", "REVISION": "abcdef0123456789", "REGISTRY": "reg.example:5000/ns"}
    feature = load(**env, IS_DEFAULT_BRANCH="false")
    assert feature.target("server-release")["tags"] == [
        "reg.example:5000/ns/flightontime:1.4.2",
        "reg.example:5000/ns/flightontime:1.4",
        "reg.example:5000/ns/flightontime:1",
        "reg.example:5000/ns/flightontime:sha-abcdef0",
    ]
    main = load(**env, IS_DEFAULT_BRANCH="true")
    assert main.target("cli-release")["tags"][-1] == "reg.example:5000/ns/flightontime-cli:latest"
    assert len(main.target("cli-release")["tags"]) == 5
    labels = main.target("server-release")["labels"]
    assert labels["org.opencontainers.image.version"] == "1.4.2"
    assert labels["org.opencontainers.image.revision"] == "abcdef0123456789"
    assert main.target("server-release")["args"]["VERSION"] == "1.4.2"


def test_environment_overrides_variables_as_bake_does(tmp_path: Path) -> None:
    path = tmp_path / "docker-bake.hcl"
    path.write_text(
        'variable "TAG" { default = "latest" }\n'
        'variable "ON" { default = false }\n'
        'variable "N" { default = 2 }\n'
        'variable "BASE" { default = "img-${TAG}" }\n'
        'target "t" {\n'
        '  tags = ["${BASE}", ON ? "on" : "off", "n${N + 1}"]\n'
        '  args = { ESCAPED = "$${HOME}", Q = "a\\"b" }\n'
        "}\n"
    )
    assert bake.BakeFile.load(path, {}).target("t")["tags"] == ["img-latest", "off", "n3"]
    over = bake.BakeFile.load(path, {"TAG": "dev", "ON": "true", "N": "5"})
    assert over.target("t")["tags"] == ["img-dev", "on", "n6"]
    assert over.target("t")["args"] == {"ESCAPED": "${HOME}", "Q": 'a"b'}
    with pytest.raises(bake.BakeError, match="not a bool"):
        bake.BakeFile.load(path, {"ON": "maybe"})


def test_inherits_merge_like_bake(tmp_path: Path) -> None:
    """The bake reference's example: maps merge, the last parent wins, then the target."""
    path = tmp_path / "docker-bake.hcl"
    path.write_text(
        'target "app-dev" {\n'
        '  args = { GO_VERSION = "1.20", BUILDX_EXPERIMENTAL = 1 }\n'
        '  tags = ["docker.io/username/myapp"]\n'
        '  dockerfile = "app.Dockerfile"\n'
        '  labels = { "org.opencontainers.image.source" = "https://github.com/username/myapp" }\n'
        '  annotations = ["a=1"]\n'
        "}\n"
        'target "_release" {\n'
        "  args = { BUILDKIT_CONTEXT_KEEP_GIT_DIR = 1, BUILDX_EXPERIMENTAL = 0 }\n"
        '  annotations = ["b=2"]\n'
        "}\n"
        'target "app-release" {\n'
        '  inherits = ["app-dev", "_release"]\n'
        '  platforms = ["linux/amd64", "linux/arm64"]\n'
        "}\n"
    )
    t = bake.BakeFile.load(path, {}).target("app-release")
    assert t["args"] == {
        "GO_VERSION": "1.20",
        "BUILDX_EXPERIMENTAL": 0,
        "BUILDKIT_CONTEXT_KEEP_GIT_DIR": 1,
    }
    assert t["dockerfile"] == "app.Dockerfile"
    assert t["context"] == "."
    assert t["tags"] == ["docker.io/username/myapp"]
    assert t["annotations"] == ["a=1", "b=2"]
    assert t["platforms"] == ["linux/amd64", "linux/arm64"]


def test_unsupported_things_fail_loudly(tmp_path: Path) -> None:
    path = tmp_path / "docker-bake.hcl"
    path.write_text('target "t" {\n  secret = ["id=x"]\n}\n')
    with pytest.raises(bake.BakeError, match="cannot build"):
        bake.plan(bake.BakeFile.load(path, {}), ["t"])
    path.write_text('target "t" {\n  tags = [timestamp()]\n}\n')
    with pytest.raises(bake.BakeError, match="timestamp"):
        bake.BakeFile.load(path, {})
    path.write_text('target "t" {\n  tags = [NOPE]\n}\n')
    with pytest.raises(bake.BakeError, match="NOPE"):
        bake.BakeFile.load(path, {})


def test_dry_run_and_print_from_the_command_line() -> None:
    run = subprocess.run(
        [sys.executable, "scripts/bake.py", "--dry-run", "release"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin", "REVISION": "0123456789abcdef"},
    )
    lines = run.stdout.splitlines()
    assert sum(line.startswith("podman build") for line in lines) == 2
    assert any(line.endswith("flightontime:sha-0123456") for line in lines)
    assert "[bake] server-release: platforms linux/arm64 not built" in run.stderr
    printed = subprocess.run(
        [sys.executable, "scripts/bake.py", "--print", "default"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    definition = json.loads(printed.stdout)
    assert set(definition["target"]) == {"server", "cli"}


def test_make_builds_images_through_the_script_only() -> None:
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
    assert "docker build" not in dry
    makefiles = [ROOT / "Makefile", *sorted((ROOT / "mk").glob("*.mk"))]
    for path in makefiles:
        text = path.read_text()
        for match in re.finditer(r"build[^\n]*docker/[a-z]+\.Dockerfile", text):
            pytest.fail(f"{path.name}: builds a Dockerfile around the bake file: {match.group(0)}")


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker buildx here")
def test_print_agrees_with_buildx_bake() -> None:
    """Where buildx runs, its own --print is the reference."""
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
    ours = load(REVISION="abc1234def").print_definition(["default", "release"])
    for name, target in json.loads(theirs.stdout)["target"].items():
        for key, value in ours["target"][name].items():
            assert target.get(key) == value, (name, key)
