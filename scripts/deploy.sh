#!/usr/bin/env bash
# `make deploy`: `sam deploy --guided` of the last `make package` output, with your own AWS
# credentials (CART_API_REAL_AWS=1 keeps env.sh from setting the local dummy ones, the region and
# the DynamoDB endpoint), passing the architecture it was built for: a binary deployed under the
# other architecture could not start. Extra arguments go to `sam deploy`.
export CART_API_REAL_AWS=1
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -f .aws-sam/build/template.yaml && -f .aws-sam/build/architecture ]] ||
    die "nothing built yet; run: make package"
arch="$(<.aws-sam/build/architecture)"
[[ -z "${ARCHITECTURE:-}" || "$ARCHITECTURE" == "$arch" ]] ||
    die "the build is for $arch; run: make package ARCHITECTURE=$ARCHITECTURE"
sam deploy --guided --parameter-overrides "Architecture=$arch" "$@"
