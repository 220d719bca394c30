#!/usr/bin/env bash
# `make package`: `sam build` (`cargo lambda build --release` of each function) for ARCHITECTURE
# (x86_64, the default, or arm64; `make deploy` reads it back from .aws-sam/build/architecture),
# then every bootstrap's size. CARGO_LAMBDA_COMPILER: cargo-lambda's backend (default
# cargo-zigbuild, with zig from .venv's ziglang). Extra arguments go to `sam build`.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash scripts/tools.sh python

# x86_64 unless ARCHITECTURE=arm64 is asked for, and then only with the aarch64 target installed
# (a binary of the other architecture than the one deployed cannot start: no silent switch).
ARCH="${ARCHITECTURE:-x86_64}"
[[ "$ARCH" == x86_64 || "$ARCH" == arm64 ]] || die "ARCHITECTURE must be x86_64 or arm64 (got '$ARCH')"
TRIPLE="$([[ $ARCH == arm64 ]] && echo aarch64 || echo x86_64)-unknown-linux-gnu"
! command -v rustup >/dev/null 2>&1 || rustup target list --installed | grep -qx "$TRIPLE" ||
    die "the Rust target $TRIPLE is not installed (rustup target add $TRIPLE); or build for the other ARCHITECTURE"

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
