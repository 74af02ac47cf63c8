#!/usr/bin/env bash
# Cut a FlightOnTime release (docs/release.md):
#
#   scripts/release.sh X.Y.Z          or   make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=...]
#
# 1. checks: X.Y.Z is a semantic version, equals [project].version in pyproject.toml (the one
#    version source), CHANGELOG.md has a dated "## [X.Y.Z] - YYYY-MM-DD" section, the git tree is
#    clean (no modified, staged or untracked files) and the tag vX.Y.Z is new (or already on HEAD);
# 2. builds the image with podman or docker (whichever works here), tagged X.Y.Z, X.Y, X and
#    latest (a pre-release X.Y.Z-rc.N gets only its own tag; X.Y, X and latest never move back to
#    an older release), with the git commit and version as OCI labels;
# 3. creates the annotated git tag vX.Y.Z (after the build, so a failed build leaves no tag);
# 4. pushes the image tags only with PUSH=1 (and a REGISTRY). The git tag is never pushed here:
#    `git push origin vX.Y.Z` starts the release workflow (.github/workflows/release.yml).
#
# Settings (environment):
#   PUSH=0|1                 push the image tags to REGISTRY
#   REGISTRY=host[:port]/ns  registry prefix of the image names (empty: local names only)
#   IMAGE_NAME=flightontime  repository name under REGISTRY
#   RELEASE_ENGINE=podman|docker|PATH   container engine (default: podman, then docker, if it works)
#   IMAGE_SOURCE=URL         org.opencontainers.image.source label (the repository's address)
#   DRY_RUN=1                run the checks, print the build/tag/push commands, change nothing
#   PRINT_TAGS=1             run the checks, print the image references (one a line) and stop;
#                            the release workflow takes its tags from here (one rule for both)
#   CHANGELOG=CHANGELOG.md   PYPROJECT=pyproject.toml
set -Eeuo pipefail

die() { printf 'release: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'release: %s\n' "$*" >&2; }

VERSION=${1:-}
PUSH=${PUSH:-0}
REGISTRY=${REGISTRY:-}
REGISTRY=${REGISTRY%/}
IMAGE_NAME=${IMAGE_NAME:-flightontime}
DRY_RUN=${DRY_RUN:-0}
PRINT_TAGS=${PRINT_TAGS:-0}
CHANGELOG=${CHANGELOG:-CHANGELOG.md}
PYPROJECT=${PYPROJECT:-pyproject.toml}

[[ -n $VERSION ]] || die "usage: $0 X.Y.Z   (make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=...])"
[[ $PUSH == 0 || $PUSH == 1 ]] || die "PUSH must be 0 or 1, not '$PUSH'"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- 1. checks ---------------------------------------------------------------------------------
# Semantic version; no build metadata ('+' is not allowed in an image tag).
SEMVER='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
[[ $VERSION =~ $SEMVER ]] || die "'$VERSION' is not a version X.Y.Z (or X.Y.Z-rc.N)"
MAJOR=${BASH_REMATCH[1]} MINOR=${BASH_REMATCH[2]}
PRERELEASE=${BASH_REMATCH[4]}

[[ -f $PYPROJECT ]] || die "$PYPROJECT not found"
PROJECT_VERSION=$(python3 - "$PYPROJECT" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print(tomllib.load(f)["project"]["version"])
EOF
) || die "cannot read [project].version from $PYPROJECT"
[[ $PROJECT_VERSION == "$VERSION" ]] ||
  die "VERSION=$VERSION but $PYPROJECT says version = \"$PROJECT_VERSION\" (the one version source): bump it there first"

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
  [[ $PRINT_TAGS == 1 ]] || log "tag $TAG already points at HEAD: building again"
fi

if [[ $PUSH == 1 && -z $REGISTRY ]]; then
  die "PUSH=1 needs REGISTRY=host/namespace (images are never pushed to a default registry)"
fi

# --- image tags --------------------------------------------------------------------------------
# The moving tags X.Y, X and latest go to this release only when no newer stable release exists
# (a patch of an old line must not move `latest` back).
newest_stable() {  # PATTERN (extended regex on the version without 'v'): newest matching tag
  { git tag --list 'v*' | sed 's/^v//' | grep -E "^$1\$" || true; printf '%s\n' "$VERSION"; } |
    sort -V | tail -n1
}
REPO=${REGISTRY:+$REGISTRY/}$IMAGE_NAME
TAGS=("$VERSION")
if [[ -z $PRERELEASE ]]; then
  NUM='(0|[1-9][0-9]*)'
  [[ $(newest_stable "$MAJOR\.$MINOR\.$NUM") == "$VERSION" ]] && TAGS+=("$MAJOR.$MINOR")
  [[ $(newest_stable "$MAJOR\.$NUM\.$NUM") == "$VERSION" ]] && TAGS+=("$MAJOR")
  [[ $(newest_stable "$NUM\.$NUM\.$NUM") == "$VERSION" ]] && TAGS+=("latest")
fi
REFS=()
for t in "${TAGS[@]}"; do REFS+=("$REPO:$t"); done
if [[ $PRINT_TAGS == 1 ]]; then
  printf '%s\n' "${REFS[@]}"
  exit 0
fi

# --- engine ------------------------------------------------------------------------------------
run() {  # the command, or only its echo with DRY_RUN=1
  printf '+ %s\n' "$*" >&2
  [[ $DRY_RUN == 1 ]] || "$@"
}
ENGINE=${RELEASE_ENGINE:-}
if [[ -z $ENGINE ]]; then
  for candidate in podman docker; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
      ENGINE=$candidate
      break
    fi
  done
  [[ -n $ENGINE || $DRY_RUN == 1 ]] ||
    die "no working container engine: podman (scripts/setup-container-engine.sh) or docker with a running daemon"
  ENGINE=${ENGINE:-podman}
fi
BUILD_ARGS=()
# podman writes OCI images by default, which drop HEALTHCHECK; Docker format keeps it.
[[ $(basename "$ENGINE") == podman ]] && BUILD_ARGS+=(--format docker)

# --- 2. build ----------------------------------------------------------------------------------
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "release $VERSION from commit $COMMIT with $ENGINE"
log "image tags: ${REFS[*]}"
run "$ENGINE" build "${BUILD_ARGS[@]}" \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.opencontainers.image.revision=$COMMIT" \
  --label "org.opencontainers.image.created=$CREATED" \
  --label "org.opencontainers.image.title=$IMAGE_NAME" \
  --build-arg "VERSION=$VERSION" --build-arg "REVISION=$COMMIT" --build-arg "CREATED=$CREATED" \
  ${IMAGE_SOURCE:+--build-arg "SOURCE=$IMAGE_SOURCE"} \
  -t "${REFS[0]}" .
for ref in "${REFS[@]:1}"; do
  run "$ENGINE" tag "${REFS[0]}" "$ref"
done

# --- 3. git tag --------------------------------------------------------------------------------
if [[ $TAG_EXISTS == 0 ]]; then
  run git tag -a "$TAG" -m "FlightOnTime $VERSION"
fi

# --- 4. push -----------------------------------------------------------------------------------
if [[ $PUSH == 1 ]]; then
  # An image built FROM this machine's CI stand-in base carries its label: never push those.
  if [[ $DRY_RUN != 1 ]] &&
    [[ -n $("$ENGINE" image inspect --format '{{index .Config.Labels "ci.stand-in.recipe"}}' "${REFS[0]}" 2>/dev/null | grep -v '<no value>' || true) ]]; then
    die "${REFS[0]} is built on the CI stand-in base image (label ci.stand-in.recipe): it is for this machine only and is never pushed"
  fi
  for ref in "${REFS[@]}"; do
    run "$ENGINE" push "$ref"
  done
  log "pushed: ${REFS[*]}"
else
  log "not pushed (PUSH=1 REGISTRY=... to push)"
fi
log "done: $TAG -> $COMMIT. Next: git push origin $TAG (runs .github/workflows/release.yml)"
