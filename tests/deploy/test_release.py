"""scripts/release.sh in a throw-away git repository, with a stub container engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from .conftest import ROOT

STUB = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = image ] && [ "$2" = inspect ]; then echo "{label}"; fi
exit 0
"""


class Repo:
    def __init__(self, path: Path, version: str = "1.2.3") -> None:
        self.path = path
        (path / "scripts").mkdir(parents=True)
        shutil.copy(ROOT / "scripts" / "release.sh", path / "scripts" / "release.sh")
        (path / "pyproject.toml").write_text(
            f'[project]\nname = "flightontime"\nversion = "{version}"\n', encoding="utf-8"
        )
        self.write_changelog(version)
        (path / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
        self.log = path.parent / "engine.log"
        self.engine = path.parent / "podman"
        self.set_stand_in_label("<no value>")
        self.git("init", "-q", "-b", "main")
        self.commit("initial")

    def set_stand_in_label(self, label: str) -> None:
        self.engine.write_text(STUB.format(log=self.log, label=label), encoding="utf-8")
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

    def release(self, version: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.log.write_text("", encoding="utf-8")
        full_env = {
            **os.environ,
            "RELEASE_ENGINE": str(self.engine),
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "PUSH": "0",
            "REGISTRY": "",
            **env,
        }
        return subprocess.run(
            ["bash", "scripts/release.sh", version],
            cwd=self.path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def engine_calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def tags(self) -> list[str]:
        return self.git("tag", "--list").split()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return Repo(tmp_path / "repo")


def test_release_builds_four_tags_with_the_commit_label_and_tags_git(repo: Repo) -> None:
    result = repo.release("1.2.3")
    assert result.returncode == 0, result.stderr
    calls = repo.engine_calls()
    build = calls[0]
    head = repo.git("rev-parse", "HEAD").strip()
    assert build.startswith("build ")
    assert "--format docker" in build  # podman keeps HEALTHCHECK only in Docker format
    assert f"org.opencontainers.image.revision={head}" in build
    assert "org.opencontainers.image.version=1.2.3" in build
    assert f"REVISION={head}" in build
    assert build.endswith("-t flightontime:1.2.3 .")
    assert calls[1:] == [
        "tag flightontime:1.2.3 flightontime:1.2",
        "tag flightontime:1.2.3 flightontime:1",
        "tag flightontime:1.2.3 flightontime:latest",
    ]
    assert not [c for c in calls if c.startswith("push")]
    assert repo.tags() == ["v1.2.3"]
    assert repo.git("cat-file", "-t", "v1.2.3").strip() == "tag"  # annotated


def test_push_needs_a_registry_and_pushes_every_tag_under_it(repo: Repo) -> None:
    result = repo.release("1.2.3", PUSH="1")
    assert result.returncode != 0
    assert "needs REGISTRY" in result.stderr
    assert repo.tags() == []
    result = repo.release("1.2.3", PUSH="1", REGISTRY="registry.example.com/team/")
    assert result.returncode == 0, result.stderr
    pushes = [c for c in repo.engine_calls() if c.startswith("push")]
    assert pushes == [
        f"push registry.example.com/team/flightontime:{t}" for t in ("1.2.3", "1.2", "1", "latest")
    ]


def test_an_image_built_on_the_ci_stand_in_is_never_pushed(repo: Repo) -> None:
    repo.set_stand_in_label("4-headers1")
    result = repo.release("1.2.3", PUSH="1", REGISTRY="registry.example.com/team")
    assert result.returncode != 0
    assert "stand-in" in result.stderr
    assert not [c for c in repo.engine_calls() if c.startswith("push")]


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.2.4", "pyproject.toml says"),
        ("1.2", "is not a version"),
        ("v1.2.3", "is not a version"),
        ("1.2.3+build.5", "is not a version"),
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
    (repo.path / "Dockerfile").write_text("FROM scratch\nLABEL x=y\n", encoding="utf-8")
    repo.commit("change after the release")
    result = repo.release("1.2.3")
    assert result.returncode != 0
    assert "already exists on another commit" in result.stderr


def test_an_old_line_patch_does_not_move_the_newer_tags(repo: Repo) -> None:
    repo.git("tag", "-a", "v1.3.0", "-m", "newer line")  # a newer release exists
    assert repo.release("1.2.3").returncode == 0
    refs = [c.split()[-1] for c in repo.engine_calls() if c.startswith("tag")]
    assert refs == ["flightontime:1.2"]  # not 1 and not latest: 1.3.0 owns them


def test_a_pre_release_gets_only_its_own_tag(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repo", version="2.0.0-rc.1")
    result = repo.release("2.0.0-rc.1", PRINT_TAGS="1", REGISTRY="reg.example.com/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["reg.example.com/x/flightontime:2.0.0-rc.1"]


def test_dry_run_changes_nothing(repo: Repo) -> None:
    result = repo.release("1.2.3", DRY_RUN="1", PUSH="1", REGISTRY="reg.example.com/x")
    assert result.returncode == 0, result.stderr
    assert repo.engine_calls() == []
    assert repo.tags() == []
    assert "+ " in result.stderr
    assert "push reg.example.com/x/flightontime:latest" in result.stderr


def test_the_project_changelog_has_unreleased_and_the_current_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in text
    assert f"## [{version}] - " in text
    assert text.index("## [Unreleased]") < text.index(f"## [{version}]")


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
