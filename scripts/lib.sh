# shellcheck shell=bash
# Helpers shared by test.sh and dev.sh (sourced after env.sh). Process handling:
#
# - Long-running helpers (cargo lambda watch) are started with `setsid`, in their own session
#   and process group, so they can be stopped as a group and a Ctrl-C in the terminal reaches
#   only the script, whose trap then stops them in order.
# - cargo lambda watch runs each function instance in a process group of its own; on SIGTERM it
#   stops them itself. Anything still alive a few seconds later is killed explicitly.

# Colours only on a terminal (and not with NO_COLOR set). Used by the sourcing scripts too.
# shellcheck disable=SC2034
if [[ -t 2 && -z "${NO_COLOR:-}" ]]; then
    C_BOLD=$'\033[1m' C_GREEN=$'\033[1;32m' C_RED=$'\033[1;31m' C_OFF=$'\033[0m'
else
    C_BOLD='' C_GREEN='' C_RED='' C_OFF=''
fi

step() { printf '\n%s==> %s%s\n' "$C_BOLD" "$*" "$C_OFF" >&2; }
info() { printf '%s: %s\n' "${SCRIPT_NAME:-script}" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "${SCRIPT_NAME:-script}" "$*" >&2; }
die() {
    printf '%s: error: %s\n' "${SCRIPT_NAME:-script}" "$*" >&2
    exit 1
}

# Something accepts TCP connections at host:port.
port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Process exists and is not a zombie (kill -0 alone succeeds on an unreaped child).
alive() {
    local pid="$1" stat
    if [[ -r "/proc/$pid/stat" ]]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
        stat="${stat##*) }"
        [[ "${stat%% *}" != Z ]]
    elif command -v ps >/dev/null 2>&1; then
        stat="$(ps -o stat= -p "$pid" 2>/dev/null)" || return 1
        [[ -n "$stat" && "$stat" != Z* ]]
    else
        kill -0 "$pid" 2>/dev/null
    fi
}

# "pid ppid" lines for every process. (Explicit return statuses throughout: this runs from EXIT
# traps, where a bare `return` would return the status the script was exiting with.)
_pid_ppid_table() {
    if command -v ps >/dev/null 2>&1; then
        ps -e -o pid= -o ppid= || true
        return 0
    fi
    local f stat
    for f in /proc/[0-9]*/stat; do
        stat="$(cat "$f" 2>/dev/null)" || continue
        stat="${stat##*) }" # "S ppid pgid ..."
        stat="${stat#* }"
        printf '%s %s\n' "${f//[^0-9]/}" "${stat%% *}"
    done
    return 0
}

# All descendants of a PID (children, grandchildren, ...), one per line.
descendants() {
    _pid_ppid_table | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            found[root] = 1
            do {
                added = 0
                for (p in parent) if (!(p in found) && (parent[p] in found)) { found[p] = 1; added = 1 }
            } while (added)
            for (p in found) if (p != root) print p
        }' || true
}

SETSID=()
command -v setsid >/dev/null 2>&1 && SETSID=(setsid)

# start_in_session LOGFILE|- COMMAND...: runs COMMAND in the background in a new session
# (output to LOGFILE, or inherited with "-") and sets BG_PID. Both bash's subshell and setsid
# exec, so BG_PID is the command's own PID and its process group ID.
start_in_session() {
    local out="$1"
    shift
    if [[ "$out" == - ]]; then
        (exec "${SETSID[@]}" "$@" </dev/null) &
    else
        mkdir -p "$(dirname "$out")"
        (exec "${SETSID[@]}" "$@" </dev/null >"$out" 2>&1) &
    fi
    # shellcheck disable=SC2034 # read by the caller
    BG_PID=$!
}

# stop_tree PID NAME: SIGTERM to PID's process group, SIGKILL after 15 s, then make sure no
# descendant (e.g. a function instance in its own process group) outlives it.
stop_tree() {
    local pid="$1" name="${2:-process $1}" kids i k
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || true
        return 0
    fi
    kids="$(descendants "$pid")"
    info "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do
        alive "$pid" || break
        sleep 0.25
    done
    if alive "$pid"; then
        warn "$name did not exit within 15s; killing it"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for k in $kids; do
        alive "$k" && kill -TERM "$k" 2>/dev/null
    done
    for ((i = 0; i < 20; i++)); do
        local left=0
        for k in $kids; do alive "$k" && left=1; done
        ((left)) || break
        sleep 0.25
    done
    for k in $kids; do
        alive "$k" && kill -KILL "$k" 2>/dev/null
    done
    return 0
}

# wait_for_port HOST PORT TIMEOUT [PID]: until something accepts connections; fails early if
# PID (the process expected to open the port) exits.
wait_for_port() {
    local host="$1" port="$2" pid="${4:-}" deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        port_open "$host" "$port" && return 0
        if [[ -n "$pid" ]] && ! alive "$pid"; then
            return 1
        fi
        sleep 0.25
    done
    return 1
}

# DynamoDB Local: start it unless something already answers. DDB_STARTED_HERE=1 only when
# this process launched it, so that only then does ddb_down stop it.
DDB_STARTED_HERE=0
ddb_up() {
    local state
    state="$(bash "$ROOT/scripts/dynamodb-local.sh" start)"
    [[ "$state" == started ]] && DDB_STARTED_HERE=1
    return 0
}
ddb_down() {
    if ((DDB_STARTED_HERE)); then
        bash "$ROOT/scripts/dynamodb-local.sh" stop || true
        DDB_STARTED_HERE=0
    fi
}

# workspace_has_bin NAME: some workspace package has a binary target NAME.
workspace_has_bin() {
    cargo metadata --no-deps --format-version 1 2>/dev/null | python3 -c '
import json, sys
name = sys.argv[1]
meta = json.load(sys.stdin)
sys.exit(0 if any(t["name"] == name and "bin" in t["kind"]
                  for p in meta["packages"] for t in p["targets"]) else 1)
' "$1"
}

# The command line for `cargo lambda watch` on 127.0.0.1:$API_PORT (extra flags appended).
# RUST_LOG is meant for the functions, but cargo-lambda reads it too, and at `info` it logs every
# file event in full. So watch runs without it and hands it to the functions in an env file
# (`--env-var` would split a value like `info,shared=debug` at the comma; the file needs the
# value quoted). Everything else in this environment is inherited by the functions as is.
watch_cmd() {
    local env_file="$ROOT/.local/watch.env"
    mkdir -p "$ROOT/.local"
    printf "RUST_LOG='%s'\n" "$RUST_LOG" >"$env_file"
    # shellcheck disable=SC2034 # read by the caller
    WATCH_CMD=(env -u RUST_LOG cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT"
        --env-file "$env_file" "$@")
}

# Human-readable duration of N seconds.
fmt_duration() {
    local s="$1"
    if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}
