"""GitHub Actions workflows: what the issue asks of CI and the release (bake with this bake file,
every action pinned by commit SHA, the Trivy gate, SBOMs, the version gate, cosign and
model-signing, the wheels), and actionlint when it is installed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tool_envs import ACTIONLINT

from .conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses: (\S+)@([0-9a-f]{40}) # v\d+(\.\d+)*$")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(workflow: dict[str, Any], job: str | None = None) -> list[dict[str, Any]]:
    jobs = [workflow["jobs"][job]] if job else list(workflow["jobs"].values())
    return [s for j in jobs for s in j.get("steps", [])]


def runs(workflow: dict[str, Any], job: str | None = None) -> str:
    return "\n".join(s.get("run", "") for s in steps(workflow, job))


def uses(workflow: dict[str, Any], action: str, job: str | None = None) -> list[dict[str, Any]]:
    return [s for s in steps(workflow, job) if s.get("uses", "").startswith(action + "@")]


def bake_steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return uses(workflow, "docker/bake-action", job)


def test_ci_runs_on_push_and_pull_request_with_every_check() -> None:
    ci = load("ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(ci["on"])
    assert ci["permissions"] == {"contents": "read"}
    commands = runs(ci)
    for target in ("test", "test-slow", "ci-scans", "validate-k8s", "actionlint"):
        assert re.search(rf"make( \S+)* {target}\b", commands), target
    # The container suite as `make test-container` runs it (podman), and the real release push.
    assert re.search(r"make test-container test-release\b", runs(ci, "container"))
    artifacts = " ".join(str(s["with"]["path"]) for s in uses(ci, "actions/upload-artifact"))
    assert "reports/sbom/" in artifacts


def test_ci_bakes_the_default_group_from_this_bake_file_with_the_actions_cache() -> None:
    ci = load("ci.yml")
    (bake,) = bake_steps(ci, "images")
    options = bake["with"]
    assert options["files"] == "docker-bake.hcl"
    assert options["targets"] == "default"
    assert options["source"] == "."  # the checkout that was tested, not a second git fetch
    assert options["load"] is True
    assert not options.get("push")
    sets = options["set"].split()
    for target in ("server", "cli"):
        assert f"{target}.cache-from=type=gha,scope={target}" in sets
        assert f"{target}.cache-to=type=gha,scope={target},mode=max" in sets
    env = bake["env"]
    assert env["REVISION"] == "${{ github.sha }}"
    assert set(env) >= {"VERSION", "REVISION", "CREATED", "SOURCE"}
    # What bake's group default builds is what the scans look at (the bake file's local tags).
    names = {"flightontime", "flightontime-cli"}
    scanned = {s["with"]["image-ref"].split(":")[0] for s in uses(ci, "aquasecurity/trivy-action")}
    assert scanned == names


def test_every_image_is_gated_on_high_and_critical_with_a_fix() -> None:
    ci = load("ci.yml")
    gates = [s for s in uses(ci, "aquasecurity/trivy-action", "images") if "exit-code" in s["with"]]
    assert {s["with"]["image-ref"].split(":")[0] for s in gates} == {
        "flightontime",
        "flightontime-cli",
    }
    for step in gates:
        assert step["with"]["severity"] == "HIGH,CRITICAL"
        assert step["with"]["ignore-unfixed"] is True
        assert str(step["with"]["exit-code"]) == "1"
        assert step["with"]["trivyignores"] == ".trivyignore"
        assert "if" not in step  # never skipped
    assert (ROOT / ".trivyignore").is_file()
    # The gate runs after the build, in the same job, before anything could be pushed: the
    # release's publish job needs the whole of ci.yml.
    images = [s.get("uses", "").split("@")[0] for s in steps(ci, "images")]
    assert images.index("docker/bake-action") < images.index("aquasecurity/trivy-action")
    assert set(load("release.yml")["jobs"]["publish"]["needs"]) >= {"ci", "verify"}


def test_an_sbom_of_each_image_is_kept_as_an_artifact() -> None:
    ci = load("ci.yml")
    sboms = [
        s
        for s in uses(ci, "aquasecurity/trivy-action", "images")
        if s["with"].get("format") == "cyclonedx"
    ]
    outputs = {s["with"]["output"] for s in sboms}
    assert outputs == {
        "reports/sbom/flightontime-image.cdx.json",
        "reports/sbom/flightontime-cli-image.cdx.json",
    }
    for step in sboms:
        assert step["if"] == "always()"
    (upload,) = uses(ci, "actions/upload-artifact", "images")
    assert upload["if"] == "always()"
    for output in outputs:
        assert output in upload["with"]["path"]


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_action_is_pinned_by_a_full_commit_sha_with_its_version(path: Path) -> None:
    workflow = load(path.name)
    refs = [s["uses"] for s in steps(workflow) if "uses" in s]
    assert refs
    for ref in refs:
        assert PINNED.match(ref), f"{ref}: not pinned by a 40-hex commit SHA"
    for job in workflow["jobs"].values():  # reusable workflows: this repository's own only
        if "uses" in job:
            assert job["uses"].startswith("./.github/workflows/"), job["uses"]
    lines = [line.strip() for line in path.read_text().splitlines() if "uses: " in line]
    step_lines = [line.removeprefix("- ") for line in lines if "@" in line]
    for line in step_lines:
        assert VERSION_COMMENT.search(line), f"{line}: no `# vX.Y.Z` comment after the SHA"
    # One action, one SHA across the file (a bump cannot leave an old copy behind).
    pins: dict[str, set[str]] = {}
    for ref in refs:
        action, sha = ref.split("@")
        pins.setdefault(action, set()).add(sha)
    assert all(len(shas) == 1 for shas in pins.values()), pins


def test_release_checks_the_tag_against_the_packages_version_first() -> None:
    release = load("release.yml")
    assert set(release["on"]) == {"push"}
    assert release["on"]["push"]["tags"] == ["v[0-9]+.[0-9]+.[0-9]+"]
    jobs = release["jobs"]
    check = runs(release, "verify")
    assert 'CHECK_ONLY=1 scripts/release.sh "${TAG#v}"' in check
    (step,) = [s for s in steps(release, "verify") if "CHECK_ONLY=1" in s.get("run", "")]
    assert step["env"]["TAG"] == "${{ github.ref_name }}"
    assert jobs["ci"]["needs"] == "verify"
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    # Nothing is built, pushed or published before the gate (and CI) passed.
    for name in ("publish", "github", "deploy"):
        needs = jobs[name]["needs"]
        assert "verify" in needs, name
    assert "ci" in jobs["publish"]["needs"]
    assert "publish" in jobs["github"]["needs"]


def test_release_bakes_and_pushes_the_release_group_with_the_bake_variables() -> None:
    release = load("release.yml")
    (bake,) = bake_steps(release, "publish")
    options = bake["with"]
    assert options["files"] == "docker-bake.hcl"
    assert options["targets"] == "release"
    assert options["push"] is True
    assert options["source"] == "."
    env = bake["env"]
    assert env["REGISTRY"] == "${{ vars.REGISTRY }}"
    assert env["VERSION"] == "${{ needs.verify.outputs.version }}"
    assert env["IS_DEFAULT_BRANCH"] == "${{ needs.verify.outputs.is-default-branch }}"
    assert env["REVISION"] == "${{ github.sha }}"
    # Multi-platform needs QEMU and a BuildKit builder before the bake.
    names = [s.get("uses", "").split("@")[0] for s in steps(release, "publish")]
    assert names.index("docker/setup-qemu-action") < names.index("docker/bake-action")
    assert names.index("docker/setup-buildx-action") < names.index("docker/bake-action")
    # Registry credentials from the CI's secrets, never from the repository.
    (login,) = uses(release, "docker/login-action")
    assert login["with"]["username"] == "${{ secrets.REGISTRY_USERNAME }}"
    assert login["with"]["password"] == "${{ secrets.REGISTRY_PASSWORD }}"
    assert names.index("docker/login-action") < names.index("docker/bake-action")


def test_release_signs_the_images_with_cosign_keyless_by_digest() -> None:
    release = load("release.yml")
    publish = release["jobs"]["publish"]
    assert publish["permissions"]["id-token"] == "write"
    assert uses(release, "sigstore/cosign-installer", "publish")
    sign = runs(release, "publish")
    assert "cosign sign --yes" in sign
    assert "@$SERVER_DIGEST" in sign
    assert "@$CLI_DIGEST" in sign
    assert "--key" not in sign  # keyless: the workflow's OIDC identity
    assert "cosign verify" in sign
    assert '"containerimage.digest"' in sign  # from bake's metadata


def test_release_signs_the_bundles_with_the_project_key_before_the_bake() -> None:
    release = load("release.yml")
    publish = steps(release, "publish")
    sign = next(s for s in publish if s.get("id") == "sign")
    (bake,) = bake_steps(release, "publish")
    assert publish.index(sign) < publish.index(bake)  # the signatures go into the images
    assert "scripts/sign-models.sh models" in sign["run"]
    assert "--require-hashes -r requirements/serve-signing.lock" in sign["run"]
    assert "umask 077" in sign["run"]
    assert "rm -f" in sign["run"]  # the key file does not outlive the step
    # The private key is the CI secret, the public key a repository variable given to bake.
    assert sign["env"]["MODEL_SIGNING_KEY"] == "${{ secrets.MODEL_SIGNING_KEY }}"
    assert sign["env"]["MODEL_PUBLIC_KEY"] == "${{ vars.MODEL_SIGNING_PUBLIC_KEY }}"
    assert bake["env"]["MODEL_PUBLIC_KEY"] == "${{ vars.MODEL_SIGNING_PUBLIC_KEY }}"
    assert "MODEL_SIGNING_KEY" not in str(bake)
    assert "sigstore" not in runs(release)  # no keyless bundle signature the server cannot check


def test_release_attaches_the_signed_bundles_and_the_wheels() -> None:
    release = load("release.yml")
    job = release["jobs"]["github"]
    assert job["permissions"] == {"contents": "write"}
    commands = runs(release, "github")
    assert "needs.publish.outputs.signatures" in str(steps(release, "github"))
    assert '.venv/bin/flightontime verify "$bundle" --public-key' in commands
    assert "make wheels" in commands
    assert "gh release create" in commands
    for asset in ("dist/*.whl", "dist/*.sig", "dist/*.tar.gz"):
        assert asset in commands, asset
    # make wheels is hatch build of the three packages.
    dry = subprocess.run(
        ["make", "-n", "wheels"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "build -t wheel" in dry
    assert "core server cli" in dry


def test_release_deploys_the_signed_digest_with_a_pinned_host_key() -> None:
    release = load("release.yml")
    deploy = release["jobs"]["deploy"]
    assert deploy["environment"] == "production"
    assert "publish" in deploy["needs"]
    commands = runs(release, "deploy")
    assert "make bg-deploy IMAGE='$REGISTRY/flightontime@$SERVER_DIGEST'" in commands
    assert "StrictHostKeyChecking=yes" in commands


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_every_job_is_bounded_and_no_secret_is_in_the_file(path: Path) -> None:
    workflow = load(path.name)
    assert workflow["permissions"] == {"contents": "read"}  # jobs widen only what they need
    assert workflow["defaults"]["run"]["shell"] == "bash"  # -o pipefail
    for name, job in workflow["jobs"].items():
        assert "uses" in job or job.get("timeout-minutes"), f"{name}: no timeout-minutes"
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"(password|token|key)\s*:\s*['\"]?[A-Za-z0-9+/]{16,}", text, re.I)
    for step in steps(workflow):
        for value in (step.get("run") or "",):
            # untrusted event data never goes straight into a shell script
            assert "github.event." not in value, value
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_actionlint_passes() -> None:
    if not ACTIONLINT.is_file():
        pytest.skip(f"actionlint is not installed at {ACTIONLINT}: `make actionlint-tools`")
    result = subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.{yml,yaml}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
