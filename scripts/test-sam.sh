#!/usr/bin/env bash
# make test's SAM CLI step: template.yaml as SAM CLI runs it, every function in a Lambda
# container (Docker; images, binaries, the rendered template: scripts/sam-lib.sh), against the
# DynamoDB Local make test runs. Each check is a cargo-style `test ... ok` line, closed by a
# `test result:` line for test.sh's tally. Two parts:
#
# 1. `sam local invoke` answers what `cargo lambda invoke` answers. One walk through events/,
#    every function's own event file at least once, is run by each invoker on fresh tables of
#    its own: seed, list, admin create and update, a discount code, create the cart (then give it
#    the id the cart events name, as tests/tests/api/events.rs does), add, set, the code on the
#    cart, get, remove, purchase an empty cart, add, purchase, replay, get an order, list orders,
#    sweep. Both run the template's
#    environment as deployed (Authentication=jwt, no local keys, no unsigned requests: the
#    events carry the identity API Gateway passes on); cargo lambda watch gets exactly the
#    variables the rendered template gives the containers. Each pair of answers must agree in
#    status, headers and body, but for what differs by nature between two runs (the cart id
#    create-cart draws at random, moments in time, the runs' durations: see VOLATILE below).
# 2. `sam local start-api`, in iam mode with unsigned requests allowed (as make sam-local), serves
#    the README's tour over HTTP through the template's own routes, integrations and functions:
#    list, cart, add, purchase, replay (the same bytes, Idempotent-Replayed), the order, and an
#    unsigned admin request.
#
# Without Docker (no daemon, no permission) it fails, saying what is missing: make test is what
# proves the template runs under SAM CLI; .ci/run installs and starts Docker on a fresh machine.
# Logs and answers: .local/sam/test/.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/sam-lib.sh
source "$ROOT/scripts/sam-lib.sh"

PASSED=0 FAILED=0
result() {
    if [[ -z "$2" ]]; then PASSED=$((PASSED + 1)) && echo "test sam_local::$1 ... ok"
    else FAILED=$((FAILED + 1)) && echo "test sam_local::$1 ... FAILED: $2"; fi
}
on_exit() {
    sam_cleanup
    printf 'test result: %s. %d passed; %d failed\n' "$([[ $FAILED == 0 && $1 == 0 ]] && echo ok || echo FAILED)" "$PASSED" "$FAILED"
}
free_port() { local p="$1"; while port_open "$p"; do p=$((p + 1)); done; echo "$p"; }

OUT="$SAM_DIR/test"
rm -rf "$OUT" && mkdir -p "$OUT/cargo" "$OUT/sam"
sam_need_docker "make test runs every function under SAM CLI, in containers (scripts/test-sam.sh; .ci/run installs and starts Docker as root)"
ddb_up
cargo build -q --workspace --bins
sam_image
sam_binaries
sam_dynamodb
info "image $SAM_IMAGE ($SAM_IMAGE_KIND); the containers reach DynamoDB Local at $SAM_DDB_URL"

# --- 1. sam local invoke and cargo lambda invoke ----------------------------------------------
step "every function: sam local invoke against cargo lambda invoke, one walk through events/ each"
RUN="$(date +%s)-$$"
# tables PREFIX: the five tables' variables, named PREFIX-catalog, ...
tables() { echo "CATALOG_TABLE=$1-catalog CARTS_TABLE=$1-carts ORDERS_TABLE=$1-orders IDEMPOTENCY_TABLE=$1-idempotency DISCOUNTS_TABLE=$1-discounts"; }
read -ra CARGO_TABLES <<<"$(tables "sam-test-$RUN-cargo")"
read -ra SAM_TABLES <<<"$(tables "sam-test-$RUN-sam")"
env "${CARGO_TABLES[@]}" cargo run -q --bin create-tables >/dev/null
env "${SAM_TABLES[@]}" cargo run -q --bin create-tables >/dev/null

TEMPLATE="$OUT/template-jwt.json" ENV_VARS="$OUT/env-vars.json"
sam_render jwt "$TEMPLATE"
(export "${SAM_TABLES[@]}" && sam_env_vars "$ENV_VARS")
SAM_ARGS=(--env-vars "$ENV_VARS" --invoke-image "$SAM_IMAGE" --skip-pull-image)

# The variables every function gets from the rendered template, as SAM CLI resolves them
# (a parameter's value, or the --env-vars file's), for cargo lambda watch: NAME=VALUE lines.
template_env() {
    python3 - "$TEMPLATE" "$1" <<'EOF'
import json, sys
template, overrides = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["Parameters"]
parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
    if name in overrides:
        value = overrides[name]
    elif isinstance(value, dict):
        # A parameter's value; SAM CLI names the stack "local".
        value = {"AWS::StackName": "local"}.get(value["Ref"]) or parameters[value["Ref"]]
    print(f"{name}={value}")
EOF
}
(export "${CARGO_TABLES[@]}" && sam_env_vars "$OUT/env-vars-cargo.json")
mapfile -t WATCH_ENV < <(template_env "$OUT/env-vars-cargo.json" | grep -v '^RUST_LOG=' |
    sed "s|^AWS_ENDPOINT_URL_DYNAMODB=.*|AWS_ENDPOINT_URL_DYNAMODB=$DDB_URL|")
WATCH_ENV+=("CURSOR_SECRET=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["Parameters"]["CURSOR_SECRET"])' "$ENV_VARS")")
printf "RUST_LOG='%s'\n" "$(template_env "$ENV_VARS" | sed -n 's/^RUST_LOG=//p')" >"$OUT/watch.env"
printf '%s\n' "${WATCH_ENV[@]}" >"$OUT/watch-environment"
WATCH_PORT="$(free_port $((API_PORT + 20)))"
# No local keys, no unsigned requests, as the template: only its variables on top of this
# environment's (the dummy AWS credentials and region, which SAM CLI gives the containers too).
start_child "$OUT/watch.log" env -u LOCAL_JWKS_FILE -u ALLOW_UNSIGNED_REQUESTS -u JWT_ISSUER -u JWT_AUDIENCE \
    -u RUST_LOG "${WATCH_ENV[@]}" cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$WATCH_PORT" \
    --ignore-changes --env-file "$OUT/watch.env"
WATCH_PID=$CHILD
wait_until 60 "$WATCH_PID" port_open "$WATCH_PORT" || { tail -n 20 "$OUT/watch.log" >&2; die "cargo lambda watch did not start"; }
set +e # from here on, every failure is reported as a test's

# give_cart TABLES...: the events' user's cart takes the id the cart events name (its token is
# the random half of the id, the user the other; no API sets it), as events.rs does.
give_cart() {
    python3 - "$DDB_URL" "$(printf '%s\n' "$@" | sed -n 's/^CARTS_TABLE=//p')" events/get-cart.json <<'EOF'
import base64, json, sys, urllib.request, uuid
url, table, event = sys.argv[1:]
cart = json.load(open(event))["pathParameters"]["cart_id"]
raw = base64.urlsafe_b64decode(cart + "=" * (-len(cart) % 4))
body = {"TableName": table, "Key": {"user_id": {"S": raw[16:].decode()}},
        "UpdateExpression": "SET cart_token = :token", "ConditionExpression": "attribute_exists(user_id)",
        "ExpressionAttributeValues": {":token": {"S": str(uuid.UUID(bytes=raw[:16]))}}}
urllib.request.urlopen(urllib.request.Request(url, json.dumps(body).encode(), {
    "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.UpdateItem",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"}))
EOF
}

# The walk: function binaries in order, `give-cart` the one storage step.
WALK=(seed-catalog list-items admin-create-item admin-update-item admin-discounts create-cart give-cart
    add-cart-item set-cart-item cart-discount get-cart remove-cart-item purchase-cart add-cart-item purchase-cart
    purchase-cart get-order list-orders admin-order-payment admin-fulfil-order cancel-order admin-cancel-order stripe-webhook
    guest-create-cart guest-get-cart guest-add-cart-item guest-set-cart-item guest-remove-cart-item merge-cart
    release-holds)
declare -A IDS
while read -r id binary; do IDS[$binary]=$id; done < <(sam_functions)

# walk INVOKER: each step's answer in $OUT/INVOKER/NN-<binary>.json.
walk() {
    local n=0 binary answer
    for binary in "${WALK[@]}"; do
        if [[ "$binary" == give-cart ]]; then
            if [[ "$1" == cargo ]]; then give_cart "${CARGO_TABLES[@]}"; else give_cart "${SAM_TABLES[@]}"; fi ||
                { result "walk_$1" "could not give the cart the events' id"; return 1; }
            continue
        fi
        n=$((n + 1))
        if [[ "$1" == cargo ]]; then
            answer="$(cargo lambda invoke "$binary" --data-file "events/$binary.json" --invoke-address 127.0.0.1 \
                --invoke-port "$WATCH_PORT" --output-format json 2>>"$OUT/cargo-invoke.log")"
        else
            answer="$(sam_cli local invoke "${IDS[$binary]}" --template "$TEMPLATE" --event "events/$binary.json" \
                "${SAM_ARGS[@]}" 2>>"$OUT/sam-invoke.log")"
        fi
        printf '%s\n' "$answer" >"$OUT/$1/$(printf %02d $n)-$binary.json"
    done
}
START=$SECONDS
walk cargo
info "cargo lambda invoke: $(find "$OUT/cargo" -name '*.json' | wc -l) invocations in $(fmt_duration $((SECONDS - START)))"
START=$SECONDS
walk sam
info "sam local invoke: $(find "$OUT/sam" -name '*.json' | wc -l) invocations in $(fmt_duration $((SECONDS - START)))"

# VOLATILE: what two runs of the same walk answer differently by nature, and only that.
# - `elapsed_ms` (seed-catalog, release-holds): the run's duration.
# - a cart id other than the events' own, i.e. the one create-cart answers: its token is drawn
#   at random (the cart events then use the events' id, compared exactly); its owner half is
#   compared.
# - a guest's cart id, id and `guest_token` (guest-create-cart makes a new guest each time; the guest
#   events name the events' own guest, whose cart this walk does not make: both invokers answer
#   them 404 alike).
# - `created_at`, an order's creation time, and under CHECKOUT_POLICY=hold `held_until`, when a
#   line's hold ends: moments, to the second (each must be an RFC 3339 UTC timestamp).
# Everything else must be equal: status, headers (ETag, Idempotent-Replayed, ...), cookies,
# the body as JSON (versions, totals, ids, cursors, the order id derived from the key).
# compare: one line per step: NAME<TAB>CARGO_STATUS<TAB>SAM_STATUS<TAB>DIFFERENCE (empty if none).
compare() {
    python3 - "$OUT" events/get-cart.json <<'EOF'
import base64, json, os, re, sys
out, event = sys.argv[1:]
fixed_cart = json.load(open(event))["pathParameters"]["cart_id"]

def owner(cart_id):
    raw = base64.urlsafe_b64decode(cart_id + "=" * (-len(cart_id) % 4))
    return raw[16:].decode()

def mask(value, key=None, parent=None):
    if isinstance(value, dict):
        return {k: mask(v, k, key) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key, parent) for v in value]
    if key == "elapsed_ms" and isinstance(value, int):
        return "<elapsed_ms>"
    if key in ("created_at", "held_until") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(value)):
        return f"<{key}>"
    if key == "guest_token":
        return "<guest_token>"
    if key == "user_id" and str(value).startswith("guest:"):
        return "<a new guest>"
    if ((parent == "cart" and key == "id") or key == "cart_id") and value != fixed_cart:
        if owner(value).startswith("guest:"):
            return "<a guest's cart id>"
        return f"<a cart id of {owner(value)}>"
    return value

def load(path):
    text = open(path).read().strip()
    if not text:
        return None, "no answer"
    try:
        answer = json.loads(text)
    except ValueError:
        return None, f"not JSON: {text[:200]}"
    if isinstance(answer, dict) and isinstance(answer.get("body"), str):
        try:
            answer["body"] = json.loads(answer["body"])
        except ValueError:
            pass
    return answer, None

for name in sorted(os.listdir(f"{out}/cargo")):
    (cargo, cargo_error), (sam, sam_error) = load(f"{out}/cargo/{name}"), load(f"{out}/sam/{name}")
    status = lambda a: str(a.get("statusCode", "(summary)")) if isinstance(a, dict) else "-"
    if cargo_error or sam_error:
        difference = f"cargo lambda invoke: {cargo_error or 'ok'}; sam local invoke: {sam_error or 'ok'}"
    elif mask(cargo) != mask(sam):
        difference = f"cargo lambda invoke {json.dumps(mask(cargo))} != sam local invoke {json.dumps(mask(sam))}"
    else:
        difference = ""
    print(f"{name[:-5]}\t{status(cargo)}\t{status(sam)}\t{difference}")
EOF
}
printf '%-22s %-14s %-14s %s\n' STEP "CARGO LAMBDA" "SAM LOCAL" SAME >"$OUT/table"
while IFS=$'\t' read -r name cargo sam difference; do
    result "invoke_${name//-/_}" "$difference"
    printf '%-22s %-14s %-14s %s\n' "$name" "$cargo" "$sam" "$([[ -z $difference ]] && echo yes || echo NO)" >>"$OUT/table"
done < <(compare)
cat "$OUT/table" >&2

# --- 2. sam local start-api: the README's tour ------------------------------------------------
step "sam local start-api (iam mode, as make sam-local): the README's tour over HTTP"
TEMPLATE="$OUT/template-iam.json"
sam_render iam "$TEMPLATE" ALLOW_UNSIGNED_REQUESTS=true
PORT="$(free_port $((API_PORT + 30)))" API="http://127.0.0.1:$PORT"
START=$SECONDS
start_child "$OUT/start-api.log" "${SAM_CLI[@]}" local start-api --template "$TEMPLATE" "${SAM_ARGS[@]}" \
    --host 127.0.0.1 --port "$PORT" --warm-containers LAZY
SAM_PID=$CHILD
wait_until 120 "$SAM_PID" port_open "$PORT" || { tail -n 30 "$OUT/start-api.log" >&2; die "sam local start-api did not start on $API"; }

# call NAME METHOD PATH [BODY [HEADER]]: one request; its status, headers and body in $OUT/tour/NAME.*
mkdir -p "$OUT/tour"
call() {
    local args=(-s --max-time 60 -o "$OUT/tour/$1.body" -D "$OUT/tour/$1.headers" -w '%{http_code}' -X "$2" "$API$3")
    [[ -z "${4:-}" ]] || args+=(-H 'Content-Type: application/json' -d "$4")
    [[ -z "${5:-}" ]] || args+=(-H "$5")
    curl "${args[@]}" >"$OUT/tour/$1.status" || echo 000 >"$OUT/tour/$1.status"
}
status() { cat "$OUT/tour/$1.status"; }
# json NAME EXPRESSION: a Python expression over the answer's body `b`, printed.
json() { python3 -c 'import json, sys; b = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT/tour/$1.body" "$2" 2>/dev/null; }
header() { tr -d '\r' <"$OUT/tour/$1.headers" | awk -v h="$2" 'tolower($1) == tolower(h) ":" { print $2 }'; }
answer() {
    echo "$(status "$1")${2:+ ($2: $(header "$1" "$2"))} $(head -c 300 "$OUT/tour/$1.body" 2>/dev/null)"
}
# verdict NAME CALL STATUS [HEADER]: test NAME passed if STATUS is 0, else failed with CALL's answer.
verdict() { if (($3 == 0)); then result "$1" ""; else result "$1" "$(answer "$2" "${4:-}")"; fi; }

# SAM CLI mounts exactly the template's routes, each on the function its integration names.
MOUNTED="$(python3 - "$TEMPLATE" "$OUT/start-api.log" <<'EOF'
import json, re, sys
resources = json.load(open(sys.argv[1]))["Resources"]
expected = set()
for route in (r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"):
    integration = route["Target"]["Fn::Sub"].removeprefix("integrations/${").removesuffix("}")
    function = resources[integration]["Properties"]["IntegrationUri"]["Fn::GetAtt"][0]
    expected.add(f'{route["RouteKey"]} -> {function}')
mounted = set()
for function, path, methods in re.findall(r"Mounting (\w+) at https?://[^/]+(\S*) \[([A-Z, ]+)\]", open(sys.argv[2]).read()):
    mounted |= {f"{m} {path} -> {function}" for m in methods.split(", ") if m != "OPTIONS"}
if mounted != expected:
    print(f"missing: {sorted(expected - mounted)}; not in the template: {sorted(mounted - expected)}")
EOF
)"
result start_api_mounts_exactly_the_templates_routes "$MOUNTED"

USER_ID="sam-tour-$RUN" KEY="$(python3 -c 'import uuid; print(uuid.uuid4())')"
call list GET "/api/v1/items?min_value=500&max_value=1000&limit=3"
[[ "$(status list)" == 200 && "$(json list 'len(b["items"]) == 3 and all(500 <= i["price"] <= 1000 for i in b["items"])')" == True ]]
verdict tour_list_items list $?

call cart POST /api/v1/cart/ "{\"user_id\": \"$USER_ID\"}"
CART="$(json cart 'b["cart"]["id"]')"
[[ "$(status cart)" == 201 && "$(json cart 'b["cart"]["user_id"]')" == "$USER_ID" ]]
verdict tour_create_cart cart $?

call add POST "/api/v1/cart/$CART/items" "{\"user_id\": \"$USER_ID\", \"item_id\": 1, \"quantity\": 2}"
[[ "$(status add)" == 200 && "$(json add '[(l["item_id"], l["quantity"]) for l in b["cart"]["lines"]]')" == "[(1, 2)]" ]]
verdict tour_add_to_cart add $?

call purchase POST "/api/v1/cart/$CART/purchase" "{\"user_id\": \"$USER_ID\"}" "Idempotency-Key: $KEY"
ORDER="$(json purchase 'b["order"]["id"]')"
[[ "$(status purchase)" == 200 && "$(json purchase 'b["order"]["total"] == 2 * b["order"]["lines"][0]["unit_price"]')" == True &&
    -z "$(header purchase idempotent-replayed)" ]]
verdict tour_purchase purchase $?

call replay POST "/api/v1/cart/$CART/purchase" "{\"user_id\": \"$USER_ID\"}" "Idempotency-Key: $KEY"
[[ "$(status replay)" == 200 && "$(header replay idempotent-replayed)" == true ]] &&
    cmp -s "$OUT/tour/purchase.body" "$OUT/tour/replay.body"
verdict tour_replay_same_bytes replay $? idempotent-replayed

call order GET "/api/v1/orders/$ORDER?user_id=$USER_ID"
[[ "$(status order)" == 200 && "$(json order 'json.dumps(b["order"], sort_keys=True)')" == "$(json purchase 'json.dumps(b["order"], sort_keys=True)')" ]]
verdict tour_order order $?

# iam mode locally: an admin route answers an unsigned request (ALLOW_UNSIGNED_REQUESTS).
call admin POST /api/v1/admin/items '{"name": "Tea - Earl Grey", "price": 450, "quantity": 30}'
[[ "$(status admin)" == 201 ]]
verdict tour_unsigned_admin_request admin $?

# A route the template does not have reaches no function.
call unrouted GET /api/v1/nowhere
[[ "$(status unrouted)" =~ ^40[34]$ ]]
verdict tour_unknown_route_is_not_served unrouted $?
info "start-api: started and toured in $(fmt_duration $((SECONDS - START)))"
if ((FAILED)); then tail -n 40 "$OUT/start-api.log" >&2; fi
((FAILED == 0)) || die "$FAILED SAM CLI checks failed (answers and logs in ${OUT#"$ROOT"/})"
info "$PASSED checks passed in $(fmt_duration $SECONDS)"
