#!/usr/bin/env bash
# `make test`, stopping at the first failure: the fast tier (`make check`, scripts/check.sh:
# formatting, cargo deny, clippy, the tests that need no service), the SAM template lint, the
# Rust tests against DynamoDB Local (the cart and purchase contract under both checkout
# policies; the order events end to end), the local API served by `cargo lambda watch` (its Rust
# tests, then schemathesis against openapi.yaml), the contracts' linters (openapi.yaml,
# asyncapi.yaml), the template under SAM CLI in Docker (scripts/test-sam.sh), and
# scripts/test-dev.sh (`make dev` stops what it started). Installs
# missing tools first. Reuses a DynamoDB Local that is already running (e.g. make dev's); one
# started here is stopped on exit. Logs: .local/logs/.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

on_exit() { finish_line "$1" "all checks passed"; }
export TEST_LOG=.local/logs/cargo-test.log # every `test result:` line, for the closing tally
WATCH_LOG=.local/logs/watch.log

check_api_port
step "tools"
bash scripts/tools.sh
: >"$TEST_LOG"
bash scripts/check.sh
step "sam validate --lint --template template.yaml"
sam validate --lint --template template.yaml
step "DynamoDB Local"
ddb_up
# The rest of `cargo test --workspace` (check.sh ran the others).
step "cargo test --test api (against DynamoDB Local)"
cargo test --test api 2>&1 | tee -a "$TEST_LOG"
step "the cart and purchase contract again, under CHECKOUT_POLICY=hold"
CHECKOUT_POLICY=hold cargo test --test api -- carts:: purchase:: exactly_once:: identity:: hostile_input:: 2>&1 |
    tee -a "$TEST_LOG"

step "local API tests (cargo lambda watch on $API_URL)"
# Built first: watch compiles a function on its first request, and a compile error is clearer
# here than as a timeout in the test.
cargo build --workspace --bins
# Tables of this run's own (a DynamoDB Local left running, say by `make dynamodb-start`, keeps
# what earlier runs stored: a replayed key or an old cart must not decide this run).
run_tables="cart-api-test-$(date +%s)-$$"
export CATALOG_TABLE="$run_tables-catalog" CARTS_TABLE="$run_tables-carts"
export ORDERS_TABLE="$run_tables-orders" IDEMPOTENCY_TABLE="$run_tables-idempotency"
export DISCOUNTS_TABLE="$run_tables-discounts"
cargo run -q --bin create-tables
local_issuer
# --ignore-changes: no reloads while the tests run, even if sources are edited meanwhile.
start_watch "$WATCH_LOG" --ignore-changes
if ! cargo test --workspace --test api -- --ignored local_api:: 2>&1 | tee -a "$TEST_LOG"; then
    tail -n 40 "$WATCH_LOG" >&2
    die "local API tests failed (the last lines of $WATCH_LOG are above)"
fi

# openapi.yaml as client generators and linters read it: redocly and spectral clean; the
# TypeScript client it generates type-checks against tests/contract/check.ts; the Python client it
# generates (no warning allowed) runs the README's tour against the local API, typed throughout.
# asyncapi.yaml (the order events) as the AsyncAPI parser reads it: no error or warning.
step "contract: linters, generated TypeScript and Python clients, asyncapi.yaml (tests/contract)"
(cd tests/contract && PATH="$PWD/node_modules/.bin:$PATH" && redocly lint --config redocly.yaml ../../openapi.yaml &&
    spectral lint --ruleset spectral.yaml -F hint ../../openapi.yaml &&
    openapi-typescript ../../openapi.yaml -o ../../.local/client/api.d.ts && tsc -p tsconfig.json &&
    node asyncapi.mjs)
rm -rf .local/client/cart_api_client
GENERATED="$(openapi-python-client generate --path openapi.yaml --meta none --config tests/contract/generator.yaml \
    --output-path .local/client/cart_api_client 2>&1)" || die "openapi-python-client failed: $GENERATED"
[[ "$GENERATED" != *[Ww]arning* ]] || die "openapi-python-client warned: $GENERATED"
ROOT="$ROOT" python3 tests/contract/tour.py | tee -a "$TEST_LOG"

# Generated requests, valid and invalid, for every operation and phase: no 5xx, and every answer
# as the document says (every check but those tests/schemathesis.toml turns off, with reasons).
# Reproducible: a fixed seed, SCHEMATHESIS_MAX_EXAMPLES (100) per operation and phase; ~20 s.
step "schemathesis: openapi.yaml against $API_URL"
# In jwt mode (the default) every request carries one user's token; the hooks make the user_ids
# of valid requests that user's.
export SCHEMATHESIS_USER=schemathesis
AUTH_HEADER=()
[[ "$AUTH_MODE" != jwt ]] ||
    AUTH_HEADER=(-H "Authorization: Bearer $(cargo run -q --bin token -- --user "$SCHEMATHESIS_USER")")
if ! HYPOTHESIS_STORAGE_DIRECTORY="$ROOT/.local/hypothesis" st --config-file tests/schemathesis.toml \
    run openapi.yaml --url "$API_URL" --request-timeout 15 "${AUTH_HEADER[@]}" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" --seed "${SCHEMATHESIS_SEED:-20261123}"; then
    tail -n 40 "$WATCH_LOG" >&2
    die "schemathesis found failures (reproduce each with the curl command above; the last lines of $WATCH_LOG are above)"
fi

# template.yaml under SAM CLI, every function in a Lambda container (Docker): each one's event
# answered by sam local invoke as by cargo lambda invoke, and sam local start-api's tour.
step "SAM CLI: sam local invoke against cargo lambda invoke, sam local start-api (scripts/test-sam.sh)"
bash scripts/test-sam.sh 2>&1 | tee -a "$TEST_LOG"

step "make dev stops what it started (scripts/test-dev.sh)"
bash scripts/test-dev.sh 2>&1 | tee -a "$TEST_LOG"

# One closing line for every test that ran, kept in .local/test-summary so that .ci/run can
# repeat it at the very end.
tally "$TEST_LOG" | tee .local/test-summary
