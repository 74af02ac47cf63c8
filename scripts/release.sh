#!/usr/bin/env bash
# Cut a FlightOnTime release (docs/release.md):
#
#   scripts/release.sh X.Y.Z          or   make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=...]
#
# 1. checks: X.Y.Z is a version X.Y.Z, equals __version__ in
#    packages/core/src/flightontime_core/__about__.py (the one version source: hatch gives it to
#    the three packages, docker-bake.hcl's VERSION defaults to it), CHANGELOG.md has a dated
#    "## [X.Y.Z] - YYYY-MM-DD" section, the git tree is clean (no modified, staged or untracked
#    files) and the tag vX.Y.Z is new (or already on HEAD);
# 2. signs every bundle under models/ with the project's model-signing key
#    (scripts/sign-models.sh: MODEL_SIGNING_KEY_FILE, checked with MODEL_PUBLIC_KEY), then builds
#    docker-bake.hcl's `release` group with podman through scripts/bake.py (--load: the
#    platforms podman can build here, local images only), with the bake variables VERSION,
#    REGISTRY, REVISION (HEAD), CREATED, SOURCE, IS_DEFAULT_BRANCH and MODEL_PUBLIC_KEY: the
#    bake file decides the tags (X.Y.Z, X.Y, X, sha-<short>, and latest when
#    IS_DEFAULT_BRANCH=true); the server image carries the public key and the signatures;
# 3. creates the annotated git tag vX.Y.Z (after the build, so a failed build leaves no tag);
# 4. pushes every tag only with PUSH=1 (and a REGISTRY), again through scripts/bake.py (a cache
#    hit). The git tag is never pushed here: `git push origin vX.Y.Z` starts the release
#    workflow (.github/workflows/release.yml), which builds both platforms with buildx, pushes,
#    signs and attaches the wheels and the model signature.
#
# Settings (environment):
#   PUSH=0|1                 push the image tags to REGISTRY
#   REGISTRY=host[:port]/ns  the bake file's REGISTRY (empty: local names only)
#   REGISTRY_INSECURE=0|1    push over plain HTTP (a registry on loopback)
#   IS_DEFAULT_BRANCH=true|false   override: does `latest` move? (default: true when HEAD is on
#                            the default branch and no newer X.Y.Z tag exists, so `latest`
#                            never moves back to an older release)
#   DEFAULT_BRANCH=main      the default branch (default: origin/HEAD's, else main)
#   MODEL_SIGNING_KEY_FILE=PEM   the EC private key that signs the bundles (never committed)
#   MODEL_PUBLIC_KEY="$(cat PUB)" its public key, PEM text: baked into the release server image
#   SIGN_PYTHON=.venv/bin/python  the Python with model-signing (scripts/sign-models.sh)
#   CONTAINER_ENGINE=podman  the engine scripts/bake.py runs (podman, or a stub in tests)
#   BAKE_PYTHON=.venv/bin/python   the Python that runs scripts/bake.py (needs python-hcl2)
#   SOURCE=URL               org.opencontainers.image.source (default: the remote origin's URL)
#   DRY_RUN=1                run the checks, print the build/tag/push commands, change nothing
#   CHECK_ONLY=1             run the checks only and print version=... and is_default_branch=...
#                            (the release workflow's version gate: it writes them to
#                            $GITHUB_OUTPUT and passes them to bake)
#   PRINT_TAGS=1             run the checks, print the image references (one a line) and stop
#   CHANGELOG=CHANGELOG.md   ABOUT=packages/core/src/flightontime_core/__about__.py
set -Eeuo pipefail

die() { printf 'release: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'release: %s\n' "$*" >&2; }

VERSION=${1:-}
PUSH=${PUSH:-0}
REGISTRY=${REGISTRY:-}
REGISTRY=${REGISTRY%/}
REGISTRY_INSECURE=${REGISTRY_INSECURE:-0}
DRY_RUN=${DRY_RUN:-0}
CHECK_ONLY=${CHECK_ONLY:-0}
PRINT_TAGS=${PRINT_TAGS:-0}
CHANGELOG=${CHANGELOG:-CHANGELOG.md}
ABOUT=${ABOUT:-packages/core/src/flightontime_core/__about__.py}

[[ -n $VERSION ]] || die "usage: $0 X.Y.Z   (make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=...])"
[[ $PUSH == 0 || $PUSH == 1 ]] || die "PUSH must be 0 or 1, not '$PUSH'"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- 1. checks ---------------------------------------------------------------------------------
# X.Y.Z only: the bake file's release tags move X.Y and X with every release, so a pre-release
# (X.Y.Z-rc.N) would take them; build metadata ('+') is not allowed in an image tag.
SEMVER='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$'
[[ $VERSION =~ $SEMVER ]] ||
  die "'$VERSION' is not a version X.Y.Z (pre-releases are not released: the bake file's X.Y and X tags would move to them)"

[[ -f $ABOUT ]] || die "$ABOUT not found"
PACKAGE_VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ABOUT")
[[ -n $PACKAGE_VERSION ]] || die "no __version__ = \"...\" line in $ABOUT"
[[ $PACKAGE_VERSION == "$VERSION" ]] ||
  die "VERSION=$VERSION but $ABOUT says __version__ = \"$PACKAGE_VERSION\" (the packages' one version): bump it there first"

[[ -f $CHANGELOG ]] || die "$CHANGELOG not found"
ESCAPED=${VERSION//./\\.}
grep -Eq "^## \[$ESCAPED\] - [0-9]{4}-[0-9]{2}-[0-9]{2}\b" "$CHANGELOG" ||
  die "$CHANGELOG has no section '## [$VERSION] - YYYY-MM-DD': move the Unreleased entries under it"

git rev-parse --is-inside-work-tree >/dev/null 2>&1 || die "not a git work tree"
git rev-parse --verify -q HEAD >/dev/null || die "the repository has no commit yet"
DIRTY=$(git status --porcelain --untracked-files=normal)
[[ -z $DIRTY ]] || die "the work tree is not clean (commit or remove these first):
$DIRTY"

TAG="v$VERSION"
COMMIT=$(git rev-parse HEAD)
TAG_EXISTS=0
if git rev-parse -q --verify "refs/tags/$TAG" >/dev/null; then
  [[ $(git rev-parse "$TAG^{commit}") == "$COMMIT" ]] ||
    die "tag $TAG already exists on another commit ($(git rev-parse --short "$TAG^{commit}")); a released version is never re-tagged"
  TAG_EXISTS=1
  [[ $CHECK_ONLY == 1 || $PRINT_TAGS == 1 ]] || log "tag $TAG already points at HEAD: building again"
fi

if [[ $PUSH == 1 && -z $REGISTRY ]]; then
  die "PUSH=1 needs REGISTRY=host/namespace (images are never pushed to a default registry)"
fi

# --- does `latest` move? -------------------------------------------------------------------------
# Only for a release from the default branch, and never back: not when a newer X.Y.Z is tagged.
default_branch() {
  if [[ -n ${DEFAULT_BRANCH:-} ]]; then echo "$DEFAULT_BRANCH"; return; fi
  local head
  head=$(git symbolic-ref -q --short refs/remotes/origin/HEAD 2>/dev/null || true)
  echo "${head#origin/}" | grep . || echo main
}
on_default_branch() {
  local branch ref
  branch=$(default_branch)
  for ref in "refs/remotes/origin/$branch" "refs/heads/$branch"; do
    if git rev-parse -q --verify "$ref" >/dev/null; then
      git merge-base --is-ancestor "$COMMIT" "$ref" && return 0
    fi
  done
  return 1
}
newest_release() {
  { git tag --list 'v*' | sed 's/^v//' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' || true
    printf '%s\n' "$VERSION"; } | sort -V | tail -n1
}
if [[ -z ${IS_DEFAULT_BRANCH:-} ]]; then
  IS_DEFAULT_BRANCH=false
  if on_default_branch && [[ $(newest_release) == "$VERSION" ]]; then IS_DEFAULT_BRANCH=true; fi
fi
[[ $IS_DEFAULT_BRANCH == true || $IS_DEFAULT_BRANCH == false ]] ||
  die "IS_DEFAULT_BRANCH must be true or false, not '$IS_DEFAULT_BRANCH'"

if [[ $CHECK_ONLY == 1 ]]; then
  printf 'version=%s\nis_default_branch=%s\n' "$VERSION" "$IS_DEFAULT_BRANCH"
  exit 0
fi

# --- the bake file's variables -----------------------------------------------------------------
BAKE_PYTHON=${BAKE_PYTHON:-}
if [[ -z $BAKE_PYTHON ]]; then
  if [[ -x .venv/bin/python ]]; then BAKE_PYTHON=.venv/bin/python; else BAKE_PYTHON=python3; fi
fi
export VERSION REGISTRY IS_DEFAULT_BRANCH
export REVISION=$COMMIT
export CREATED=${CREATED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
if [[ -z ${SOURCE:-} ]]; then
  SOURCE=$(git config --get remote.origin.url 2>/dev/null || true)
  [[ -n $SOURCE ]] || unset SOURCE
fi
[[ -z ${SOURCE:-} ]] || export SOURCE
export CONTAINER_ENGINE=${CONTAINER_ENGINE:-podman}
BAKE=("$BAKE_PYTHON" scripts/bake.py)

REFS=$("${BAKE[@]}" --print release | "$BAKE_PYTHON" -c '
import json, sys
for target in json.load(sys.stdin)["target"].values():
    print("\n".join(target["tags"]))') || die "scripts/bake.py --print release failed"
if [[ $PRINT_TAGS == 1 ]]; then
  printf '%s\n' "$REFS"
  exit 0
fi

run() {  # the command, or only its echo with DRY_RUN=1
  printf '+ %s\n' "$*" >&2
  [[ $DRY_RUN == 1 ]] || "$@"
}

# --- 2. sign the bundles, build ----------------------------------------------------------------
log "release $VERSION from commit $COMMIT with $CONTAINER_ENGINE (latest moves: $IS_DEFAULT_BRANCH)"
log "image tags: $(echo "$REFS" | tr '\n' ' ')"
# Before the build: the signatures (models/<name>/model.sig, ignored by git) go into the image.
[[ -n ${MODEL_PUBLIC_KEY:-} ]] ||
  die "MODEL_PUBLIC_KEY is not set: the release server image verifies its bundles with it (docs/release.md, \"Model signatures\")"
export MODEL_PUBLIC_KEY
DRY_RUN=$DRY_RUN scripts/sign-models.sh models
if [[ $DRY_RUN == 1 ]]; then
  "${BAKE[@]}" --dry-run --load release | sed 's/^/+ /' >&2
else
  run "${BAKE[@]}" --load release
fi

# --- 3. git tag --------------------------------------------------------------------------------
if [[ $TAG_EXISTS == 0 ]]; then
  run git tag -a "$TAG" -m "FlightOnTime $VERSION"
fi

# --- 4. push -----------------------------------------------------------------------------------
if [[ $PUSH == 1 ]]; then
  # An image built FROM the offline CI machine's stand-in base carries its label (its apt
  # sources and CAs are inside): it goes to a registry on loopback only, for tests.
  registry_host=${REGISTRY%%/*}
  if [[ $DRY_RUN != 1 && ! $registry_host =~ ^(127\.[0-9.]+|localhost|\[::1\])(:[0-9]+)?$ ]]; then
    while read -r ref; do
      label=$("$CONTAINER_ENGINE" image inspect --format '{{index .Config.Labels "ci.stand-in.recipe"}}' "$ref" 2>/dev/null || true)
      if [[ -n $label && $label != "<no value>" ]]; then
        die "$ref is built on the CI stand-in base image (label ci.stand-in.recipe): it is for this machine only and is never pushed to $registry_host"
      fi
    done <<<"$REFS"
  fi
  PUSH_ARGS=(release)
  [[ $REGISTRY_INSECURE == 1 ]] && PUSH_ARGS+=(--insecure-registry)
  if [[ $DRY_RUN == 1 ]]; then
    "${BAKE[@]}" --dry-run "${PUSH_ARGS[@]}" | grep -E "^$CONTAINER_ENGINE push" | sed 's/^/+ /' >&2
  else
    run "${BAKE[@]}" "${PUSH_ARGS[@]}"
  fi
  log "pushed: $(echo "$REFS" | tr '\n' ' ')"
else
  log "not pushed (PUSH=1 REGISTRY=... to push)"
fi
log "done: $TAG -> $COMMIT. Next: git push origin $TAG (runs .github/workflows/release.yml)"
