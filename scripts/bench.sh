#!/usr/bin/env bash
# `make bench [QUICK=1]` (`bash scripts/bench.sh [--quick] [--only 1,2,...]`, arguments to the
# tool): builds the release binaries and the tool, starts DynamoDB Local (unless one answers) and
# `cargo lambda watch` on $BENCH_API_PORT (9300) with tables of its own, runs the tool, and writes
# BENCHMARKS.md and target/bench.json. BENCH_WATCH_PROFILE=release|dev: the functions behind
# watch; BENCH_SKIP_RELEASE_BUILD=1 uses target/release as it is. Log: .local/logs/bench-watch.log.
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
export DISCOUNTS_TABLE=cart-api-bench-discounts
PROFILE="${BENCH_WATCH_PROFILE:-release}"
mapfile -t FUNCTIONS < <(ls functions)
ARGS=("$@")
[[ "${QUICK:-0}" == 1 ]] && ARGS+=(--quick)
WATCH_LOG=.local/logs/bench-watch.log
on_exit() { finish_line "$1" "BENCHMARKS.md and ${CARGO_TARGET_DIR#"$ROOT"/}/bench.json written"; }

[[ "$PROFILE" == release || "$PROFILE" == dev ]] || die "BENCH_WATCH_PROFILE must be release or dev (got '$PROFILE')"
WATCH_FLAGS=(); [[ "$PROFILE" == dev ]] || WATCH_FLAGS=(--release)
check_api_port

step "tools"
bash scripts/tools.sh

step "building"
# Without `-p`, the way `cargo lambda watch` (`cargo run --bin X`) builds them: dependency
# features are then unified over the whole workspace, so watch reuses these builds. (make
# package builds with `-p`, each function's own features: its sizes are the deployed ones.)
[[ "${BENCH_SKIP_RELEASE_BUILD:-0}" == 1 ]] || cargo build --release "${FUNCTIONS[@]/#/--bin=}"
# watch builds a function on its first request; built beforehand, that request is fast.
[[ "$PROFILE" != dev ]] || cargo build "${FUNCTIONS[@]/#/--bin=}"
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
