#!/usr/bin/env bash
# `make package`: the deployment artifacts, built with `sam build` (which runs `cargo lambda build
# --release` for each function), and the size of every function's bootstrap binary.
#   ARCHITECTURE=x86_64|arm64   Lambda architecture (default x86_64), passed to the template's
#                               Architecture parameter. Deploy with the same value (`make
#                               deploy` reads it back from .aws-sam/build/architecture).
#   CARGO_LAMBDA_COMPILER       cargo-lambda's compiler backend; unset means its default,
#                               cargo-zigbuild, which uses zig from the ziglang package in .venv
#                               (cargo-lambda runs `python3 -m ziglang`, hence .venv first on PATH).
# Extra arguments are passed to `sam build` (e.g. --cached, --debug).
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash scripts/tools.sh python

# x86_64 unless ARCHITECTURE=arm64 is asked for, and then only with the aarch64 target installed
# (a binary of the other architecture than the one deployed cannot start: no silent switch).
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
[[ "$COMPILER" != cargo-zigbuild ]] || python3 -m ziglang version >/dev/null 2>&1 ||
    die "zig is not available as 'python3 -m ziglang' (python3 is $(command -v python3)); run: bash scripts/tools.sh"

step "sam build (Architecture=$ARCH, compiler $COMPILER)"
sam build --parameter-overrides "Architecture=$ARCH" "$@"
printf '%s\n' "$ARCH" >.aws-sam/build/architecture

step "function binaries ($ARCH)"
binaries=(.aws-sam/build/*/bootstrap)
[[ -f "${binaries[0]}" ]] || die "no .aws-sam/build/*/bootstrap found after sam build"
printf '%-32s %12s %10s\n' FUNCTION BYTES SIZE
wc -c "${binaries[@]}" | awk '$2 != "total" { split($2, p, "/"); t += $1; printf "%-32s %12s %6.2f MiB\n", p[3], $1, $1 / 1048576 }
    END { printf "%-32s %12s %6.2f MiB\n", "TOTAL", t, t / 1048576 }'
info "built in $(fmt_duration $SECONDS); deploy with: make deploy"
