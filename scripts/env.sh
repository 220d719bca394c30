# shellcheck shell=bash
# Common environment for every script and Makefile recipe. Source it, don't run it:
#
#     source scripts/env.sh
#
# Every variable is only given a default when it is not already set, so anything can be
# overridden from the calling shell (e.g. `DYNAMODB_LOCAL_PORT=8001 make test`).
#
# The AWS settings below point the code at DynamoDB Local with dummy credentials. For commands
# that talk to real AWS (`make deploy`), set CART_API_REAL_AWS=1 before sourcing: the dummy
# credentials, the DynamoDB endpoint override and the region default are then left out, so your
# own profile / SSO session / environment is what the AWS tools see.

# Repository root (a shell variable for the scripts; not exported).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# --- DynamoDB Local and the local API ------------------------------------------------------
: "${DYNAMODB_LOCAL_PORT:=8000}"; export DYNAMODB_LOCAL_PORT
: "${API_PORT:=9000}"; export API_PORT
: "${API_URL:=http://127.0.0.1:$API_PORT}"; export API_URL

# --- AWS (local defaults) ------------------------------------------------------------------
if [[ "${CART_API_REAL_AWS:-0}" != 1 ]]; then
    : "${AWS_ENDPOINT_URL_DYNAMODB:=http://127.0.0.1:$DYNAMODB_LOCAL_PORT}"; export AWS_ENDPOINT_URL_DYNAMODB
    : "${AWS_REGION:=us-east-1}"; export AWS_REGION
    : "${AWS_DEFAULT_REGION:=$AWS_REGION}"; export AWS_DEFAULT_REGION
    : "${AWS_ACCESS_KEY_ID:=local}"; export AWS_ACCESS_KEY_ID
    : "${AWS_SECRET_ACCESS_KEY:=local}"; export AWS_SECRET_ACCESS_KEY
fi

# --- Application configuration -------------------------------------------------------------
: "${CATALOG_TABLE:=cart-api-catalog}"; export CATALOG_TABLE
: "${CARTS_TABLE:=cart-api-carts}"; export CARTS_TABLE
: "${ORDERS_TABLE:=cart-api-orders}"; export ORDERS_TABLE
: "${IDEMPOTENCY_TABLE:=cart-api-idempotency}"; export IDEMPOTENCY_TABLE
: "${ALLOW_UNAUTHENTICATED_ADMIN:=true}"; export ALLOW_UNAUTHENTICATED_ADMIN
: "${CURSOR_SECRET:=local-development-cursor-secret}"; export CURSOR_SECRET
: "${RUST_LOG:=info}"; export RUST_LOG

# --- Toolchain -----------------------------------------------------------------------------
: "${CARGO_TARGET_DIR:=$ROOT/target}"; export CARGO_TARGET_DIR
# No usage reporting from the SAM CLI (its opt-out is this variable).
: "${SAM_CLI_TELEMETRY:=0}"; export SAM_CLI_TELEMETRY

# The project venv (sam, cargo-lambda, ziglang) must come first on PATH: cargo-lambda looks for
# zig with `python3 -m ziglang`, so `python3` has to be the venv's. Moved to the front even if
# it is already somewhere else on PATH; never added twice.
_cart_api_path=":$PATH:"
_cart_api_path="${_cart_api_path//:$ROOT\/.venv\/bin:/:}"
_cart_api_path="${_cart_api_path#:}"
_cart_api_path="${_cart_api_path%:}"
PATH="$ROOT/.venv/bin${_cart_api_path:+:$_cart_api_path}"
# rustup installs into ~/.cargo/bin; a fresh login shell may not have it on PATH yet.
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"
fi
export PATH
unset _cart_api_path
