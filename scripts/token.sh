#!/usr/bin/env bash
# `make token USER=<id> [TTL=<seconds>]`: a bearer token of the local issuer for that user (an
# hour by default), and nothing else on stdout:
#   TOKEN=$(make -s token USER=alice); curl -H "Authorization: Bearer $TOKEN" ...
# The key pair is made under $JWT_KEY_DIR (.local/jwt) on first use.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n "${1:-}" ]] || die "usage: make token USER=<user id> [TTL=<seconds>]"
exec cargo run -q --bin token -- --user "$1" --ttl "${TTL:-3600}"
