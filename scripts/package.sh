#!/usr/bin/env bash
# Builds the deployment artifacts with `sam build` (which runs `cargo lambda build --release`
# for each function) and prints the size of every function's bootstrap binary.
#
#   ARCHITECTURE=x86_64|arm64   Lambda architecture (default x86_64), passed to the template's
#                               Architecture parameter. Deploy with the same value (`make
#                               deploy` reads it back from .aws-sam/build/architecture).
#   CARGO_LAMBDA_COMPILER       cargo-lambda's compiler backend; unset means its default,
#                               cargo-zigbuild, which uses zig from the ziglang package in .venv
#                               (cargo-lambda runs `python3 -m ziglang`, hence .venv first on PATH).
# Extra arguments are passed to `sam build` (e.g. --cached, --debug).
set -euo pipefail

SCRIPT_NAME="package"
# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cd "$ROOT"

STARTED_AT=$SECONDS

bash "$ROOT/scripts/tools.sh" python
[[ -f template.yaml ]] || die "template.yaml not found"

# Default x86_64: arm64 (Graviton) is cheaper per ms, but cross-compiling needs the Rust
# standard library for aarch64 (`rustup target add aarch64-unknown-linux-gnu`), which isn't
# installed by default. So x86_64 unless ARCHITECTURE=arm64 is asked for explicitly, and then
# only if that target is installed (building arm64 and deploying x86_64, or the reverse, gives
# a function that cannot start, so a missing target is an error rather than a silent switch).
ARCH="${ARCHITECTURE:-x86_64}"
case "$ARCH" in
    x86_64) TRIPLE=x86_64-unknown-linux-gnu ;;
    arm64) TRIPLE=aarch64-unknown-linux-gnu ;;
    *) die "ARCHITECTURE must be x86_64 or arm64 (got '$ARCH')" ;;
esac
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx "$TRIPLE"; then
    die "the Rust target $TRIPLE is not installed (rustup target add $TRIPLE), or build for the other architecture with ARCHITECTURE=$([[ $ARCH == arm64 ]] && echo x86_64 || echo arm64)"
fi

COMPILER="${CARGO_LAMBDA_COMPILER:-cargo-zigbuild}"
if [[ "$COMPILER" == cargo-zigbuild ]]; then
    python3 -m ziglang version >/dev/null 2>&1 ||
        die "zig is not available as 'python3 -m ziglang' (python3 is $(command -v python3)); run: bash scripts/tools.sh"
fi

step "sam build (Architecture=$ARCH, compiler $COMPILER)"
sam build --parameter-overrides "Architecture=$ARCH" "$@"
printf '%s\n' "$ARCH" >.aws-sam/build/architecture

step "function binaries ($ARCH)"
shopt -s nullglob
binaries=(.aws-sam/build/*/bootstrap)
shopt -u nullglob
((${#binaries[@]})) || die "no .aws-sam/build/*/bootstrap found after sam build"
printf '%-32s %12s %10s\n' FUNCTION BYTES SIZE
total=0
for bin in "${binaries[@]}"; do
    fn="${bin#.aws-sam/build/}"
    fn="${fn%/bootstrap}"
    bytes="$(wc -c <"$bin" | tr -d ' ')"
    total=$((total + bytes))
    printf '%-32s %12s %10s\n' "$fn" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.2f MiB", b / 1048576 }')"
done
printf '%-32s %12s %10s\n' TOTAL "$total" "$(awk -v b="$total" 'BEGIN { printf "%.2f MiB", b / 1048576 }')"
info "built in $(fmt_duration $((SECONDS - STARTED_AT))); deploy with: make deploy"
