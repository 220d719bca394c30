#!/usr/bin/env bash
# `make dev`: DynamoDB Local, the tables, the functions built, the order events (the orders table's
# stream read as Lambda's mapping reads it, the real publisher, each event appended to
# $LOCAL_EVENTS_FILE by a local stand-in for EventBridge), `cargo lambda watch` serving the API on
# $API_URL with hot reload (extra arguments go to it), the catalog seeded, and the sweep of ended
# holds on a schedule. However it is stopped (Ctrl-C; SIGTERM or SIGHUP to its group;
# SIGTERM to make), it stops what it started (see lib.sh), but not a DynamoDB Local it found
# running. Its pid is in .local/dev-$API_PORT.pid. Everything it writes is in .local/ or target/,
# which watch ignores (it ignores what .gitignore does), so nothing it writes triggers a reload.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check_api_port
PID_FILE=".local/dev-$API_PORT.pid"
echo "$$" >"$PID_FILE"
on_exit() { [[ "$(cat "$PID_FILE" 2>/dev/null)" != "$$" ]] || rm -f "$PID_FILE"; }

bash scripts/tools.sh
ddb_up
step "building"
# Every binary, then the first requests (and the seeding below) are fast. Without `-p`: that
# would resolve dependency features for one package alone, and build them again.
cargo build --workspace --bins
step "creating tables"
cargo run -q --bin create-tables
local_issuer
EVENTS_LOG=".local/logs/stream-events-$API_PORT.log"
step "order events: the orders table's stream to publish-order-events, events in ${LOCAL_EVENTS_FILE#"$ROOT"/} (log $EVENTS_LOG)"
: >"$EVENTS_LOG"
# The binary built above, run as it is (not through cargo), so that the signals reach it.
start_child "$EVENTS_LOG" "$CARGO_TARGET_DIR/debug/stream-events"
EVENTS_PID=$CHILD
if [[ -z "${AWS_ENDPOINT_URL_EVENTBRIDGE:-}" ]]; then
    wait_until 30 "$EVENTS_PID" grep -qs '^local EventBridge: ' "$EVENTS_LOG" ||
        { tail -n 20 "$EVENTS_LOG" >&2; die "the order events' local EventBridge did not start"; }
    # The functions' EventBridge client too (`cargo lambda invoke publish-order-events`).
    AWS_ENDPOINT_URL_EVENTBRIDGE="$(sed -n 's/^local EventBridge: //p' "$EVENTS_LOG" | head -n 1)"
    export AWS_ENDPOINT_URL_EVENTBRIDGE
fi
step "starting cargo lambda watch on $API_URL"
start_watch - "$@"

step "seeding the catalog (events/seed-catalog.json)"
# invoke's default address is ::1, so point it at the IPv4 address watch listens on. (Long flags
# only: in cargo-lambda 1.9.2 `invoke -A` means both --invoke-address and --data-ascii.)
cargo lambda invoke seed-catalog --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
    --data-file events/seed-catalog.json ||
    warn "seeding failed (the server keeps running; fix the code and it reloads)"
SWEEP_LOG=".local/logs/sweep-$API_PORT.log"
step "release-holds every ${HOLD_SWEEP_SECONDS}s, as EventBridge runs it in AWS (log $SWEEP_LOG)"
# `sleep & wait`: a SIGTERM ends the wait at once, and the trap stops the sleep too.
start_child "$SWEEP_LOG" bash -c 'trap "kill \$! 2>/dev/null; exit 0" TERM; while sleep "$0" & wait $!; do
    cargo lambda invoke release-holds --invoke-address 127.0.0.1 --invoke-port "$1" \
        --data-file events/release-holds.json; echo; done' "$HOLD_SWEEP_SECONDS" "$API_PORT"

printf '\n%sCart API running at %s%s  (DynamoDB Local: %s; AUTH_MODE=%s; CHECKOUT_POLICY=%s)\n$ curl %s/api/v1/items?limit=3\n' \
    "$C_BOLD" "$API_URL" "$C_OFF" "$DDB_URL" "$AUTH_MODE" "$CHECKOUT_POLICY" "$API_URL" >&2
curl -sS --max-time 120 "$API_URL/api/v1/items?limit=3" >&2 || warn "request failed"
if [[ "$AUTH_MODE" == jwt ]]; then
    printf '\n\nCart routes need a token: TOKEN=$(make -s token USER=alice)\n' >&2
    printf '  curl -X POST -H "Authorization: Bearer $TOKEN" %s/api/v1/cart/\n' "$API_URL" >&2
else
    printf '\n\niam mode: cart routes take user_id in the body or query, as the original API.\n' >&2
fi
printf '\nOrder events: tail -f %s\n' "${LOCAL_EVENTS_FILE#"$ROOT"/}" >&2
printf '\nEditing sources reloads the functions. Ctrl-C to stop.\n\n' >&2

# Returns when watch exits, or at once on a signal (whose trap exits; the cleanup stops the rest).
wait "$WATCH_PID" || die "cargo lambda watch exited (status $?)"
