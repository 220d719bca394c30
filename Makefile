# Entry points for local work and CI. The recipes are thin: the logic lives in scripts/, which
# can also be run directly (bash scripts/<name>.sh).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

.PHONY: help tools check test dev sam-local sam-invoke token package deploy bench fmt lint dynamodb-start dynamodb-stop

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  make %-16s %s\n", $$1, $$2 }'

tools: ## Install missing tools (cargo-deny, .venv with cargo-lambda/SAM/zig, DynamoDB Local)
	bash scripts/tools.sh

check: ## Only Rust needed, ~1 min: fmt, cargo deny, clippy, unit/property tests, the repo's file tests
	bash scripts/check.sh

test: ## make check, sam validate, tests on DynamoDB Local, local API tests, SAM local (Docker), make dev's stop test
	bash scripts/test.sh

# One command per recipe: the recipe's shell execs it, so the script is make's child, and gets
# the SIGTERM that make passes on when it is sent one itself.
dev: ## Local API with hot reload on API_URL (default http://127.0.0.1:9000)
	bash scripts/dev.sh

sam-local: ## The API by sam local start-api on the template's routes (Docker) on API_URL; iam mode
	bash scripts/sam-local.sh

sam-invoke: ## One sam local invoke (Docker): make sam-invoke FN=<function> [EVENT=events/<name>.json]
	@bash scripts/sam-invoke.sh "$(FN)" "$(EVENT)"

# USER only when given on the command line: the environment's USER is the login name.
token: ## A bearer token for the local API: make -s token USER=<id> [TTL=<seconds>]
	@bash scripts/token.sh "$(if $(filter command line,$(origin USER)),$(USER))"

package: ## Build every function at once, sam build (ARCHITECTURE=x86_64|arm64), binary sizes
	bash scripts/package.sh

# sam build's step for one function (template.yaml: BuildMethod makefile, run in this folder).
build-%Function:
	bash scripts/package.sh binary $*

deploy: ## sam deploy --guided of the last make package (your own AWS credentials)
	bash scripts/deploy.sh

bench: ## Load benchmark (scripts/bench.sh; QUICK=1 for a smaller run)
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
	bash scripts/dynamodb-local.sh start

dynamodb-stop: ## Stop the DynamoDB Local started by dynamodb-start
	bash scripts/dynamodb-local.sh stop
