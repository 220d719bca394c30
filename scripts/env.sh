# shellcheck shell=bash
# The environment of every script and recipe (scripts get it through lib.sh); safe to source in a
# shell. A variable only gets its local default when unset (`DYNAMODB_LOCAL_PORT=8001 make test`).
# With CART_API_REAL_AWS=1 (`make deploy`) the dummy credentials, region and DynamoDB endpoint are
# left out, so the AWS tools see your own profile / SSO session / environment.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" # not exported

: "${DYNAMODB_LOCAL_PORT:=8000}"; export DYNAMODB_LOCAL_PORT
: "${API_PORT:=9000}"; export API_PORT
: "${API_URL:=http://127.0.0.1:$API_PORT}"; export API_URL

if [[ "${CART_API_REAL_AWS:-0}" != 1 ]]; then
    : "${AWS_ENDPOINT_URL_DYNAMODB:=http://127.0.0.1:$DYNAMODB_LOCAL_PORT}"; export AWS_ENDPOINT_URL_DYNAMODB
    : "${AWS_REGION:=us-east-1}"; export AWS_REGION
    : "${AWS_DEFAULT_REGION:=$AWS_REGION}"; export AWS_DEFAULT_REGION
    : "${AWS_ACCESS_KEY_ID:=local}"; export AWS_ACCESS_KEY_ID
    : "${AWS_SECRET_ACCESS_KEY:=local}"; export AWS_SECRET_ACCESS_KEY
fi

: "${CATALOG_TABLE:=cart-api-catalog}"; export CATALOG_TABLE
: "${CARTS_TABLE:=cart-api-carts}"; export CARTS_TABLE
: "${ORDERS_TABLE:=cart-api-orders}"; export ORDERS_TABLE
: "${IDEMPOTENCY_TABLE:=cart-api-idempotency}"; export IDEMPOTENCY_TABLE
: "${DISCOUNTS_TABLE:=cart-api-discounts}"; export DISCOUNTS_TABLE
# The checkout policy (latest | hold; HOLD_SECONDS, MAX_HOLD_SECONDS (0 or unset: twice
# HOLD_SECONDS), MAX_HELD_PER_ITEM, CART_IDLE_DAYS, and a guest's MAX_GUEST_HELD_PER_ITEM (2) and
# GUEST_CART_IDLE_HOURS (72) keep the functions' defaults unless set), and how often make dev
# runs the sweep of ended holds.
: "${CHECKOUT_POLICY:=latest}"; export CHECKOUT_POLICY
# Whether orders wait for a payment (none | external; PAYMENT_WINDOW_SECONDS keeps the functions'
# 900 unless set). The sweep below also expires the orders nobody paid in time.
: "${PAYMENT_MODE:=none}"; export PAYMENT_MODE
: "${HOLD_SWEEP_SECONDS:=60}"; export HOLD_SWEEP_SECONDS
# Who the cart routes act for (jwt: a bearer token's sub; iam: the user_id the request names).
# In jwt mode the functions verify tokens against the local issuer's JWKS (`make token` mints
# them), which lib.sh makes on first use; IAM routes accept unsigned requests (there is no IAM
# locally). Neither LOCAL_JWKS_FILE nor ALLOW_UNSIGNED_REQUESTS is ever set in AWS.
: "${AUTH_MODE:=jwt}"; export AUTH_MODE
: "${JWT_ISSUER:=cart-api-local}"; export JWT_ISSUER
: "${JWT_AUDIENCE:=cart-api}"; export JWT_AUDIENCE
: "${JWT_KEY_DIR:=$ROOT/.local/jwt}"; export JWT_KEY_DIR
if [[ "$AUTH_MODE" == jwt ]]; then
    : "${LOCAL_JWKS_FILE:=$JWT_KEY_DIR/jwks.json}"; export LOCAL_JWKS_FILE
fi
: "${ALLOW_UNSIGNED_REQUESTS:=true}"; export ALLOW_UNSIGNED_REQUESTS
# ADMIN_PRINCIPALS (unset: any caller of the admin routes; an unsigned local call is
# `local-admin`) is the template's AdminPrincipals allow-list.
# The key of the listing and order cursors. In AWS the two functions that sign cursors read the
# stack's generated secret instead (CURSOR_SECRET_ARN); with neither they refuse to start.
: "${CURSOR_SECRET:=local-development-cursor-secret}"; export CURSOR_SECRET
# The Stripe webhook's signing secret (the template's StripeWebhookSecret parameter, which only
# stripe-webhook gets). Locally, one anyone may know, so that the webhook verifies (and refuses
# with 400 what is not signed with it) rather than answering 503; to forward real test-mode events,
# set the whsec_ secret `stripe listen --forward-to $API_URL/api/v1/webhooks/stripe` prints.
: "${STRIPE_WEBHOOK_SECRET:=whsec_local-development-secret}"; export STRIPE_WEBHOOK_SECRET
# The order events: the bus and source the publisher names (the template passes the stack's bus and
# its EventSource parameter), and the file make dev's local stand-in for EventBridge appends every
# event to, one JSON line each (with AWS_ENDPOINT_URL_EVENTBRIDGE set, events go there instead).
: "${EVENT_BUS_NAME:=cart-api-orders}"; export EVENT_BUS_NAME
: "${EVENT_SOURCE:=cart-api}"; export EVENT_SOURCE
: "${LOCAL_EVENTS_FILE:=$ROOT/.local/events/order-events.jsonl}"; export LOCAL_EVENTS_FILE
: "${RUST_LOG:=info}"; export RUST_LOG

: "${CARGO_TARGET_DIR:=$ROOT/target}"; export CARGO_TARGET_DIR
: "${SAM_CLI_TELEMETRY:=0}"; export SAM_CLI_TELEMETRY # the SAM CLI's usage reporting, off

# The venv first on PATH, once: cargo-lambda finds zig with `python3 -m ziglang`, so `python3`
# must be the venv's. rustup's ~/.cargo/bin is added if a fresh login shell lacks it.
PATH=":$PATH:"
PATH="${PATH//:$ROOT\/.venv\/bin:/:}"
PATH="$ROOT/.venv/bin:${PATH:1:${#PATH}-2}"
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
fi
export PATH
