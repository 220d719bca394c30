#!/usr/bin/env bash
# `make dev`: DynamoDB Local, the tables, the functions built, `cargo lambda watch` serving the API
# on $API_URL with hot reload, and the catalog seeded. Extra arguments go to cargo lambda watch
# (e.g. `bash scripts/dev.sh --release`). However it is stopped (Ctrl-C; SIGTERM or SIGHUP to its
# process group; SIGTERM to make), it stops what it started (see lib.sh); a DynamoDB Local that
# was already running is left alone. Its pid is in .local/dev-$API_PORT.pid while it runs.
#
# Hot reload: cargo lambda watch ignores what .gitignore ignores (and .cargolambdaignore); it has
# no --ignore flag. Everything written here goes to .local/ or target/, both git-ignored, so
# writing them never triggers a rebuild.
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
step "starting cargo lambda watch on $API_URL"
start_watch - "$@"

step "seeding the catalog (events/seed-catalog.json)"
# invoke's default address is ::1, so point it at the IPv4 address watch listens on. (Long flags
# only: in cargo-lambda 1.9.2 `invoke -A` means both --invoke-address and --data-ascii.)
cargo lambda invoke seed-catalog --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
    --data-file events/seed-catalog.json ||
    warn "seeding failed (the server keeps running; fix the code and it reloads)"

printf '\n%sCart API running at %s%s  (DynamoDB Local: %s; AUTH_MODE=%s)\n$ curl %s/api/v1/items?limit=3\n' \
    "$C_BOLD" "$API_URL" "$C_OFF" "$DDB_URL" "$AUTH_MODE" "$API_URL" >&2
curl -sS --max-time 120 "$API_URL/api/v1/items?limit=3" >&2 || warn "request failed"
if [[ "$AUTH_MODE" == jwt ]]; then
    printf '\n\nCart routes need a token: TOKEN=$(make -s token USER=alice)\n' >&2
    printf '  curl -X POST -H "Authorization: Bearer $TOKEN" %s/api/v1/cart/\n' "$API_URL" >&2
else
    printf '\n\niam mode: cart routes take user_id in the body or query, as the original API.\n' >&2
fi
printf '\nEditing sources reloads the functions. Ctrl-C to stop.\n\n' >&2

# Returns when watch exits, or at once on a signal (whose trap exits; the cleanup stops the rest).
wait "$WATCH_PID" || die "cargo lambda watch exited (status $?)"
