#!/usr/bin/env bash
# `make sam-invoke FN=<function> [EVENT=events/<name>.json]`: one invocation by
# `sam local invoke`, in a Lambda container, of the template's function (FN: its logical id,
# GetCartFunction, or its binary, get-cart), with EVENT (default: events/<binary>.json).
# The function's answer goes to stdout, everything else to stderr.
#
# The template is rendered as deployed by default (SAM_AUTHENTICATION=jwt: the functions trust
# the identity API Gateway passes on, which the sample events carry); SAM_AUTHENTICATION=iam
# renders iam mode, with unsigned requests allowed as make sam-local does. DynamoDB Local: the
# one answering on DYNAMODB_LOCAL_PORT (say make sam-local's or make dev's), else one started
# with `make dynamodb-start`, left running so that the next invocation finds what this one
# wrote (make dynamodb-stop stops it). The tables are created if missing; seed the catalog with
# `make sam-invoke FN=seed-catalog`. Images and binaries: scripts/sam-lib.sh.
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=scripts/sam-lib.sh
source "$ROOT/scripts/sam-lib.sh"
on_exit() { sam_cleanup; }

FN="${1:-}" EVENT="${2:-}" MODE="${SAM_AUTHENTICATION:-jwt}"
[[ -n "$FN" ]] || die "usage: make sam-invoke FN=<function> [EVENT=events/<name>.json] (FN: a logical id of template.yaml, or a binary such as list-items)"
[[ "$MODE" == jwt || "$MODE" == iam ]] || die "SAM_AUTHENTICATION must be jwt or iam (got '$MODE')"

bash scripts/tools.sh python
sam_need_docker
if ! port_open "$DYNAMODB_LOCAL_PORT"; then bash scripts/dynamodb-local.sh start; fi
ddb_up
cargo build -q --workspace --bins
ID="$(sam_function_id "$FN")" ||
    die "template.yaml has no function $FN; one of: $(sam_functions | cut -d' ' -f1 | tr '\n' ' ')"
BINARY="$(sam_functions | awk -v id="$ID" '$1 == id { print $2 }')"
EVENT="${EVENT:-events/$BINARY.json}"
[[ -f "$EVENT" ]] || die "no event file $EVENT"
cargo run -q --bin create-tables >&2

sam_image
sam_binaries
sam_dynamodb
EXTRA=()
[[ "$MODE" == jwt ]] || EXTRA=(ALLOW_UNSIGNED_REQUESTS=true)
sam_render "$MODE" "$SAM_DIR/template-invoke-$MODE.json" "${EXTRA[@]}"
sam_env_vars "$SAM_DIR/env-vars.json"
info "sam local invoke $ID --event $EVENT (Authentication=$MODE, image $SAM_IMAGE)"
# sam exits 0 even when the function fails (its log, on stderr, says why): no answer is a failure.
ANSWER="$(sam_cli local invoke "$ID" --template "$SAM_DIR/template-invoke-$MODE.json" --event "$EVENT" \
    --env-vars "$SAM_DIR/env-vars.json" --invoke-image "$SAM_IMAGE" --skip-pull-image)" || die "sam local invoke failed"
[[ -n "$ANSWER" && "$ANSWER" != *'"errorType"'* ]] || die "$ID failed (its log is above)${ANSWER:+: $ANSWER}"
printf '%s\n' "$ANSWER"
