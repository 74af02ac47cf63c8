"""Build docker-bake.hcl's targets with podman where `docker buildx bake` does not run.

  python scripts/bake.py [GROUP|TARGET ...]          build (default: the group "default")
  python scripts/bake.py --print release             the facts read, as JSON
  python scripts/bake.py --dry-run release           the podman commands, nothing run
  python scripts/bake.py release --insecure-registry push to a plain-HTTP registry (loopback)
  python scripts/bake.py release --load              build with the release tags, push nothing

buildx evaluates the whole file; this reads only its static facts with python-hcl2: the groups
and, following `inherits`, each target's context, dockerfile, target, args, labels, platforms,
attest and output. A fact is a string, which may name variables as "${NAME}", or a bare
variable; a variable is its environment value or its default, as in bake. Tags are HCL
functions and are not read: an image is named by its org.opencontainers.image.title label, as
<REGISTRY>/<title>:<VERSION>, and a target whose output is type=registry gets the release tags
X.Y.Z, X.Y, X, sha-<REVISION[:7]> and, with IS_DEFAULT_BRANCH=true, latest. podman builds with
--pull=never and the Docker format (it keeps HEALTHCHECK only there); what it cannot do here
(other platforms, attestations, annotations) is said on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
FACTS = ("context", "dockerfile", "target", "args", "labels", "platforms", "attest", "output")
TITLE = "org.opencontainers.image.title"


class BakeError(Exception):
    """The bake file has no static fact the podman build needs, or the build failed."""


def _blocks(data: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k.strip('"'): v for block in data.get(kind, []) for k, v in block.items()}


class BakeFile:
    """docker-bake.hcl's variables, groups and targets as python-hcl2 reads them."""

    def __init__(self, path: Path, environ: Mapping[str, str] | None = None) -> None:
        with path.open() as handle:
            data = hcl2.load(handle)
        env = os.environ if environ is None else environ
        self.variables: dict[str, str] = {}
        for name, body in _blocks(data, "variable").items():
            self.variables[name] = env.get(name, self.value(body.get("default", '""')))
        self.groups = _blocks(data, "group")
        self.targets = _blocks(data, "target")

    def value(self, raw: Any) -> Any:
        """A static value: strings unquoted, variables replaced; an expression is refused."""
        if isinstance(raw, list):
            return [self.value(item) for item in raw]
        if isinstance(raw, dict):
            return {k.strip('"'): self.value(v) for k, v in raw.items() if k != "__is_block__"}
        if isinstance(raw, str) and raw in self.variables:
            return self.variables[raw]
        if isinstance(raw, str) and len(raw) > 1 and raw[0] == raw[-1] == '"':
            text = re.sub(r"\$\{(\w+)\}", lambda m: self.value(m.group(1)), raw[1:-1])
            if "${" not in text:
                return text
        raise BakeError(f"{raw!r} is not a static value (a string or a variable)")

    def facts(self, name: str, chain: tuple[str, ...] = ()) -> dict[str, Any]:
        """A target's facts, its parents' first (maps merged key by key, as bake does)."""
        if name not in self.targets or name in chain:
            raise BakeError(f"no target {name!r}" if name not in chain else f"{name}: a cycle")
        body = self.targets[name]
        merged: dict[str, Any] = {}
        for parent in self.value(body.get("inherits", [])):
            for key, value in self.facts(parent, (*chain, name)).items():
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        for key in FACTS:
            if key in body:
                value = self.value(body[key])
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        return merged

    def resolve(self, names: list[str]) -> list[str]:
        """Groups expanded to their targets, in order, each once."""
        out: list[str] = []
        for name in names:
            if name in self.groups:
                members = self.resolve(self.value(self.groups[name]["targets"]))
            else:
                self.facts(name)  # an unknown target fails here
                members = [name]
            out += [m for m in members if m not in out]
        return out

    def tags(self, facts: Mapping[str, Any]) -> list[str]:
        """<REGISTRY>/<title>:<VERSION>, or the release tags for a registry output."""
        var = self.variables
        image = facts["labels"][TITLE]
        image = f"{var['REGISTRY']}/{image}" if var.get("REGISTRY") else image
        version = var["VERSION"]
        if "type=registry" not in facts.get("output", []):
            return [f"{image}:{version}"]
        major, minor = version.split(".")[:2]
        tags = [version, f"{major}.{minor}", major, f"sha-{var['REVISION'][:7]}"]
        tags += ["latest"] if var.get("IS_DEFAULT_BRANCH") == "true" else []
        return [f"{image}:{tag}" for tag in tags]


def native_platform() -> str:
    """This machine's platform as bake names it (linux/amd64, linux/arm64)."""
    machine = platform.machine().lower()
    return "linux/" + {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def command(facts: Mapping[str, Any], tags: list[str], engine: str, no_cache: bool) -> list[str]:
    """The podman build of one target (bake: the Dockerfile is relative to the context)."""
    context = facts.get("context", ".")
    argv = [engine, "build", "--pull=never", "--format", "docker"]
    argv += ["-f", str(Path(context) / facts.get("dockerfile", "Dockerfile"))]
    argv += ["--target", facts["target"]] if facts.get("target") else []
    for key, value in sorted(facts.get("args", {}).items()):
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(facts.get("labels", {}).items()):
        argv += ["--label", f"{key}={value}"]
    for tag in tags:
        argv += ["-t", tag]
    if facts.get("platforms"):
        if native_platform() not in facts["platforms"]:
            raise BakeError(f"none of {facts['platforms']} is this machine's {native_platform()}")
        argv += ["--platform", native_platform()]
    return [*argv, *(["--no-cache"] if no_cache else []), context]


def skipped(facts: Mapping[str, Any]) -> list[str]:
    """What buildx would do for this target that podman does not do here."""
    said = [f"platform {p} not built" for p in facts.get("platforms", []) if p != native_platform()]
    said += [f"attestation {a} not produced" for a in facts.get("attest", [])]
    return said


def run(argv: list[str]) -> None:
    """Echo a command on stderr and run it from the bake file's folder."""
    print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    if subprocess.run(argv, cwd=ROOT, check=False).returncode:  # noqa: S603
        raise BakeError(f"{argv[0]} {argv[1]} failed")


def main(argv: list[str] | None = None) -> int:
    """Build, print or push the named groups and targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["default"], metavar="GROUP|TARGET")
    parser.add_argument("-f", "--file", type=Path, default=ROOT / "docker-bake.hcl")
    parser.add_argument("--print", action="store_true", help="print the facts, build nothing")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--load", action="store_true", help="local images only, no push")
    parser.add_argument("--insecure-registry", action="store_true", help="push over plain HTTP")
    parser.add_argument("--metadata-file", type=Path, help="write each target's pushed digest")
    parser.add_argument("--engine", default=os.environ.get("CONTAINER_ENGINE", "podman"))
    args = parser.parse_args(argv)
    try:
        bake = BakeFile(args.file)
        targets = {name: bake.facts(name) for name in bake.resolve(args.names)}
        tags = {name: bake.tags(facts) for name, facts in targets.items()}
        if args.print:
            out = {name: {**facts, "tags": tags[name]} for name, facts in targets.items()}
            print(json.dumps({"target": out}, indent=2, sort_keys=True))
            return 0
        metadata: dict[str, dict[str, str]] = {}
        for name, facts in targets.items():
            for said in skipped(facts):
                print(f"[bake] {name}: {said}", file=sys.stderr)
            build = command(facts, tags[name], args.engine, args.no_cache)
            push = not args.load and "type=registry" in facts.get("output", [])
            tls = ["--tls-verify=false"] if args.insecure_registry else []
            pushes = [[args.engine, "push", *tls, tag] for tag in tags[name]] if push else []
            if args.dry_run:
                print("\n".join(shlex.join(c) for c in [build, *pushes]))
                continue
            # A cached final image keeps the labels of the build that made it: dropping it re-runs
            # only the last step, which writes this build's labels (a new revision, same files).
            subprocess.run(  # noqa: S603
                [args.engine, "rmi", "--force", *tags[name]], cwd=ROOT, capture_output=True
            )
            run(build)
            metadata[name] = {"image.name": ",".join(tags[name])}
            for push_argv in pushes:
                with tempfile.NamedTemporaryFile("r", suffix=".digest") as digest:
                    run([*push_argv[:2], "--digestfile", digest.name, *push_argv[2:]])
                    metadata[name]["containerimage.digest"] = digest.read().strip()
        if args.metadata_file and not args.dry_run:
            args.metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
    except (BakeError, KeyError) as exc:
        print(f"bake: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
