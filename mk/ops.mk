# Operations: monitoring (Prometheus + Grafana) and blue-green deployment (deploy/).
.PHONY: ops-tools monitoring-check monitoring-reference monitoring-up monitoring-down \
        proxy-image bg-deploy bg-rollback bg-status test-ops

# Compose client: Docker's plugin where Docker runs, podman-compose otherwise.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo podman-compose)
ENGINE ?= podman
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

monitoring-reference: model  ## regenerate the drift reference rules from the model card ($(MODEL_DIR))
	$(PYTHON) deploy/monitoring/generate_reference_rules.py $(MODEL_DIR)/manifest.json \
	  > deploy/monitoring/rules/flightontime-reference.yml
	@cat deploy/monitoring/rules/flightontime-reference.yml

monitoring-up:  ## start the service with Prometheus (127.0.0.1:9090) and Grafana (127.0.0.1:3000)
	@test -n "$$GRAFANA_ADMIN_PASSWORD" || { echo "set GRAFANA_ADMIN_PASSWORD"; exit 1; }
	$(COMPOSE) -f docker-compose.yml -f docker-compose.monitoring.yml up -d

monitoring-down:  ## stop the monitoring stack and the service
	$(COMPOSE) -f docker-compose.yml -f docker-compose.monitoring.yml down

proxy-image:  ## build the blue-green nginx proxy image ($(PROXY_IMAGE))
	$(ENGINE) build $(PROXY_PULL) --build-arg BASE_IMAGE=$(PROXY_BASE) -t $(PROXY_IMAGE) deploy/bluegreen

bg-deploy: proxy-image  ## blue-green deploy: make bg-deploy IMAGE=flightontime:<version>
	@test -n "$(IMAGE)" || { echo "usage: make bg-deploy IMAGE=flightontime:<version>"; exit 1; }
	BG_PROXY_IMAGE=$(PROXY_IMAGE) deploy/blue-green.sh deploy $(IMAGE)

bg-rollback:  ## blue-green: switch back to the previous slot
	deploy/blue-green.sh rollback

bg-status:  ## blue-green: which slot serves which version
	deploy/blue-green.sh status

# The ops suite: Prometheus against the running service, promtool, the blue-green deployment
# under load with podman. Needs the container engine and the image (container-engine, image).
test-ops: install model ops-tools container-engine image  ## ops suite (Prometheus, promtool, blue-green with podman)
	$(BIN)/pytest -m ops tests/ops -v -s -p no:cacheprovider
