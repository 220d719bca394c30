#!/usr/bin/env bash
# Full local check, in order, stopping at the first failure:
#   formatting, clippy, SAM template lint, the Rust tests (against DynamoDB Local), a smoke
#   test of the HTTP API served by `cargo lambda watch`, and schemathesis fuzzing that API
#   against openapi.yaml.
#
# Installs missing tools first (scripts/tools.sh). Reuses a DynamoDB Local that is already
# running (e.g. from `make dev`); one started here is stopped on exit. Logs: .local/logs/.
set -euo pipefail

SCRIPT_NAME="test"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

STARTED_AT=$SECONDS
WATCH_PID=
WATCH_LOG="$ROOT/.local/logs/watch.log"

# shellcheck disable=SC2317 # invoked by the trap below
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e # clean up as much as possible, whatever fails
    if [[ -n "$WATCH_PID" ]]; then
        stop_tree "$WATCH_PID" "cargo lambda watch"
        WATCH_PID=
    fi
    ddb_down
    local took
    took="$(fmt_duration $((SECONDS - STARTED_AT)))"
    if ((status == 0)); then
        printf '\n%stest: all checks passed in %s%s\n' "$C_GREEN" "$took" "$C_OFF" >&2
    else
        printf '\n%stest: FAILED (exit %s) after %s%s\n' "$C_RED" "$status" "$took" "$C_OFF" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "tools"
bash "$ROOT/scripts/tools.sh"

step "DynamoDB Local"
ddb_up

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

if [[ -f template.yaml ]]; then
    step "sam validate --lint --template template.yaml"
    sam validate --lint --template template.yaml
else
    warn "template.yaml not found; skipping sam validate"
fi

step "cargo test --workspace"
# The results are also kept, to print one closing tally (see the end of this script).
TEST_LOG="$ROOT/.local/logs/cargo-test.log"
mkdir -p "$(dirname "$TEST_LOG")"
cargo test --workspace 2>&1 | tee "$TEST_LOG"

# --- local API smoke test --------------------------------------------------------------------
if [[ ! -f tests/tests/api/local_api.rs ]]; then
    warn "tests/tests/api/local_api.rs not found; skipping the local API smoke test"
    exit 0
fi

step "local API smoke test (cargo lambda watch on $API_URL)"
if port_open 127.0.0.1 "$API_PORT"; then
    die "port $API_PORT is already in use (a \`make dev\` running?); stop it or run with API_PORT=<free port>"
fi
# Build the function binaries first: watch compiles a function on its first request, and a
# compile error is clearer here than as a timeout in the test.
cargo build --workspace --bins
if workspace_has_bin create-tables; then
    cargo run -q -p dev-tools --bin create-tables
fi
# --ignore-changes: no reloads while the tests run, even if sources are edited meanwhile.
watch_cmd --ignore-changes
info "${WATCH_CMD[*]} (log: .local/logs/watch.log)"
start_in_session "$WATCH_LOG" "${WATCH_CMD[@]}"
WATCH_PID=$BG_PID
if ! wait_for_port 127.0.0.1 "$API_PORT" 60 "$WATCH_PID"; then
    tail -n 30 "$WATCH_LOG" >&2 || true
    die "cargo lambda watch did not start listening on 127.0.0.1:$API_PORT"
fi
if ! cargo test --workspace --test api -- --ignored local_api:: 2>&1 | tee -a "$TEST_LOG"; then
    warn "local API tests failed; last lines of .local/logs/watch.log:"
    tail -n 40 "$WATCH_LOG" >&2 || true
    exit 1
fi

# --- schemathesis: the local API against openapi.yaml ----------------------------------------
# Generated requests, valid and invalid, for every operation (examples, coverage, fuzzing and
# stateful phases): no 5xx, and every status, content type, header and body as the document
# says. Every check runs except those tests/schemathesis.toml turns off, each with its reason
# (`--checks all` would override those). Bounded and reproducible: a fixed seed and at most
# SCHEMATHESIS_MAX_EXAMPLES (100) cases per operation and phase, no example database; about 20 s here.
# The admin routes create items in the local tables, which is harmless.
step "schemathesis: openapi.yaml against $API_URL"
if ! HYPOTHESIS_STORAGE_DIRECTORY="$ROOT/.local/hypothesis" st --config-file tests/schemathesis.toml \
    run openapi.yaml --url "$API_URL" \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" --seed "${SCHEMATHESIS_SEED:-20261123}" \
    --request-timeout 15; then
    warn "schemathesis found failures (reproduce each with the curl command above); last lines of .local/logs/watch.log:"
    tail -n 40 "$WATCH_LOG" >&2 || true
    exit 1
fi

# --- the tally -------------------------------------------------------------------------------
# One closing line for every Rust test that ran (cargo prints one `test result:` per binary),
# kept in .local/test-summary so that .ci/run can repeat it after the package step.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "%d passed, %d failed\n", p, f }' "$TEST_LOG" | tee "$ROOT/.local/test-summary"
