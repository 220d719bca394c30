# shellcheck shell=bash
# Sourced first by every script: strict mode, the environment (env.sh), the repository root as
# working directory, messages, DynamoDB Local, `cargo lambda watch`, and the children a script
# starts and stops on exit.
#
# Processes: children stay in the script's (its caller's) process group, so a signal to the group
# reaches them too. The script traps INT, TERM and HUP; on exit it sends its children SIGTERM,
# then SIGKILL to any left after 10 s (`make` passes a SIGTERM sent to it alone on to the script).
# cargo lambda watch stops its function instances itself; one outliving a killed watch exits
# when its long poll of watch's runtime API fails (within 2 s).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
mkdir -p .local/logs
SCRIPT_NAME="$(basename "$0" .sh)"

C_BOLD='' C_GREEN='' C_RED='' C_OFF='' # colours, when stderr is a terminal
[[ -t 2 && -z "${NO_COLOR:-}" ]] && C_BOLD=$'\033[1m' C_GREEN=$'\033[1;32m' C_RED=$'\033[1;31m' C_OFF=$'\033[0m'
step() { printf '\n%s==> %s%s\n' "$C_BOLD" "$*" "$C_OFF" >&2; }
info() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }
fmt_duration() { if (($1 >= 60)); then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi; }
# finish_line STATUS MESSAGE: the closing line of a long script, with the time it took.
finish_line() {
    if (($1 == 0)); then printf '\n%s%s: %s in %s%s\n' "$C_GREEN" "$SCRIPT_NAME" "$2" "$(fmt_duration $SECONDS)" "$C_OFF" >&2
    else printf '\n%s%s: FAILED (exit %s) after %s%s\n' "$C_RED" "$SCRIPT_NAME" "$1" "$(fmt_duration $SECONDS)" "$C_OFF" >&2; fi
}

# tally LOG: the tests that the `test result:` lines in LOG count (cargo prints one per test
# binary, and so does test-dev.sh), as one line: `N passed, N failed`.
tally() {
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
         END { printf "%d passed, %d failed\n", p, f }' "$1"
}

# Something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# None of the PIDs runs any more.
gone() { ! kill -0 "$@" 2>/dev/null; }

# wait_until SECONDS PID|"" COMMAND...: until COMMAND succeeds; fails after SECONDS, or as soon as
# PID (the process expected to make it succeed) has exited.
wait_until() {
    local deadline=$((SECONDS + $1)) pid="$2"
    shift 2
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        [[ -z "$pid" ]] || kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.25
    done
}

# --- children ----------------------------------------------------------------------------------
CHILDREN=()
# [CWD=DIR] start_child LOG|- COMMAND...: COMMAND in the background (in DIR), output to LOG (or
# inherited); sets CHILD. (A subshell that execs: CHILD is the command's own PID, and SIGINT is
# not ignored in it as bash does for a plain `COMMAND &`.)
start_child() {
    if [[ "$1" == - ]]; then
        (cd "${CWD:-.}" && exec "${@:2}") </dev/null &
    else
        (cd "${CWD:-.}" && exec "${@:2}") </dev/null >"$1" 2>&1 &
    fi
    CHILD=$!
    CHILDREN+=("$CHILD")
}
stop_children() {
    ((${#CHILDREN[@]})) || return 0
    kill -TERM "${CHILDREN[@]}" 2>/dev/null
    wait_until 10 "" gone "${CHILDREN[@]}" ||
        { warn "killing what still runs 10 s after SIGTERM"; kill -KILL "${CHILDREN[@]}" 2>/dev/null; }
    wait "${CHILDREN[@]}" 2>/dev/null
    CHILDREN=()
}
# A sourcing script may define on_exit STATUS, run last.
cleanup() {
    local status=$?
    trap '' INT TERM HUP PIPE # nothing cuts the cleanup short (make forwards its SIGTERM, too)
    set +e
    stop_children
    declare -F on_exit >/dev/null && on_exit "$status"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- DynamoDB Local ----------------------------------------------------------------------------
DDB_URL="http://127.0.0.1:$DYNAMODB_LOCAL_PORT"
DDB_LOG=".local/logs/dynamodb-local-$DYNAMODB_LOCAL_PORT.log"
# Run in .local/dynamodb-local, where it writes a metadata file.
# shellcheck disable=SC2206 # the user's JVM flags are split on purpose
DDB_CMD=(java ${DYNAMODB_LOCAL_JAVA_OPTS:-} -Djava.library.path=DynamoDBLocal_lib -jar DynamoDBLocal.jar
    -inMemory -sharedDb -port "$DYNAMODB_LOCAL_PORT")

# A DynamoDB API call succeeds. DynamoDB Local rejects unsigned requests but does not check
# signatures, so a dummy SigV4-shaped Authorization header is enough.
ddb_answers() {
    [[ "$(curl -s --max-time 2 -X POST -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' -d '{}' "$DDB_URL" \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0')" == *'"TableNames"'* ]]
}
# Reuses the DynamoDB answering on $DYNAMODB_LOCAL_PORT (and leaves it running), else starts
# DynamoDB Local there as a child of this script.
ddb_up() {
    if port_open "$DYNAMODB_LOCAL_PORT"; then
        wait_until 30 "" ddb_answers ||
            die "port $DYNAMODB_LOCAL_PORT is in use by something that does not answer DynamoDB requests; set DYNAMODB_LOCAL_PORT to another port"
        info "reusing the DynamoDB at $DDB_URL (left running)"
        return 0
    fi
    CWD=.local/dynamodb-local start_child "$DDB_LOG" "${DDB_CMD[@]}"
    info "starting DynamoDB Local on $DDB_URL (pid $CHILD, log $DDB_LOG)"
    wait_until 30 "$CHILD" ddb_answers || { tail -n 20 "$DDB_LOG" >&2; die "DynamoDB Local did not start"; }
}

# --- the local API -----------------------------------------------------------------------------
# The local issuer's key pair and JWKS (jwt mode): made on first use under $JWT_KEY_DIR.
local_issuer() {
    [[ "$AUTH_MODE" == jwt && ! -s "$LOCAL_JWKS_FILE" ]] || return 0
    info "making the local token issuer's key pair in ${JWT_KEY_DIR#"$ROOT"/}/"
    cargo run -q --bin token -- --keys
}

# Fails if $API_PORT is taken, saying by what when it is a `make dev` of this checkout (its pid
# is in .local/dev-PORT.pid, even before it listens) or a cargo lambda watch.
check_api_port() {
    local pid
    pid="$(cat ".local/dev-$API_PORT.pid" 2>/dev/null)" || true
    if [[ -n "$pid" && "$pid" != "$$" ]] && ps -p "$pid" -o args= 2>/dev/null | grep -q 'scripts/dev\.sh'; then
        die "a \`make dev\` of this checkout is running on port $API_PORT (pid $pid); stop it with Ctrl-C in its terminal or: kill $pid"
    fi
    port_open "$API_PORT" || return 0
    pid="$(pgrep -f -- "lambda watch .*--invoke-port $API_PORT( |\$)" | head -n 1)" || true
    [[ -z "$pid" ]] || die "port $API_PORT is held by cargo lambda watch (pid $pid; stop it with: kill $pid)"
    die "port $API_PORT is already in use; stop what listens there or run with API_PORT=<free port>"
}

# start_watch LOG|- [FLAGS]: cargo lambda watch on $API_URL as a child (WATCH_PID), once it listens.
# RUST_LOG is for the functions (at `info` cargo-lambda would log every file event), so watch runs
# without it and hands it on in an env file (`--env-var` would split `info,shared=debug` at the
# comma). The functions inherit everything else of this environment as is.
start_watch() {
    local out="$1" env_file="$ROOT/.local/watch-$API_PORT.env"
    shift
    check_api_port
    printf "RUST_LOG='%s'\n" "$RUST_LOG" >"$env_file"
    local cmd=(env -u RUST_LOG cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT"
        --env-file "$env_file" "$@")
    info "${cmd[*]}"
    start_child "$out" "${cmd[@]}"
    WATCH_PID=$CHILD
    if ! wait_until 60 "$WATCH_PID" port_open "$API_PORT"; then
        [[ "$out" == - ]] || tail -n 30 "$out" >&2
        die "cargo lambda watch did not start listening on $API_URL"
    fi
}
