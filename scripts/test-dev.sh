#!/usr/bin/env bash
# `make dev` stops everything it started, however it is stopped (run by `make test`, or alone):
# `setsid make dev`, as a supervisor starts it, on free ports of its own (so with a DynamoDB Local
# of its own), stopped once it serves by SIGINT, SIGTERM or SIGHUP to its process group, or
# SIGTERM to make alone. Then make must exit within 30 s, both ports be free, and no process be
# left whose environment carries that API_PORT (every process make dev starts inherits it). Also
# checked: a second `make dev` names the running one; each run serves its AUTH_MODE over HTTP
# (jwt: `make token`'s token accepted, none a 401; iam: the body names the user); under
# CHECKOUT_POLICY=hold a held unit leaves the listing and its sweep brings it back; a purchase's
# OrderPlaced reaches the run's own events file (LOCAL_EVENTS_FILE) within 5 s. Ends with a
# cargo-style `test result:` line for test.sh's tally. Logs: .local/logs/test-dev-*.log.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
set +e # every failure is reported as a test's

free_port() { local p="$1"; while port_open "$p"; do p=$((p + 1)); done; echo "$p"; }
PORT="$(free_port $((API_PORT + 1)))"
DDB_PORT="$(free_port $((DYNAMODB_LOCAL_PORT + 1)))"
# The order events of these runs in a file of their own, not the developer's.
EVENTS=".local/events/test-dev-$PORT.jsonl"
rm -f "${EVENTS%.jsonl}".*
DEV_ENV=(env -u API_URL -u AWS_ENDPOINT_URL_DYNAMODB -u AWS_ENDPOINT_URL_EVENTBRIDGE API_PORT="$PORT"
    DYNAMODB_LOCAL_PORT="$DDB_PORT" LOCAL_EVENTS_FILE="$ROOT/$EVENTS")
MAKE_PID='' PASSED=0 FAILED=0

leftovers() { grep -lsxz "API_PORT=$PORT" /proc/[0-9]*/environ | cut -d/ -f3; }
none_left() { [[ -z "$(leftovers)" ]] && ! port_open "$PORT" && ! port_open "$DDB_PORT"; }
kill_all() {
    kill -KILL -- "-$MAKE_PID" 2>/dev/null
    # shellcheck disable=SC2046 # one pid a line
    kill -KILL $(leftovers) 2>/dev/null
    wait_until 10 "" none_left
}
on_exit() { [[ -z "$MAKE_PID" ]] || kill_all; }

result() {
    if [[ -z "$2" ]]; then PASSED=$((PASSED + 1)) && echo "test make_dev::$1 ... ok"
    else FAILED=$((FAILED + 1)) && echo "test make_dev::$1 ... FAILED: $2"; fi
}

# status METHOD PATH [CURL ARGS]: the HTTP status of a request to the make dev under test.
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 30 -X "$1" "http://127.0.0.1:$PORT$2" "${@:3}"; }

# serves MODE: empty if the API answers as AUTH_MODE=MODE should, else what it answered.
serves() {
    local ok no
    if [[ "$1" == jwt ]]; then
        ok="$(status POST /api/v1/cart/ -H "Authorization: Bearer $(make -s token USER=test-dev-user)")"
        no="$(status POST /api/v1/cart/)"
    else
        ok="$(status POST /api/v1/cart/ -d '{"user_id": 42}')" no="$(status POST /api/v1/cart/ -d '{}')"
    fi
    [[ "$ok" =~ ^20[01]$ && "$no" == "$([[ $1 == jwt ]] && echo 401 || echo 400)" ]] ||
        echo "$1 mode: the user's cart $ok, no user's $no"
}

# The listing's quantity of item $1 (any in stock when no id is given: "ID QUANTITY").
listed() {
    curl -s --max-time 30 "http://127.0.0.1:$PORT/api/v1/items?limit=200" | python3 -c 'import json, sys
items = [i for i in json.load(sys.stdin)["items"] if i["id"] == int(sys.argv[1] or 0) or not sys.argv[1] and i["quantity"]]
print(items[0]["id"], items[0]["quantity"])' "${1:-}"
}
# Under hold (2 s holds, swept every second), a unit added leaves the listing and comes back.
hold_comes_back() {
    local auth=(-H "Authorization: Bearer $(make -s token USER=test-dev-holder)") cart item before held now
    cart="$(curl -s -X POST "${auth[@]}" "http://127.0.0.1:$PORT/api/v1/cart/" | python3 -c 'import json, sys
print(json.load(sys.stdin)["cart"]["id"])')"
    read -r item before < <(listed)
    status POST "/api/v1/cart/$cart/items" "${auth[@]}" -d "{\"item_id\": $item, \"quantity\": 1}" >/dev/null
    held="$(listed "$item")" && sleep 5 && now="$(listed "$item")"
    [[ "$held" == "$item $((before - 1))" && "$now" == "$item $before" ]] ||
        echo "hold: item $item listed $before, then $held while held, then $now"
}

# An order's OrderPlaced is in the events file.
placed() {
    python3 -c 'import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(not any(e["detail-type"] == "OrderPlaced" and e["detail"]["order"]["id"] == sys.argv[2] for e in lines))' "$EVENTS" "$1" 2>/dev/null
}
# A purchase (jwt mode) is published: its OrderPlaced in the run's events file within 5 s.
events_flow() {
    local auth=(-H "Authorization: Bearer $(make -s token USER=test-dev-buyer)") cart item order
    cart="$(curl -s -X POST "${auth[@]}" "http://127.0.0.1:$PORT/api/v1/cart/" | python3 -c 'import json, sys
print(json.load(sys.stdin)["cart"]["id"])')"
    read -r item _ < <(listed)
    status POST "/api/v1/cart/$cart/items" "${auth[@]}" -d "{\"item_id\": $item, \"quantity\": 1}" >/dev/null
    order="$(curl -s -X POST "${auth[@]}" -H "Idempotency-Key: test-dev-$$-$SECONDS" \
        "http://127.0.0.1:$PORT/api/v1/cart/$cart/purchase" | python3 -c 'import json, sys
print(json.load(sys.stdin)["order"]["id"])')"
    wait_until 5 "" placed "$order" || echo "events: no OrderPlaced of order ${order:-(none bought)} in $EVENTS"
}

# check NAME SIGNAL TARGET MODE [POLICY]: make dev started with AUTH_MODE=MODE (and
# CHECKOUT_POLICY=POLICY), then stopped with SIGNAL sent to TARGET, `group` or `make`.
check() {
    local log=".local/logs/test-dev-$1.log" why='' left policy="${5:-latest}"
    : >"$log" # now: the background make opens it later, and the last run's must not be read
    (exec "${DEV_ENV[@]}" AUTH_MODE="$4" CHECKOUT_POLICY="$policy" HOLD_SECONDS=2 HOLD_SWEEP_SECONDS=1 \
        setsid make --no-print-directory dev </dev/null >"$log" 2>&1) &
    MAKE_PID=$! # its own process group and session: setsid execs make
    if ! wait_until 120 "$MAKE_PID" grep -qs 'Ctrl-C to stop' "$log"; then
        why="make dev did not start serving within 120 s (see $log)"
    else
        if [[ "$1" == sigint_to_its_group ]]; then
            local out said=''
            out="$(timeout 30 "${DEV_ENV[@]}" make --no-print-directory dev 2>&1 </dev/null)" || true
            [[ "$out" == *"make dev\` of this checkout is running on port $PORT (pid "[0-9]*"); stop it with"* ]] ||
                said="it said: $out"
            result second_make_dev_names_the_running_one "$said"
        fi
        why="$(serves "$4")"
        [[ "$policy" != hold ]] || why="$why$(hold_comes_back)"
        [[ "$1" != sigint_to_its_group ]] || why="$why$(events_flow)"
        kill "-$2" -- "$([[ $3 == group ]] && echo -)$MAKE_PID"
        wait_until 30 "" gone "$MAKE_PID" || why="${why:+$why; }make still runs 30 s after SIG$2"
    fi
    # Given 5 s: the function instances exit after cargo lambda watch has.
    if ! wait_until 5 "" none_left; then
        left="$(leftovers)"
        why="${why:+$why; }still running: ${left:+$(ps -o pid=,args= -p "${left//$'\n'/,}" | cut -c1-100 | paste -sd';')}"
        port_open "$PORT" && why="$why; port $PORT still taken"
        port_open "$DDB_PORT" && why="$why; port $DDB_PORT still taken"
    fi
    [[ -z "$why" ]] || { kill_all; tail -n 15 "$log"; }
    MAKE_PID=''
    result "$1" "$why"
}

info "make dev on API_PORT=$PORT DYNAMODB_LOCAL_PORT=$DDB_PORT, stopped 4 ways"
check sigint_to_its_group INT group jwt
check sigterm_to_its_group TERM group jwt
check sighup_to_its_group HUP group jwt hold
check sigterm_to_make_alone_in_iam_mode TERM make iam
echo "test result: $( ((FAILED)) && echo FAILED || echo ok). $PASSED passed; $FAILED failed; 0 ignored; 0 measured; 0 filtered out; finished in ${SECONDS}s"
((FAILED == 0))
