#!/usr/bin/env bash
# Runs DynamoDB Local (in memory, one shared database) on 127.0.0.1:$DYNAMODB_LOCAL_PORT.
#
#   bash scripts/dynamodb-local.sh start    # start it, or reuse whatever already answers there;
#                                           # prints `started` or `reused` on stdout
#   bash scripts/dynamodb-local.sh wait [s] # wait until it answers a DynamoDB request (default 30 s)
#   bash scripts/dynamodb-local.sh status   # exit 0 if a DynamoDB answers on the port
#   bash scripts/dynamodb-local.sh stop     # stop the instance `start` launched (and only that one)
#
# `start` records the PID of the JVM it launches in .local/dynamodb-local.pid; `stop` only ever
# kills that process. A DynamoDB that was already running (another checkout, a container, a
# `make dev` in another terminal) is reused and never stopped. The log goes to
# .local/logs/dynamodb-local.log. Extra JVM flags: DYNAMODB_LOCAL_JAVA_OPTS.
set -euo pipefail

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

DDB_DIR="$ROOT/.local/dynamodb-local"
PID_FILE="$ROOT/.local/dynamodb-local.pid"
LOG_DIR="$ROOT/.local/logs"
LOG_FILE="$LOG_DIR/dynamodb-local.log"
HOST=127.0.0.1
PORT="$DYNAMODB_LOCAL_PORT"
ENDPOINT="http://$HOST:$PORT"

log() { printf 'dynamodb-local: %s\n' "$*" >&2; }
die() { printf 'dynamodb-local: error: %s\n' "$*" >&2; exit 1; }

# Something accepts TCP connections on the port.
port_open() {
    (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
}

# A real DynamoDB API call succeeds. DynamoDB Local rejects unsigned requests (HTTP 400
# MissingAuthenticationToken) but does not check signatures, so a dummy SigV4-shaped
# Authorization header is enough.
answers() {
    local body
    body="$(curl -s --max-time 2 -X POST \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
        -H 'Authorization: AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
        -d '{}' "$ENDPOINT" 2>/dev/null)" || return 1
    [[ "$body" == *'"TableNames"'* ]]
}

# PID from our PID file, if that process is still a DynamoDB Local JVM (guards against PID reuse).
our_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(<"$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'DynamoDBLocal\.jar' || return 1
    fi
    printf '%s\n' "$pid"
}

wait_ready() {
    local timeout="${1:-30}" pid="${2:-}" deadline=$((SECONDS + ${1:-30}))
    while ((SECONDS < deadline)); do
        answers && return 0
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            log "DynamoDB Local exited during startup; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            return 1
        fi
        sleep 0.25
    done
    log "no DynamoDB answered at $ENDPOINT within ${timeout}s"
    return 1
}

cmd_start() {
    local pid
    if pid="$(our_pid)"; then
        # Started earlier by this script (maybe still booting, maybe by another terminal).
        wait_ready 30 "$pid" || die "DynamoDB Local (pid $pid) is not answering at $ENDPOINT"
        log "already running at $ENDPOINT (pid $pid, started by this script earlier)"
        echo reused
        return 0
    fi
    rm -f "$PID_FILE"
    if port_open; then
        wait_ready 10 ||
            die "port $PORT is in use, but what listens there does not answer DynamoDB requests (set DYNAMODB_LOCAL_PORT to use another port)"
        log "reusing the DynamoDB already answering at $ENDPOINT (not started here; stop will leave it alone)"
        echo reused
        return 0
    fi

    [[ -f "$DDB_DIR/DynamoDBLocal.jar" ]] ||
        die "$DDB_DIR/DynamoDBLocal.jar not found; run: bash scripts/tools.sh"
    command -v java >/dev/null 2>&1 || die "java not found (DynamoDB Local needs Java 17+); run: bash scripts/tools.sh check"
    command -v curl >/dev/null 2>&1 || die "curl not found (used to check that DynamoDB Local answers)"

    mkdir -p "$LOG_DIR"
    local -a java_opts=()
    # shellcheck disable=SC2206 # word splitting of the user's JVM flags is intended
    [[ -n "${DYNAMODB_LOCAL_JAVA_OPTS:-}" ]] && java_opts=($DYNAMODB_LOCAL_JAVA_OPTS)
    # setsid: own session, so a Ctrl-C in the terminal doesn't kill it behind the back of the
    # script that started it (which stops it itself). The subshell execs, so $! is the JVM's PID.
    local setsid=()
    command -v setsid >/dev/null 2>&1 && setsid=(setsid)
    (
        cd "$DDB_DIR"
        exec "${setsid[@]}" java "${java_opts[@]}" \
            "-Djava.library.path=$DDB_DIR/DynamoDBLocal_lib" \
            -jar "$DDB_DIR/DynamoDBLocal.jar" \
            -inMemory -sharedDb -port "$PORT"
    ) >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    printf '%s\n' "$pid" >"$PID_FILE"
    log "starting DynamoDB Local on $ENDPOINT (pid $pid, log .local/logs/dynamodb-local.log)"
    if ! wait_ready 30 "$pid"; then
        kill "$pid" 2>/dev/null || true
        rm -f "$PID_FILE"
        die "DynamoDB Local did not become ready"
    fi
    log "ready"
    echo started
}

cmd_stop() {
    local pid
    if ! pid="$(our_pid)"; then
        if [[ -f "$PID_FILE" ]]; then
            log "$PID_FILE does not point to a running DynamoDB Local; removing the stale PID file"
            rm -f "$PID_FILE"
        else
            log "no DynamoDB Local started by this script is running; nothing to stop"
        fi
        return 0
    fi
    log "stopping DynamoDB Local (pid $pid)"
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 40; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still running after 10s; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
}

cmd_status() {
    local pid
    if answers; then
        if pid="$(our_pid)"; then
            log "running at $ENDPOINT (pid $pid, started by this script)"
        else
            log "a DynamoDB answers at $ENDPOINT (not started by this script)"
        fi
        return 0
    fi
    log "nothing answers at $ENDPOINT"
    return 1
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    wait) wait_ready "${2:-30}" ;;
    status) cmd_status ;;
    *) die "usage: $0 start|stop|wait [seconds]|status" ;;
esac
