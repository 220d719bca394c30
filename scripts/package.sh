#!/usr/bin/env bash
# `make package`: every function in ONE `cargo lambda build --release` for ARCHITECTURE (x86_64
# or arm64; make deploy reads it from .aws-sam/build/architecture), then `sam build`, which only
# copies each bootstrap, then their sizes, each at most MAX_BINARY_BYTES (5,000,000). Backend:
# CARGO_LAMBDA_COMPILER (default cargo-zigbuild, zig from .venv). Extra arguments go to sam build.
# `package.sh binary <LogicalId>` is sam build's step (Makefile's build-<LogicalId>): the build
# (for ARCHITECTURE) unless make package just ran it, then the bootstrap into ARTIFACTS_DIR.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ARCH="${ARCHITECTURE:-x86_64}"
[[ "$ARCH" == x86_64 || "$ARCH" == arm64 ]] || die "ARCHITECTURE must be x86_64 or arm64 (got '$ARCH')"
TRIPLE="$([[ $ARCH == arm64 ]] && echo aarch64 || echo x86_64)-unknown-linux-gnu"
build_functions() {
    local packages=()
    for dir in functions/*/; do packages+=(-p "$(basename "$dir")"); done
    cargo lambda build --release --target "$TRIPLE" "${packages[@]}"
}

if [[ "${1:-}" == binary ]]; then # ListItems -> list-items
    name="$(sed -E 's/Function$//; s/([a-z0-9])([A-Z])/\1-\2/g' <<<"$2" | tr '[:upper:]' '[:lower:]')"
    [[ "${CART_API_FUNCTIONS_BUILT:-0}" == 1 || -n "${ARCHITECTURE:-}" ]] ||
        die "sam build cannot tell make which Architecture it builds for: run make package, or ARCHITECTURE=<the parameter's value> sam build"
    [[ "${CART_API_FUNCTIONS_BUILT:-0}" == 1 ]] || build_functions
    exec cp "${CARGO_TARGET_DIR:-$ROOT/target}/lambda/$name/bootstrap" "${ARTIFACTS_DIR:?set by sam build}/"
fi

bash scripts/tools.sh python
! command -v rustup >/dev/null 2>&1 || rustup target list --installed | grep -qx "$TRIPLE" ||
    die "the Rust target $TRIPLE is not installed (rustup target add $TRIPLE); or build for the other ARCHITECTURE"
[[ "${CARGO_LAMBDA_COMPILER:-cargo-zigbuild}" != cargo-zigbuild ]] || python3 -m ziglang version >/dev/null 2>&1 ||
    die "zig is not available as 'python3 -m ziglang' (python3 is $(command -v python3)); run: bash scripts/tools.sh"

step "cargo lambda build --release, every function at once ($TRIPLE)"
build_functions
step "sam build (Architecture=$ARCH)"
CART_API_FUNCTIONS_BUILT=1 sam build --parameter-overrides "Architecture=$ARCH" "$@" && echo "$ARCH" >.aws-sam/build/architecture

step "function binaries ($ARCH, at most ${MAX_BINARY_BYTES:=5000000} bytes each)" && printf '%-32s %12s %10s\n' FUNCTION BYTES SIZE
wc -c .aws-sam/build/*/bootstrap | awk -v max="$MAX_BINARY_BYTES" '$2 != "total" {
        split($2, p, "/"); t += $1; over += ($1 > max)
        printf "%-32s %12s %6.2f MiB%s\n", p[3], $1, $1 / 1048576, ($1 > max ? "  OVER" : "") }
    END { printf "%-32s %12s %6.2f MiB\n", "TOTAL", t, t / 1048576; exit over > 0 }' ||
    die "a function binary is larger than $MAX_BINARY_BYTES bytes (MAX_BINARY_BYTES)"
info "built in $(fmt_duration $SECONDS); deploy with: make deploy"
