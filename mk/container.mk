# The container: engine setup (podman on CI machines without Docker), image build, its test
# suite and its benchmark. Docker users: `make image ENGINE=docker`.
.PHONY: container-engine image image-context test-container bench-container container-lint

ENGINE ?= podman
CONTAINER_VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -n1)
CONTAINER_IMAGE ?= flightontime:$(CONTAINER_VERSION)
CONTAINER_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
CONTAINER_SOURCE ?= $(shell git config --get remote.origin.url 2>/dev/null || echo unknown)
CONTAINER_CREATED ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
IMAGE_BUILD_ARGS ?=
IMAGE_LABEL_ARGS = --build-arg VERSION=$(CONTAINER_VERSION) --build-arg REVISION=$(CONTAINER_REVISION) \
  --build-arg CREATED=$(CONTAINER_CREATED) --build-arg SOURCE=$(CONTAINER_SOURCE)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

container-engine:  ## podman + stand-in python:3.11-slim + podman-compose (Debian 12, root; CI)
	$(SUDO) bash scripts/setup-container-engine.sh

image:  ## build the production image flightontime:<version> (trains the default model inside the build)
	$(ENGINE) build $(IMAGE_LABEL_ARGS) $(IMAGE_BUILD_ARGS) -t $(CONTAINER_IMAGE) .
	@$(ENGINE) image inspect --format '{{.Size}}' $(CONTAINER_IMAGE) | awk '{printf "image $(CONTAINER_IMAGE): %.1f MB\n", $$1/1e6}'

image-context: model  ## build flightontime:<version> with the local bundle $(MODEL_DIR) instead of training in the build
	$(ENGINE) build $(IMAGE_LABEL_ARGS) --build-arg MODEL_SOURCE=context \
	  --build-arg MODEL_DIR=$(MODEL_DIR) $(IMAGE_BUILD_ARGS) -t $(CONTAINER_IMAGE) .

container-lint: tools  ## hadolint (Dockerfile); checkov (Dockerfile, Compose files + the project's Compose checks)
	$(TOOLS)/hadolint Dockerfile
	$(TOOLS)/checkov --skip-download --quiet --compact --framework dockerfile secrets yaml \
	  --external-checks-dir tests/deploy/checkov_compose \
	  -f Dockerfile -f docker-compose.yml -f docker-compose.dev.yml

# The suite builds nothing itself: `image` above is its prerequisite (a no-op when cached).
test-container: install tools image  ## container suite: real image, hardened run, Compose, lint (podman)
	FLIGHTONTIME_IMAGE=$(CONTAINER_IMAGE) $(BIN)/pytest -m container tests/container -v -s -p no:cacheprovider

bench-container: install image  ## image size, layers, build cold/warm, start-to-healthy, idle memory
	FLIGHTONTIME_IMAGE=$(CONTAINER_IMAGE) $(BIN)/python bench/container_bench.py $(BENCH_ARGS)
