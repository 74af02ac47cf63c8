# Operations: monitoring (Prometheus + Grafana) and blue-green deployment (deploy/), over the
# serving image flightontime:<version> (mk/container.mk's `image`) and the Compose files in docker/.
.PHONY: ops-tools monitoring-check monitoring-reference monitoring-up monitoring-down \
        proxy-image bg-deploy bg-rollback bg-status test-ops

# Compose client: Docker's plugin where Docker runs, podman-compose otherwise.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo podman-compose)
ENGINE ?= podman
OPS_COMPOSE_FILES := -f docker/compose.yml -f docker/compose.monitoring.yml
PROXY_IMAGE ?= flightontime-proxy:latest
# Base of the proxy image: Debian bookworm-slim. A podman machine without a registry (CI) uses
# its local stand-in python:3.11-slim (also Debian bookworm) when debian:bookworm-slim is absent.
PROXY_BASE ?= $(shell if [ "$(ENGINE)" != podman ] || podman image exists debian:bookworm-slim 2>/dev/null; \
  then echo debian:bookworm-slim; else echo docker.io/library/python:3.11-slim; fi)
PROXY_PULL = $(if $(filter podman,$(ENGINE)),--pull=never)

ops-tools:  ## Debian's prometheus package (prometheus + promtool) for the ops suite (root: apt-get)
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -n1

monitoring-check: ops-tools  ## promtool: check the rules and run the alert unit tests
	promtool check rules deploy/monitoring/rules/*.yml
	promtool test rules deploy/monitoring/tests/alerts-test.yml

# The generator reads the manifest with flightontime-core (the default hatch environment).
monitoring-reference: install  ## regenerate the drift reference rules from the model card ($(MODEL_DIR))
	$(HATCH) run python deploy/monitoring/generate_reference_rules.py $(MODEL_DIR)/manifest.json \
	  > deploy/monitoring/rules/flightontime-reference.yml.new
	mv -f deploy/monitoring/rules/flightontime-reference.yml.new deploy/monitoring/rules/flightontime-reference.yml
	@cat deploy/monitoring/rules/flightontime-reference.yml

monitoring-up:  ## start the service with Prometheus (127.0.0.1:9090) and Grafana (127.0.0.1:3000)
	@test -n "$$GRAFANA_ADMIN_PASSWORD" || { echo "set GRAFANA_ADMIN_PASSWORD"; exit 1; }
	$(COMPOSE) $(OPS_COMPOSE_FILES) up -d

monitoring-down:  ## stop the monitoring stack and the service
	$(COMPOSE) $(OPS_COMPOSE_FILES) down

proxy-image:  ## build the blue-green nginx proxy image ($(PROXY_IMAGE))
	$(ENGINE) build $(PROXY_PULL) --build-arg BASE_IMAGE=$(PROXY_BASE) -t $(PROXY_IMAGE) deploy/bluegreen

bg-deploy: proxy-image  ## blue-green deploy: make bg-deploy IMAGE=flightontime:<version> (`make image`)
	@test -n "$(IMAGE)" || { echo "usage: make bg-deploy IMAGE=flightontime:<version>"; exit 1; }
	BG_PROXY_IMAGE=$(PROXY_IMAGE) deploy/blue-green.sh deploy $(IMAGE)

bg-rollback:  ## blue-green: switch back to the previous slot
	deploy/blue-green.sh rollback

bg-status:  ## blue-green: which slot serves which version
	deploy/blue-green.sh status

# The ops suite: Prometheus against the running service, promtool, the blue-green deployment
# under load with podman. Needs the container engine and the serving image (container-engine,
# image); the model is the committed models/default (inside the image too).
test-ops: install ops-tools container-engine image  ## ops suite (Prometheus, promtool, blue-green with podman)
	FLIGHTONTIME_OPS_IMAGE=$(CONTAINER_IMAGE) $(HATCH) run pytest -m ops tests/ops -v -s -p no:cacheprovider
