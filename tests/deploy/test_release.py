"""scripts/release.sh in a throw-away git repository: the project's docker-bake.hcl and
scripts/bake.py with a stub container engine (every command it would run, logged), and once
for real (marked `container`: podman and Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from container.test_registry import registry  # noqa: F401 (the loopback registry fixture)

from .conftest import ROOT

ABOUT = "packages/core/src/flightontime_core/__about__.py"
# The bake variables make exports (mk/container.mk) must not leak into the script under test.
LEAKY = ("VERSION", "REVISION", "CREATED", "SOURCE", "REGISTRY", "IS_DEFAULT_BRANCH", "PUSH")

STUB = """#!/bin/sh
echo "$*" >> "{log}"
case "$1" in
  image) [ "$2" = inspect ] && echo "{label}" ;;
  push)
    while [ $# -gt 0 ]; do
      if [ "$1" = --digestfile ]; then echo "sha256:{digest}" > "$2"; fi
      shift
    done ;;
esac
exit 0
"""

# The Python with model-signing, stubbed like the engine: each call logged in the same log (so
# the order of signing and building shows), `sign` writes the signature file it is given.
SIGNER_STUB = """#!/bin/sh
echo "python $*" >> "{log}"
if [ "$1" = -m ] && [ "$3" = sign ]; then
  while [ $# -gt 0 ]; do
    if [ "$1" = --signature ]; then echo '{{"stub": true}}' > "$2"; fi
    shift
  done
fi
exit 0
"""
STUB_PUBLIC_KEY = "stub-public-key"


class Repo:
    def __init__(self, path: Path, version: str = "1.2.3") -> None:
        self.path = path
        (path / "scripts").mkdir(parents=True)
        for name in ("release.sh", "bake.py", "sign-models.sh"):
            shutil.copy(ROOT / "scripts" / name, path / "scripts" / name)
        for name in ("docker-bake.hcl", ".gitignore"):
            shutil.copy(ROOT / name, path / name)
        (path / "docker").mkdir()
        for name in ("server", "cli"):
            (path / "docker" / f"{name}.Dockerfile").write_text(
                "FROM python:3.11-slim AS runtime\nARG VERSION\nLABEL stub=yes\n"
                "FROM runtime AS release\n",
                encoding="utf-8",
            )
        for bundle in ("default", "brazil"):
            (path / "models" / bundle).mkdir(parents=True)
            (path / "models" / bundle / "manifest.json").write_text("{}\n", encoding="utf-8")
        self.set_version(version)
        self.write_changelog(version)
        self.log = path.parent / "engine.log"
        self.engine = path.parent / "podman"
        self.set_stand_in_label("<no value>")
        self.signer = path.parent / "python-signer"
        self.signer.write_text(SIGNER_STUB.format(log=self.log), encoding="utf-8")
        self.signer.chmod(0o755)
        self.private_key = path.parent / "model-signing.pem"
        self.private_key.write_text("stub private key\n", encoding="utf-8")
        self.git("init", "-q", "-b", "main")
        self.commit("initial")

    def set_version(self, version: str) -> None:
        about = self.path / ABOUT
        about.parent.mkdir(parents=True, exist_ok=True)
        about.write_text(f'"""One version."""\n\n__version__ = "{version}"\n', encoding="utf-8")

    def set_stand_in_label(self, label: str) -> None:
        self.engine.write_text(
            STUB.format(log=self.log, label=label, digest="ab" * 32), encoding="utf-8"
        )
        self.engine.chmod(0o755)

    def write_changelog(self, *versions: str) -> None:
        sections = "".join(f"## [{v}] - 2026-11-29\n\n### Added\n\n- x\n\n" for v in versions)
        (self.path / "CHANGELOG.md").write_text(
            f"# Changelog\n\n## [Unreleased]\n\n{sections}", encoding="utf-8"
        )

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        return subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True
        ).stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def release(
        self, version: str, *, engine: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        self.log.write_text("", encoding="utf-8")
        full_env = {k: v for k, v in os.environ.items() if k not in LEAKY}
        full_env.update(
            {
                "CONTAINER_ENGINE": engine or str(self.engine),
                "BAKE_PYTHON": sys.executable,
                "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.com",
                "PUSH": "0",
                "REGISTRY": "",
                "SIGN_PYTHON": str(self.signer),
                "MODEL_SIGNING_KEY_FILE": str(self.private_key),
                "MODEL_PUBLIC_KEY": STUB_PUBLIC_KEY,
                **env,
            }
        )
        return subprocess.run(
            ["bash", "scripts/release.sh", version],
            cwd=self.path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def engine_calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def builds(self) -> list[str]:
        return [c for c in self.engine_calls() if c.startswith("build ")]

    def signs(self) -> list[str]:
        return [c for c in self.engine_calls() if c.startswith("python -m model_signing sign")]

    def pushes(self) -> list[str]:
        return [c.split()[-1] for c in self.engine_calls() if c.startswith("push")]

    def tags(self) -> list[str]:
        return self.git("tag", "--list").split()


def built_tags(build: str) -> list[str]:
    return re.findall(r"-t (\S+)", build)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return Repo(tmp_path / "repo")


def test_release_builds_the_bake_release_group_and_tags_git(repo: Repo) -> None:
    result = repo.release("1.2.3")
    assert result.returncode == 0, result.stderr
    head = repo.head()
    server, cli = repo.builds()
    for build, name in ((server, "flightontime"), (cli, "flightontime-cli")):
        assert "--format docker" in build  # podman keeps HEALTHCHECK only in Docker format
        assert f"org.opencontainers.image.revision={head}" in build
        assert "org.opencontainers.image.version=1.2.3" in build
        assert "--build-arg VERSION=1.2.3" in build
        assert "--platform linux/" in build  # the release group's platforms podman can build
        # The bake file's tags: X.Y.Z, X.Y, X, sha-<short>, latest (main, newest release).
        assert built_tags(build) == [
            f"{name}:1.2.3",
            f"{name}:1.2",
            f"{name}:1",
            f"{name}:sha-{head[:7]}",
            f"{name}:latest",
        ]
    assert "-f docker/server.Dockerfile" in server
    assert "-f docker/cli.Dockerfile" in cli
    assert repo.pushes() == []
    assert "not pushed" in result.stderr
    assert "linux/arm64 not built" in result.stderr  # bake.py says what podman skipped
    assert repo.tags() == ["v1.2.3"]
    assert repo.git("cat-file", "-t", "v1.2.3").strip() == "tag"  # annotated


def test_release_signs_every_bundle_before_the_build_and_bakes_the_public_key(
    repo: Repo,
) -> None:
    result = repo.release("1.2.3")
    assert result.returncode == 0, result.stderr
    calls = repo.engine_calls()
    signs = repo.signs()
    assert [c.split()[5] for c in signs] == ["models/brazil", "models/default"]
    for bundle in ("brazil", "default"):
        sign = next(c for c in signs if f" models/{bundle} " in c)
        assert f"--private_key {repo.private_key}" in sign
        assert f"--signature models/{bundle}/model.sig" in sign
        assert (repo.path / "models" / bundle / "model.sig").is_file()
    first_build = calls.index(repo.builds()[0])
    assert all(calls.index(sign) < first_build for sign in signs)
    server, cli = repo.builds()
    # The release server image: its own stage, the signing extra and the public key.
    assert "--target release" in server
    assert "--build-arg SIGNING=1" in server
    assert f"--build-arg MODEL_PUBLIC_KEY={STUB_PUBLIC_KEY}" in server
    assert "--build-arg MODELS=default brazil" in server
    assert "MODEL_PUBLIC_KEY" not in cli
    # The signatures are release products, ignored by git: the tree stays clean.
    assert repo.git("status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("MODEL_PUBLIC_KEY", "MODEL_PUBLIC_KEY is not set"),
        ("MODEL_SIGNING_KEY_FILE", "MODEL_SIGNING_KEY_FILE is not set"),
    ],
)
def test_a_release_without_the_signing_keys_builds_nothing(
    repo: Repo, unset: str, message: str
) -> None:
    result = repo.release("1.2.3", **{unset: ""})
    assert result.returncode != 0
    assert message in result.stderr
    assert repo.builds() == []
    assert repo.tags() == []


def test_push_needs_a_registry_and_pushes_every_tag_of_both_images(repo: Repo) -> None:
    result = repo.release("1.2.3", PUSH="1")
    assert result.returncode != 0
    assert "needs REGISTRY" in result.stderr
    assert repo.tags() == []
    result = repo.release("1.2.3", PUSH="1", REGISTRY="registry.example.com/team/")
    assert result.returncode == 0, result.stderr
    short = repo.head()[:7]
    expected = [
        f"registry.example.com/team/{name}:{t}"
        for name in ("flightontime", "flightontime-cli")
        for t in ("1.2.3", "1.2", "1", f"sha-{short}", "latest")
    ]
    assert repo.pushes() == expected
    # The push is bake.py's (a second, cached build of the same group, then every tag).
    assert len(repo.builds()) == 4
    assert "--tls-verify=false" not in " ".join(repo.engine_calls())
    insecure = repo.release("1.2.3", PUSH="1", REGISTRY="127.0.0.1:5000/x", REGISTRY_INSECURE="1")
    assert insecure.returncode == 0, insecure.stderr
    assert all("--tls-verify=false" in c for c in repo.engine_calls() if c.startswith("push"))


def test_an_image_built_on_the_ci_stand_in_is_never_pushed_to_a_real_registry(
    repo: Repo,
) -> None:
    repo.set_stand_in_label("4-headers1")
    result = repo.release("1.2.3", PUSH="1", REGISTRY="registry.example.com/team")
    assert result.returncode != 0
    assert "stand-in" in result.stderr
    assert repo.pushes() == []
    # A registry on loopback (the tests' own) may take it.
    loopback = repo.release("1.2.3", PUSH="1", REGISTRY="127.0.0.1:5000/ns", REGISTRY_INSECURE="1")
    assert loopback.returncode == 0, loopback.stderr
    assert repo.pushes()


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.2.4", '__about__.py says __version__ = "1.2.3"'),
        ("1.2", "is not a version"),
        ("v1.2.3", "is not a version"),
        ("1.2.3+build.5", "is not a version"),
        ("1.2.3-rc.1", "pre-releases are not released"),
    ],
)
def test_wrong_versions_are_refused(repo: Repo, version: str, message: str) -> None:
    result = repo.release(version)
    assert result.returncode != 0
    assert message in result.stderr
    assert repo.engine_calls() == []
    assert repo.tags() == []


def test_a_version_without_a_changelog_section_is_refused(repo: Repo) -> None:
    repo.write_changelog("1.2.2")
    repo.commit("changelog without 1.2.3")
    result = repo.release("1.2.3")
    assert result.returncode != 0
    assert "CHANGELOG.md has no section '## [1.2.3]" in result.stderr
    assert repo.engine_calls() == []


def test_a_dirty_tree_is_refused(repo: Repo) -> None:
    (repo.path / "notes.txt").write_text("untracked", encoding="utf-8")
    result = repo.release("1.2.3")
    assert result.returncode != 0
    assert "not clean" in result.stderr
    assert "notes.txt" in result.stderr
    assert repo.tags() == []


def test_a_released_version_is_never_retagged(repo: Repo) -> None:
    assert repo.release("1.2.3").returncode == 0
    (repo.path / "docker" / "server.Dockerfile").write_text("FROM scratch AS runtime\n")
    repo.commit("change after the release")
    result = repo.release("1.2.3")
    assert result.returncode != 0
    assert "already exists on another commit" in result.stderr


def test_latest_never_moves_back_nor_from_another_branch(repo: Repo) -> None:
    repo.git("tag", "-a", "v1.3.0", "-m", "newer release")
    assert repo.release("1.2.3").returncode == 0
    for build in repo.builds():
        assert not [t for t in built_tags(build) if t.endswith(":latest")]
    repo.git("tag", "-d", "v1.2.3")
    repo.git("tag", "-d", "v1.3.0")
    repo.git("checkout", "-q", "-b", "hotfix")
    (repo.path / "fix.txt").write_text("a fix off the default branch")
    repo.commit("fix")
    assert repo.release("1.2.3").returncode == 0
    assert all(not t.endswith(":latest") for b in repo.builds() for t in built_tags(b))
    forced = repo.release("1.2.3", IS_DEFAULT_BRANCH="true")  # the operator's word wins
    assert forced.returncode == 0, forced.stderr
    assert all(built_tags(b)[-1].endswith(":latest") for b in repo.builds())


def test_check_only_is_the_workflows_version_gate(repo: Repo) -> None:
    """The release workflow runs CHECK_ONLY=1 with the tag's version: it fails before anything
    is built when the tag and the packages' version differ."""
    result = repo.release("1.2.3", CHECK_ONLY="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["version=1.2.3", "is_default_branch=true"]
    assert repo.engine_calls() == []
    assert repo.tags() == []
    repo.git("tag", "-a", "v1.2.3", "-m", "the pushed tag")  # CI runs on the tagged commit
    assert repo.release("1.2.3", CHECK_ONLY="1").returncode == 0
    mismatch = repo.release("1.2.4", CHECK_ONLY="1")  # tag v1.2.4 on a 1.2.3 tree
    assert mismatch.returncode != 0
    assert "VERSION=1.2.4 but" in mismatch.stderr
    assert mismatch.stdout == ""


def test_print_tags_comes_from_the_bake_file(repo: Repo) -> None:
    result = repo.release("1.2.3", PRINT_TAGS="1", REGISTRY="reg.example.com/x")
    assert result.returncode == 0, result.stderr
    refs = result.stdout.split()
    assert len(refs) == 10
    assert "reg.example.com/x/flightontime:1.2" in refs
    assert "reg.example.com/x/flightontime-cli:latest" in refs
    assert repo.engine_calls() == []


def test_dry_run_changes_nothing(repo: Repo) -> None:
    result = repo.release("1.2.3", DRY_RUN="1", PUSH="1", REGISTRY="reg.example.com/x")
    assert result.returncode == 0, result.stderr
    assert repo.engine_calls() == []
    assert repo.tags() == []
    assert "+ podman build" in result.stderr or "build --pull=never" in result.stderr
    assert "+ git tag -a v1.2.3" in result.stderr
    assert "push reg.example.com/x/flightontime:latest" in result.stderr
    assert "push reg.example.com/x/flightontime-cli:1.2.3" in result.stderr


def test_the_project_changelog_has_unreleased_and_no_version_ahead_of_the_packages() -> None:
    """Changes gather under Unreleased; the packages' version either has its dated section
    already (released) or is newer than every section (the release adds it: release.sh
    refuses to run without it)."""
    text = (ROOT / ABOUT).read_text(encoding="utf-8")
    version = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}", changelog, re.MULTILINE)
    assert released, "no dated release section"
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{released[0]}]")

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(part) for part in v.split("."))

    assert version in released or key(version) > max(key(v) for v in released), (
        f"__version__ {version} is older than the changelog's newest release {released[0]}"
    )


def test_make_release_without_version_prints_usage() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k != "VERSION"}
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "release"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "usage: make release VERSION=X.Y.Z" in result.stdout + result.stderr


def test_make_release_passes_its_settings_to_the_script() -> None:
    dry = subprocess.run(
        ["make", "-n", "release", "VERSION=9.9.9", "PUSH=1", "REGISTRY=reg.example.com/x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "PUSH=1 REGISTRY=reg.example.com/x" in dry
    assert "scripts/release.sh 9.9.9" in dry


# --- for real: podman builds, a registry on loopback ----------------------------------------
def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return int(response.status), response.read()
    except OSError:
        return 0, b""


@pytest.fixture
def loopback_registry(request: pytest.FixtureRequest) -> str:
    """tests/container's registry (docker-registry on 127.0.0.1), when podman can build here."""
    if shutil.which("podman") is None or shutil.which("docker-registry") is None:
        pytest.skip("needs podman and docker-registry (make container-engine registry-tools)")
    base = subprocess.run(
        ["podman", "image", "exists", "python:3.11-slim"], capture_output=True, check=False
    )
    if base.returncode != 0:
        pytest.skip("no python:3.11-slim base image (make container-engine)")
    address: str = request.getfixturevalue("registry")
    return address


@pytest.mark.container
@pytest.mark.timeout(900)
def test_make_release_push_to_a_registry_on_loopback(repo: Repo, loopback_registry: str) -> None:
    namespace = f"{loopback_registry}/fot-release-test"
    result = repo.release(
        "1.2.3", engine="podman", PUSH="1", REGISTRY=namespace, REGISTRY_INSECURE="1"
    )
    short = repo.head()[:7]
    refs = [
        f"{namespace}/{name}:{t}"
        for name in ("flightontime", "flightontime-cli")
        for t in ("1.2.3", "1.2", "1", f"sha-{short}", "latest")
    ]
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        for name in ("flightontime", "flightontime-cli"):
            status, body = _get(f"http://{loopback_registry}/v2/fot-release-test/{name}/tags/list")
            assert status == 200, body
            assert sorted(json.loads(body)["tags"]) == sorted(
                ["1.2.3", "1.2", "1", f"sha-{short}", "latest"]
            )
        pulled = subprocess.run(
            ["podman", "pull", "--tls-verify=false", f"{namespace}/flightontime:1.2"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert pulled.returncode == 0, pulled.stderr
        labels = json.loads(
            subprocess.run(
                ["podman", "image", "inspect", f"{namespace}/flightontime:1.2"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        )[0]["Config"]["Labels"]
        assert labels["org.opencontainers.image.revision"] == repo.head()
        assert labels["org.opencontainers.image.version"] == "1.2.3"
        assert repo.tags() == ["v1.2.3"]
    finally:
        for ref in refs:  # only what this test built and pulled (its own registry's names)
            subprocess.run(["podman", "rmi", "-f", ref], capture_output=True, check=False)


# --- for real: the release server image verifies its bundles' signatures at start ---------------
def _readable_bundle(source: Path, dest: Path, *, signature: bool) -> Path:
    """A copy of a bundle that the image's user (1001) can read through a bind mount."""
    ignore = None if signature else shutil.ignore_patterns("model.sig")
    shutil.copytree(source, dest, ignore=ignore)
    dest.chmod(0o755)
    for path in dest.iterdir():
        path.chmod(0o644)
    return dest


@pytest.mark.container
@pytest.mark.timeout(1800)
def test_the_release_server_image_serves_signed_bundles_only(tmp_path: Path) -> None:
    """The release's order for real: the bundles signed with a key (a throwaway one here), the
    release server image baked with its public key; a signed bundle serves, a changed or an
    unsigned one ends the container at start (exit 3) naming the file."""
    from container.conftest import (
        ENGINE,
        HARDENED,
        PREDICT_BODY,
        engine,
        http,
        image_mb,
        remove,
        signed_release_context,
        start_container,
        wait_healthy,
    )

    if (
        shutil.which(ENGINE) is None
        or engine("image", "exists", "python:3.11-slim", check=False).returncode
    ):
        pytest.skip("needs podman and the python:3.11-slim base image (make container-engine)")
    context, public = signed_release_context(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in LEAKY}
    env.update(
        MODEL_PUBLIC_KEY=public,
        REGISTRY="localhost/fot-release-sign-test",
        CONTAINER_ENGINE=ENGINE,
    )
    print_facts = subprocess.run(
        [sys.executable, "scripts/bake.py", "--print", "server-release"],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    tags = json.loads(print_facts.stdout)["target"]["server-release"]["tags"]
    try:
        built = subprocess.run(
            [sys.executable, "scripts/bake.py", "--load", "server-release"],
            cwd=context,
            env=env,
            capture_output=True,
            text=True,
            timeout=1500,
            check=False,
        )
        assert built.returncode == 0, built.stderr[-3000:]
        image = tags[0]
        token = secrets.token_urlsafe(24)
        running = start_container(token, image=image)
        try:
            wait_healthy(running.name, 90, since=running.started)
            status, answer = http(
                "POST", f"{running.url}/predict", PREDICT_BODY, {"Authorization": token}
            )
            assert status == 200, answer
            logs = engine("logs", running.name).stderr + engine("logs", running.name).stdout
            assert "model signatures verified with /opt/flightontime/keys/model-signing.pub" in logs
        finally:
            remove(running.name)

        def start_with(bundle: Path) -> subprocess.CompletedProcess[str]:
            return engine(
                "run", "--rm", *HARDENED, "--env", f"PREDICTION_API_TOKEN={token}",
                "-v", f"{bundle}:/opt/flightontime/models/{bundle.name}:ro",
                image, timeout=120, check=False,
            )  # fmt: skip

        tampered = _readable_bundle(
            context / "models" / "default", tmp_path / "tampered" / "default", signature=True
        )
        graph = bytearray((tampered / "model.onnx").read_bytes())
        graph[len(graph) // 2] ^= 0x01
        (tampered / "model.onnx").write_bytes(bytes(graph))
        refused = start_with(tampered)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "model.onnx" in refused.stdout + refused.stderr, refused.stderr

        unsigned = _readable_bundle(
            ROOT / "models" / "brazil", tmp_path / "unsigned" / "brazil", signature=False
        )
        refused = start_with(unsigned)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "model.sig" in refused.stdout + refused.stderr, refused.stderr
        release_mb = image_mb(image)
        default = f"flightontime:{tags[0].rsplit(':', 1)[1]}"
        if engine("image", "exists", default, check=False).returncode == 0:
            print(
                f"\n[release] {image}: {release_mb:.1f} MB; {default}: {image_mb(default):.1f} MB;"
                f" verification adds {release_mb - image_mb(default):.1f} MB"
            )
    finally:
        for tag in tags:
            subprocess.run([ENGINE, "rmi", "-f", tag], capture_output=True, check=False)
