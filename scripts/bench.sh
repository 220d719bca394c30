#!/usr/bin/env bash
# `make bench`: builds the release binaries and the bench tool, starts what the tool needs, runs
# it, and writes BENCHMARKS.md and target/bench.json.
#   bash scripts/bench.sh [--quick] [--only 1,2,...]    # extra arguments go to the tool
#   make bench QUICK=1                                  # the same as --quick
# It starts, and stops on exit: DynamoDB Local on $DYNAMODB_LOCAL_PORT unless one answers there
# already (every section works on tables of its own and drops them), and `cargo lambda watch` on
# $BENCH_API_PORT, with its own tables (cart-api-bench-*), for the latency section.
# Settings (environment):
#   BENCH_API_PORT=9300          port of that local API (9300: a `make dev` on 9000 can keep running)
#   BENCH_WATCH_PROFILE=release  profile of the functions behind it: `release` (the deployment
#                                profile; section 3 builds it anyway) or `dev` (what make dev runs)
#   BENCH_SKIP_RELEASE_BUILD=1   use target/release/* as they are, even if stale
#   QUICK=1                      a smaller run (--quick)
# Logs: .local/logs/bench-watch.log (the functions' JSON lines, parsed by the tool).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The local API of this run: its own port and tables, IAM routes open (there is no IAM locally),
# and the `info` log lines the tool reads. It runs in iam mode, the requests naming their users:
# in AWS the functions never verify a token either (API Gateway's JWT authorizer does, before
# them), so what is measured is what the functions do there.
export API_PORT="${BENCH_API_PORT:-9300}" RUST_LOG=info ALLOW_UNSIGNED_REQUESTS=true AUTH_MODE=iam
export API_URL="http://127.0.0.1:$API_PORT"
export CATALOG_TABLE=cart-api-bench-catalog CARTS_TABLE=cart-api-bench-carts
export ORDERS_TABLE=cart-api-bench-orders IDEMPOTENCY_TABLE=cart-api-bench-idempotency
PROFILE="${BENCH_WATCH_PROFILE:-release}"
FUNCTIONS=(list-items admin-create-item admin-update-item create-cart get-cart add-cart-item
    remove-cart-item purchase-cart get-order seed-catalog)
ARGS=("$@")
[[ "${QUICK:-0}" == 1 ]] && ARGS+=(--quick)
WATCH_LOG=.local/logs/bench-watch.log
on_exit() { finish_line "$1" "BENCHMARKS.md and ${CARGO_TARGET_DIR#"$ROOT"/}/bench.json written"; }

case "$PROFILE" in
    release) WATCH_FLAGS=(--release) ;;
    dev) WATCH_FLAGS=() ;;
    *) die "BENCH_WATCH_PROFILE must be release or dev (got '$PROFILE')" ;;
esac
check_api_port

step "tools"
bash scripts/tools.sh

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
    for fn in "${FUNCTIONS[@]}"; do cargo build --release --bin "$fn"; done
fi
if [[ "$PROFILE" == dev ]]; then
    # watch builds a function on its first request; built beforehand, that request is fast.
    for fn in "${FUNCTIONS[@]}"; do cargo build --bin "$fn"; done
fi
cargo build -p bench

step "DynamoDB Local"
ddb_up

step "cargo lambda watch on $API_URL ($PROFILE profile, log $WATCH_LOG)"
# --ignore-changes: no reloads during the run, even if sources are edited meanwhile.
start_watch "$WATCH_LOG" --ignore-changes "${WATCH_FLAGS[@]}"

step "bench ${ARGS[*]}"
"$CARGO_TARGET_DIR/debug/bench" --api-url "$API_URL" --watch-log "$WATCH_LOG" \
    --watch-profile "$PROFILE" --release-dir "$CARGO_TARGET_DIR/release" --template template.yaml \
    --markdown BENCHMARKS.md --json "$CARGO_TARGET_DIR/bench.json" "${ARGS[@]}"
