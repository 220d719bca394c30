#!/usr/bin/env bash
# `make sam-local`: `sam local start-api` on template.yaml's own routes, integrations and
# functions, each request run in a Lambda container, on $API_URL, against DynamoDB Local (the
# tables created and the catalog seeded, by `sam local invoke SeedCatalogFunction`), as
# `make dev` serves it but through SAM CLI instead of cargo lambda watch. Authentication
# (SAM_AUTHENTICATION): iam by default, cart routes taking user_id from the request and admin
# routes accepting unsigned requests (ALLOW_UNSIGNED_REQUESTS, as make dev); jwt: bearer
# tokens of the local issuer (`make token`), verified by the functions (SAM CLI does not emulate
# JWT authorizers). CHECKOUT_POLICY, HOLD_SECONDS, MAX_HELD_PER_ITEM and CART_IDLE_DAYS become
# the template's parameters. No hot reload: run it again after a change. Ctrl-C stops it and
# its containers. Images, binaries, the rendered template: scripts/sam-lib.sh. Extra arguments go
# to sam local start-api.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/sam-lib.sh
source "$ROOT/scripts/sam-lib.sh"
on_exit() { sam_cleanup; }

MODE="${SAM_AUTHENTICATION:-iam}"
[[ "$MODE" == jwt || "$MODE" == iam ]] || die "SAM_AUTHENTICATION must be iam or jwt (got '$MODE')"
check_api_port
bash scripts/tools.sh python
bash scripts/tools.sh dynamodb
sam_need_docker
ddb_up
step "building"
cargo build --workspace --bins
step "creating tables"
cargo run -q --bin create-tables

step "the Lambda image and the functions' code"
sam_image
sam_binaries
sam_dynamodb
EXTRA=()
if [[ "$MODE" == iam ]]; then
    EXTRA=(ALLOW_UNSIGNED_REQUESTS=true)
else
    cargo run -q --bin token -- --keys
    for dir in "$SAM_CODE_DIR"/*/; do cp "$JWT_KEY_DIR/jwks.json" "$dir/jwks.json"; done
    EXTRA=(LOCAL_JWKS_FILE=/var/task/jwks.json "JWT_ISSUER=$JWT_ISSUER" "JWT_AUDIENCE=$JWT_AUDIENCE")
fi
TEMPLATE="$SAM_DIR/template-$MODE.json" ENV_VARS="$SAM_DIR/env-vars.json"
sam_render "$MODE" "$TEMPLATE" "${EXTRA[@]}"
sam_env_vars "$ENV_VARS"
SAM_ARGS=(--template "$TEMPLATE" --env-vars "$ENV_VARS" --invoke-image "$SAM_IMAGE" --skip-pull-image)
info "image $SAM_IMAGE ($SAM_IMAGE_KIND), template ${TEMPLATE#"$ROOT"/}, DynamoDB for the containers $SAM_DDB_URL"

step "seeding the catalog (sam local invoke SeedCatalogFunction -e events/seed-catalog.json)"
sam_cli local invoke SeedCatalogFunction --event events/seed-catalog.json "${SAM_ARGS[@]}" ||
    warn "seeding failed"

step "sam local start-api on $API_URL"
# Warm containers, started on a route's first request and kept: later requests skip the cold start.
start_child - "${SAM_CLI[@]}" local start-api "${SAM_ARGS[@]}" --host 127.0.0.1 --port "$API_PORT" \
    --warm-containers LAZY "$@"
SAM_PID=$CHILD
wait_until 120 "$SAM_PID" port_open "$API_PORT" || die "sam local start-api did not start listening on $API_URL"

printf '\n%sCart API (sam local start-api) running at %s%s  (Authentication=%s; CHECKOUT_POLICY=%s; image %s)\n$ curl %s/api/v1/items?limit=3\n' \
    "$C_BOLD" "$API_URL" "$C_OFF" "$MODE" "$CHECKOUT_POLICY" "$SAM_IMAGE" "$API_URL" >&2
curl -sS --max-time 120 "$API_URL/api/v1/items?limit=3" >&2 || warn "request failed"
if [[ "$MODE" == iam ]]; then
    printf '\n\niam mode: cart routes take user_id in the body or query; admin routes need no signature here.\n' >&2
else
    # shellcheck disable=SC2016 # printed as it is to be typed
    printf '\n\nCart routes need a token: TOKEN=$(make -s token USER=alice)\n' >&2
fi
printf 'Ctrl-C to stop.\n\n' >&2
wait "$SAM_PID" || die "sam local start-api exited (status $?)"
