#!/usr/bin/env bash
# Local development server: DynamoDB Local + tables + seeded catalog + `cargo lambda watch`
# serving the API on $API_URL with hot reload. Ctrl-C stops everything started here (a
# DynamoDB Local that was already running is left alone).
#
# Extra arguments go to `cargo lambda watch`, e.g. `bash scripts/dev.sh --release`.
#
# Hot reload and logs: cargo lambda watch ignores what .gitignore ignores (and
# .cargolambdaignore / $CARGO_LAMBDA_IGNORE_FILE); there is no --ignore flag. Everything
# written here goes to .local/ or target/, both git-ignored, so writing them never triggers a
# rebuild. Watch output itself goes to this terminal.
set -euo pipefail

SCRIPT_NAME="dev"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

WATCH_PID=
SEED_FILE=events/seed-catalog.json

# shellcheck disable=SC2317 # invoked by the trap below
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e # clean up as much as possible, whatever fails
    echo >&2
    if [[ -n "$WATCH_PID" ]]; then
        stop_tree "$WATCH_PID" "cargo lambda watch"
        WATCH_PID=
    fi
    ddb_down
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$ROOT/scripts/tools.sh"
ddb_up

if port_open 127.0.0.1 "$API_PORT"; then
    die "port $API_PORT is already in use (another \`make dev\`?); stop it or run with API_PORT=<free port>"
fi

step "creating tables"
cargo run -q -p dev-tools --bin create-tables

step "building functions"
# Prebuilt binaries make the first requests (and the seeding below) fast.
cargo build --workspace --bins

step "starting cargo lambda watch on $API_URL"
watch_cmd "$@"
start_in_session - "${WATCH_CMD[@]}"
WATCH_PID=$BG_PID
wait_for_port 127.0.0.1 "$API_PORT" 60 "$WATCH_PID" ||
    die "cargo lambda watch did not start listening on 127.0.0.1:$API_PORT"

if [[ -f "$SEED_FILE" ]]; then
    step "seeding the catalog ($SEED_FILE)"
    # invoke's default address is ::1, so point it at the IPv4 address watch listens on.
    # (Long flags only: in cargo-lambda 1.9.2 `invoke -A` means both --invoke-address and
    # --data-ascii.)
    cargo lambda invoke seed-catalog \
        --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
        --data-file "$SEED_FILE" ||
        warn "seeding failed (the server keeps running; fix the code and it reloads)"
else
    warn "$SEED_FILE not found; catalog not seeded"
fi

echo >&2
printf '%sCart API running at %s%s  (DynamoDB Local: %s)\n' "$C_BOLD" "$API_URL" "$C_OFF" "$AWS_ENDPOINT_URL_DYNAMODB" >&2
printf '$ curl %s/api/v1/items?limit=3\n' "$API_URL" >&2
curl -sS --max-time 120 "$API_URL/api/v1/items?limit=3" >&2 || warn "request failed"
printf '\n\nEditing sources reloads the functions. Ctrl-C to stop.\n\n' >&2

# `wait` returns as soon as Ctrl-C arrives (the INT trap then exits, and cleanup stops things).
set +e
wait "$WATCH_PID"
status=$?
set -e
WATCH_PID=
info "cargo lambda watch exited (status $status)"
exit "$status"
