# FlightOnTime's images: `docker buildx bake` builds them where BuildKit runs (CI, releases);
# `python scripts/bake.py` builds each target with podman where it does not (`make image`,
# `make images`). It reads only static facts of this file (python-hcl2, no HCL functions): the
# groups and, through `inherits`, each target's context, dockerfile, target, args, labels,
# platforms, attest and output, written as strings or variables. It does not read the tags: it
# names an image by its org.opencontainers.image.title label and tags it as local_tags and
# release_tags below do (tests/docker/test_bake.py; against buildx's --print where it runs).
#
#   docker buildx bake                  # group "default": server + cli, local tags X.Y.Z
#   docker buildx bake --print release  # what a release would build and push
#   VERSION=0.2.0 REVISION=$(git rev-parse HEAD) CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     REGISTRY=ghcr.io/acme IS_DEFAULT_BRANCH=true docker buildx bake release
#
# Every variable can be overridden from the environment (bake's rule).

# The packages' one version (packages/core/src/flightontime_core/__about__.py; tests/docker
# checks they agree, and each image's build checks its packages are this version).
variable "VERSION" {
  default = "0.2.0"
}

# Where release images go: "<host>[:port]/<namespace>". Empty: local names only.
variable "REGISTRY" {
  default = ""
}

# The commit the images are built from (git rev-parse HEAD); its first 7 characters make the
# sha-<short> tag of a release.
variable "REVISION" {
  default = "unknown"
}

# Build time, RFC 3339 (date -u +%Y-%m-%dT%H:%M:%SZ).
variable "CREATED" {
  default = "unknown"
}

# The repository the images are built from (org.opencontainers.image.source): CI passes its
# URL (`make image` the git remote's, when the checkout has one).
variable "SOURCE" {
  default = "unknown"
}

# The model bundles baked into the serving image, by name (models/<name>, space-separated):
# each goes to /opt/flightontime/models/<name>; a name without a bundle fails the build.
variable "MODELS" {
  default = "default brazil"
}

# The release image's model-signing public key (PEM text, not a path): the release sets it from
# the repository variable MODEL_SIGNING_PUBLIC_KEY, whose private key is only the CI secret
# MODEL_SIGNING_KEY (docs/release.md, "Model signatures"). Empty: `server-release` fails.
variable "MODEL_PUBLIC_KEY" {
  default = ""
}

# "true" when building a release from the default branch: only then does `latest` move.
variable "IS_DEFAULT_BRANCH" {
  default = "false"
}

# "<registry>/<name>", or "<name>" without a registry.
function "image" {
  params = [name]
  result = REGISTRY == "" ? name : "${REGISTRY}/${name}"
}

# Local builds: X.Y.Z only.
function "local_tags" {
  params = [name]
  result = ["${image(name)}:${VERSION}"]
}

# Releases: X.Y.Z, X.Y, X and sha-<short>; latest only for a release from the default branch.
function "release_tags" {
  params = [name]
  result = concat(
    [
      "${image(name)}:${VERSION}",
      "${image(name)}:${join(".", slice(split(".", VERSION), 0, 2))}",
      "${image(name)}:${split(".", VERSION)[0]}",
      "${image(name)}:sha-${substr(REVISION, 0, 7)}",
    ],
    IS_DEFAULT_BRANCH == "true" ? ["${image(name)}:latest"] : [],
  )
}

group "default" {
  targets = ["server", "cli"]
}

group "release" {
  targets = ["server-release", "cli-release"]
}

# What both images share: the context (each Dockerfile's own <Dockerfile>.dockerignore narrows
# it), the build arguments and the OCI labels and annotations from the variables above.
target "_common" {
  context = "."
  args = {
    VERSION = VERSION
  }
  labels = {
    "org.opencontainers.image.version"  = VERSION
    "org.opencontainers.image.revision" = REVISION
    "org.opencontainers.image.created"  = CREATED
    "org.opencontainers.image.source"   = SOURCE
    "org.opencontainers.image.licenses" = "MIT"
    "org.opencontainers.image.vendor"   = "FlightOnTime"
  }
  annotations = [
    "index,manifest:org.opencontainers.image.version=${VERSION}",
    "index,manifest:org.opencontainers.image.revision=${REVISION}",
    "index,manifest:org.opencontainers.image.created=${CREATED}",
    "index,manifest:org.opencontainers.image.source=${SOURCE}",
    "index,manifest:org.opencontainers.image.licenses=MIT",
  ]
}

target "server" {
  inherits   = ["_common"]
  dockerfile = "docker/server.Dockerfile"
  target     = "runtime"
  tags       = local_tags("flightontime")
  args = {
    MODELS = MODELS
  }
  labels = {
    "org.opencontainers.image.title"       = "flightontime"
    "org.opencontainers.image.description" = "FlightOnTime flight-delay prediction API (Litestar + ONNX Runtime) with its model bundles inside"
  }
}

target "cli" {
  inherits   = ["_common"]
  dockerfile = "docker/cli.Dockerfile"
  target     = "runtime"
  tags       = local_tags("flightontime-cli")
  labels = {
    "org.opencontainers.image.title"       = "flightontime-cli"
    "org.opencontainers.image.description" = "FlightOnTime command line with the training extra: training and batch scoring jobs"
  }
}

# A release: both platforms, SBOM and full provenance attestations, pushed to REGISTRY.
target "_release" {
  platforms = ["linux/amd64", "linux/arm64"]
  attest    = ["type=sbom", "type=provenance,mode=max"]
  output    = ["type=registry"]
}

# The release's serving image verifies every bundle's model-signing signature at start: the
# signing extra installed, the public key inside (stage `release` of docker/server.Dockerfile).
target "server-release" {
  inherits = ["server", "_release"]
  target   = "release"
  tags     = release_tags("flightontime")
  args = {
    SIGNING          = "1"
    MODEL_PUBLIC_KEY = MODEL_PUBLIC_KEY
  }
}

target "cli-release" {
  inherits = ["cli", "_release"]
  tags     = release_tags("flightontime-cli")
}
