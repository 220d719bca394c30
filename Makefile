# Entry points for local work and CI. The recipes are thin: the logic lives in scripts/, which
# can also be run directly (bash scripts/<name>.sh).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help tools test dev package deploy bench fmt lint dynamodb-start dynamodb-stop

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-16s %s\n", $$1, $$2 }'

tools: ## Install missing tools (.venv with cargo-lambda/SAM/zig, DynamoDB Local)
	bash scripts/tools.sh

test: ## fmt check, clippy, sam validate, cargo test, local API smoke test
	bash scripts/test.sh

dev: ## Local API with hot reload on API_URL (default http://127.0.0.1:9000)
	bash scripts/dev.sh

package: ## sam build (ARCHITECTURE=x86_64|arm64) and show binary sizes
	bash scripts/package.sh

# Real AWS: CART_API_REAL_AWS=1 keeps env.sh from setting the local dummy credentials, region
# and DynamoDB endpoint. Deploys the last `make package` output, passing the architecture it
# was built for (a binary deployed under the other architecture could not start).
deploy: ## sam deploy --guided (run make package first)
	export CART_API_REAL_AWS=1; source scripts/env.sh; \
	if [[ ! -f .aws-sam/build/template.yaml || ! -f .aws-sam/build/architecture ]]; then \
		echo "deploy: nothing built yet; run: make package" >&2; exit 1; \
	fi; \
	arch="$$(cat .aws-sam/build/architecture)"; \
	if [[ -n "$${ARCHITECTURE:-}" && "$$ARCHITECTURE" != "$$arch" ]]; then \
		echo "deploy: the build is for $$arch; run: make package ARCHITECTURE=$$ARCHITECTURE" >&2; exit 1; \
	fi; \
	sam deploy --guided --parameter-overrides "Architecture=$$arch"

bench: ## Load benchmark (scripts/bench.sh)
	@if [[ ! -f scripts/bench.sh ]]; then echo "bench: scripts/bench.sh does not exist yet" >&2; exit 1; fi
	bash scripts/bench.sh

fmt: ## Format the Rust code
	source scripts/env.sh; cargo fmt --all

lint: ## Format check, clippy, shellcheck (if installed)
	source scripts/env.sh; \
	cargo fmt --all -- --check; \
	cargo clippy --workspace --all-targets -- -D warnings; \
	if command -v shellcheck >/dev/null; then shellcheck -x scripts/*.sh .ci/run; \
	else echo "lint: shellcheck not installed; skipping shell scripts" >&2; fi

dynamodb-start: ## Start DynamoDB Local in the background (or reuse a running one)
	bash scripts/tools.sh dynamodb
	bash scripts/dynamodb-local.sh start >/dev/null

dynamodb-stop: ## Stop the DynamoDB Local started by dynamodb-start
	bash scripts/dynamodb-local.sh stop
