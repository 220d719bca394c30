#!/usr/bin/env bash
# Benchmarks (`make bench`): builds the release binaries and the bench tool, starts what the
# tool needs, runs it, and writes BENCHMARKS.md and target/bench.json.
#
#   bash scripts/bench.sh [--quick] [--only 1,2,...]    # extra arguments go to the tool
#   make bench QUICK=1                                  # the same as --quick
#
# What it starts, and stops on exit (Ctrl-C included):
#   - DynamoDB Local on $DYNAMODB_LOCAL_PORT, unless one already answers there (then it is
#     reused and left running). Every section works on tables of its own and drops them.
#   - `cargo lambda watch` on 127.0.0.1:$BENCH_API_PORT (default 9300, so a `make dev` on 9000
#     can keep running), with its own tables (cart-api-bench-*), for the latency section.
#
# Settings (environment):
#   BENCH_API_PORT=9300          port of the local API started here
#   BENCH_WATCH_PROFILE=release  profile of the functions behind the local API: `release` (the
#                                deployment profile; the binaries section 3 builds anyway) or
#                                `dev` (what `make dev` runs)
#   BENCH_SKIP_RELEASE_BUILD=1   use target/release/* as they are, even if stale
#   QUICK=1                      a smaller run (--quick)
# Logs: .local/logs/bench-watch.log (the functions' JSON lines, parsed by the tool).
set -euo pipefail

SCRIPT_NAME="bench"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

: "${BENCH_API_PORT:=9300}"
: "${BENCH_WATCH_PROFILE:=release}"
# The local API of this run: its own port, its own tables, admin routes open (there is no IAM
# locally), and the `info` log lines the tool reads.
export API_PORT="$BENCH_API_PORT"
export API_URL="http://127.0.0.1:$API_PORT"
export CATALOG_TABLE=cart-api-bench-catalog
export CARTS_TABLE=cart-api-bench-carts
export ORDERS_TABLE=cart-api-bench-orders
export IDEMPOTENCY_TABLE=cart-api-bench-idempotency
export ALLOW_UNAUTHENTICATED_ADMIN=true
export RUST_LOG=info

FUNCTIONS=(list-items admin-create-item admin-update-item create-cart get-cart add-cart-item
    remove-cart-item purchase-cart get-order seed-catalog)
ARGS=("$@")
[[ "${QUICK:-0}" == 1 ]] && ARGS+=(--quick)

STARTED_AT=$SECONDS
WATCH_PID=
WATCH_LOG="$ROOT/.local/logs/bench-watch.log"

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
        printf '\n\033[1;32mbench: done in %s: BENCHMARKS.md, %s\033[0m\n' "$took" \
            "${CARGO_TARGET_DIR#"$ROOT"/}/bench.json" >&2
    else
        printf '\n\033[1;31mbench: FAILED (exit %s) after %s\033[0m\n' "$status" "$took" >&2
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case "$BENCH_WATCH_PROFILE" in
    release) WATCH_FLAGS=(--release) ;;
    dev) WATCH_FLAGS=() ;;
    *) die "BENCH_WATCH_PROFILE must be release or dev (got '$BENCH_WATCH_PROFILE')" ;;
esac
if port_open 127.0.0.1 "$API_PORT"; then
    die "port $API_PORT is already in use; stop what listens there or run with BENCH_API_PORT=<free port>"
fi

step "tools"
bash "$ROOT/scripts/tools.sh"

step "building"
# One function at a time and without `-p`, the way `cargo lambda watch` (`cargo run --bin X`)
# and `sam build` (`cargo lambda build --bin X`) build them: dependency features are then
# unified over the whole workspace. A `-p X` build resolves them for X alone, a variant of the
# dependencies that watch would not reuse: it would rebuild every function on first request.
if [[ "${BENCH_SKIP_RELEASE_BUILD:-0}" == 1 ]]; then
    info "BENCH_SKIP_RELEASE_BUILD=1: using target/release as it is"
else
    # Thin LTO and one codegen unit: about a minute per function on 2 cores after a change
    # to shared/, several minutes for the first build; nothing when nothing changed.
    for fn in "${FUNCTIONS[@]}"; do
        info "release binary: $fn"
        cargo build --release --bin "$fn"
    done
fi
if [[ "$BENCH_WATCH_PROFILE" == dev ]]; then
    # watch builds a function on its first request; built beforehand, that request is fast.
    for fn in "${FUNCTIONS[@]}"; do
        cargo build --bin "$fn"
    done
fi
cargo build -p bench

step "DynamoDB Local"
ddb_up

step "cargo lambda watch on $API_URL ($BENCH_WATCH_PROFILE profile)"
mkdir -p "$(dirname "$WATCH_LOG")"
: >"$WATCH_LOG"
# --ignore-changes: no reloads during the run, even if sources are edited meanwhile.
watch_cmd --ignore-changes "${WATCH_FLAGS[@]}"
info "${WATCH_CMD[*]} (log: ${WATCH_LOG#"$ROOT"/})"
start_in_session "$WATCH_LOG" "${WATCH_CMD[@]}"
WATCH_PID=$BG_PID
if ! wait_for_port 127.0.0.1 "$API_PORT" 60 "$WATCH_PID"; then
    tail -n 30 "$WATCH_LOG" >&2 || true
    die "cargo lambda watch did not start listening on $API_URL"
fi

step "bench ${ARGS[*]}"
"$CARGO_TARGET_DIR/debug/bench" \
    --api-url "$API_URL" \
    --watch-log "$WATCH_LOG" \
    --watch-profile "$BENCH_WATCH_PROFILE" \
    --release-dir "$CARGO_TARGET_DIR/release" \
    --template template.yaml \
    --markdown "$ROOT/BENCHMARKS.md" \
    --json "$CARGO_TARGET_DIR/bench.json" \
    "${ARGS[@]}"
