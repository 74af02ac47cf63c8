# The container images: engine setup (podman on CI machines without Docker), the images from
# docker-bake.hcl (scripts/bake.py builds its targets with podman where no buildx runs), their
# test suite, benchmark and linters. With BuildKit: `docker buildx bake` (same file, same result).
# The linters run in the `scan` hatch environment (mk/tools.mk).
.PHONY: container-engine registry-tools image images test-container bench-container container-lint

ENGINE ?= podman
# The bake file's variables (docker-bake.hcl): VERSION keeps the file's default (the packages'
# version, tests/docker checks it); these describe the checkout being built.
export REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
export CREATED ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
CONTAINER_SOURCE := $(shell git config --get remote.origin.url 2>/dev/null)
ifneq ($(CONTAINER_SOURCE),)
export SOURCE ?= $(CONTAINER_SOURCE)
endif
CONTAINER_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' packages/core/src/flightontime_core/__about__.py)
CONTAINER_IMAGE ?= flightontime:$(CONTAINER_VERSION)
BAKE = CONTAINER_ENGINE=$(ENGINE) $(HATCH) run python scripts/bake.py $(BAKE_ARGS)
DOCKERFILES := $(sort $(wildcard docker/*.Dockerfile))
CONTAINER_COMPOSE_FILES := $(sort $(wildcard docker/compose*.yml))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

container-engine:  ## podman + stand-in python:3.11-slim + podman-compose (Debian 12, root; CI)
	$(SUDO) bash scripts/setup-container-engine.sh

# The container suite's registry round trip: Debian's docker-registry, run by the test itself on
# 127.0.0.1 with a scratch configuration (the package's own service is not started: no systemd).
registry-tools:  ## Debian's docker-registry for the registry round trip (root: apt-get)
	@command -v docker-registry >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; }
	@docker-registry --version

image: install  ## the serving image flightontime:<version> (bake target `server`)
	$(BAKE) server
	@$(ENGINE) image inspect --format '{{.Size}}' $(CONTAINER_IMAGE) | awk '{printf "image $(CONTAINER_IMAGE): %.1f MB\n", $$1/1e6}'

images: install  ## both images of the bake group `default`: flightontime and flightontime-cli
	$(BAKE) default

container-lint: tools  ## hadolint (docker/*.Dockerfile); checkov (Dockerfiles, Compose files + the project's Compose checks)
	$(HATCH) run scan:dockerfiles $(DOCKERFILES)
	$(HATCH) run scan:iac --framework dockerfile secrets yaml \
	  --external-checks-dir tests/deploy/checkov_compose \
	  $(foreach f,$(DOCKERFILES) $(CONTAINER_COMPOSE_FILES),-f $(f))

# The suite builds nothing itself but the bake test, whose build of the group `default` is a
# cache hit after `images` (its prerequisite); then the registry round trip pushes and pulls.
test-container: install tools registry-tools images  ## container suite: real images, hardened run, Compose, registry, lint (podman)
	FLIGHTONTIME_IMAGE=$(CONTAINER_IMAGE) $(HATCH) run pytest -m container tests/container -v -s -p no:cacheprovider

bench-container: install image  ## image size, layers, build cold/warm, start-to-healthy, idle memory
	FLIGHTONTIME_IMAGE=$(CONTAINER_IMAGE) $(HATCH) run python bench/container_bench.py $(BENCH_ARGS)
