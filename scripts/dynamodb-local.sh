#!/usr/bin/env bash
# `make dynamodb-start` / `make dynamodb-stop`: DynamoDB Local (in memory, one shared database) on
# 127.0.0.1:$DYNAMODB_LOCAL_PORT, in a session of its own so that it outlives this command.
#   bash scripts/dynamodb-local.sh start   # or reuse whatever DynamoDB already answers there
#   bash scripts/dynamodb-local.sh stop    # stop the one `start` launched, and only that one
# Its pid is in .local/dynamodb-local-PORT.pid; its log in .local/logs/. Extra JVM flags:
# DYNAMODB_LOCAL_JAVA_OPTS. (make dev, make test and make bench start their own DynamoDB Local,
# unless one answers already, and stop it when they stop.)
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PID_FILE=".local/dynamodb-local-$DYNAMODB_LOCAL_PORT.pid"
case "${1:-}" in
    start)
        if port_open "$DYNAMODB_LOCAL_PORT"; then
            ddb_up
            exit 0
        fi
        bash scripts/tools.sh dynamodb
        setsid=()
        command -v setsid >/dev/null && setsid=(setsid)
        (cd .local/dynamodb-local && exec "${setsid[@]}" "${DDB_CMD[@]}") </dev/null >"$DDB_LOG" 2>&1 &
        echo "$!" >"$PID_FILE"
        wait_until 30 "$!" ddb_answers || { tail -n 20 "$DDB_LOG" >&2; die "DynamoDB Local did not start"; }
        info "DynamoDB Local running on $DDB_URL (pid $!, log $DDB_LOG); stop it with: make dynamodb-stop"
        ;;
    stop)
        pid="$(cat "$PID_FILE" 2>/dev/null)" || true
        rm -f "$PID_FILE"
        if [[ -n "$pid" ]] && ps -p "$pid" -o args= | grep -q 'DynamoDBLocal\.jar'; then
            kill "$pid"
            wait_until 10 "" gone "$pid" || kill -KILL "$pid"
            info "stopped DynamoDB Local (pid $pid)"
        else
            info "no DynamoDB Local started by \`make dynamodb-start\` runs on port $DYNAMODB_LOCAL_PORT"
        fi
        ;;
    *) die "usage: $0 start|stop" ;;
esac
