# shellcheck shell=bash
# The SAM CLI's local emulation, shared by scripts/sam-local.sh (`make sam-local`),
# scripts/sam-invoke.sh (`make sam-invoke`) and scripts/test-sam.sh (make test). Sourced after
# lib.sh. SAM CLI runs each function in a container of a Lambda base image with its Runtime
# Interface Emulator layered on top (SAM CLI ships the emulator and builds that layer itself):
#
# - the image: AWS's own provided.al2023 emulation image, the one SAM CLI would pull, when it is
#   here or can be pulled; else a stand-in built once and cached: this host's own distribution
#   release (`debootstrap --variant=minbase`, from the mirror apt uses), `docker import`ed as
#   cart-api-lambda-standin:<id>-<codename>-<arch>. SAM_LOCAL_IMAGE=official|standin forces one.
# - the binaries: the debug binaries of `cargo build --workspace --bins`, which link the host's
#   glibc (the stand-in's own); in the official image, if its glibc cannot load them,
#   `cargo lambda build` (debug) ones, into .local/sam/lambda.
# - the template: template.yaml as `sam-template` (testkit::sam) renders it for one
#   Authentication mode, x86_64 or arm64 as this host, each function's CodeUri its binary's
#   folder, and AWS_ENDPOINT_URL_DYNAMODB pointing the functions at DynamoDB Local through the
#   docker bridge's gateway (DynamoDB Local listens on every interface).
# - the environment: sam runs with a clean environment (SAM CLI would otherwise hand any shell
#   variable named like a template variable to the functions), and an --env-vars file that
#   names the local tables and the cursor key (what CloudFormation would make).
#
# Everything it writes is under .local/sam/; a script that sources it calls sam_cleanup on exit.

SAM_DIR="$ROOT/.local/sam"
mkdir -p "$SAM_DIR"
case "$(uname -m)" in
    x86_64 | amd64) SAM_ARCH=x86_64 ;;
    aarch64 | arm64) SAM_ARCH=arm64 ;;
    *) die "sam local: no Lambda architecture matches this machine ($(uname -m))" ;;
esac

# sam_need_docker [WHY]: Docker answers, or a message that says why it is needed (WHY; by
# default: sam local runs every function in a container), what is missing and how to get it.
sam_need_docker() {
    local why="${1:-sam local runs every function in a container}" out
    command -v docker >/dev/null 2>&1 ||
        die "Docker is not installed, and $why. On Debian or Ubuntu, as root: apt-get install docker.io, then start its daemon (systemctl start docker, or: dockerd &)"
    out="$(docker info --format '{{.ServerVersion}}' 2>&1)" && return 0
    case "$out" in
        *"permission denied"*)
            die "no permission to use the Docker daemon, and $why ($(tail -n 1 <<<"$out")). Add your user to the docker group (usermod -aG docker $(id -un), then log in again), or run as root" ;;
        *)
            die "no Docker daemon answers, and $why ($(tail -n 1 <<<"$out")). Start it: systemctl start docker, or as root: dockerd >/var/log/dockerd.log 2>&1 & (on Debian or Ubuntu, apt-get install docker.io first if dockerd is missing)" ;;
    esac
}

# The image SAM CLI itself pulls for provided.al2023 on this architecture (named by SAM CLI).
sam_official_image() {
    python3 -c 'import sys
from samcli.local.docker.lambda_image import LambdaImage, Runtime
print(f"{LambdaImage._INVOKE_REPO_PREFIX}/{Runtime.get_image_name_tag(sys.argv[1], sys.argv[2])}")' provided.al2023 "$SAM_ARCH"
}

# The apt mirror of this host's distribution (the first `deb` source), if one is configured.
apt_mirror() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$file" ]] || continue
        awk '/^Types:/ { deb = / deb( |$)/ } deb && /^URIs:/ { print $2; exit }' "$file"
    done | head -n 1 | grep . && return 0
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list 2>/dev/null | head -n 1 | grep .
}

# The stand-in base image: this host's release, minimal, built once (about a minute) and kept.
sam_standin_image() {
    local id codename rootfs mirror log="$ROOT/.local/logs/sam-standin-image.log"
    # shellcheck disable=SC1091
    id="$(. /etc/os-release && echo "${ID:-}")" codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
    [[ -n "$id" && -n "$codename" ]] || die "the stand-in image is this host's release, but /etc/os-release names none"
    SAM_IMAGE="cart-api-lambda-standin:$id-$codename-$SAM_ARCH"
    docker image inspect "$SAM_IMAGE" >/dev/null 2>&1 && return 0
    [[ "$(id -u)" == 0 ]] ||
        die "the stand-in image $SAM_IMAGE is not built yet, and building it (debootstrap) needs root once: run this as root, or pull the official image"
    command -v debootstrap >/dev/null 2>&1 ||
        die "debootstrap is missing, and it builds the stand-in image: apt-get install debootstrap"
    mirror="${SAM_STANDIN_MIRROR:-$(apt_mirror || true)}"
    info "building the stand-in image $SAM_IMAGE: debootstrap --variant=minbase --include=ca-certificates $codename ${mirror:-(its default mirror)} (about a minute; log ${log#"$ROOT"/})"
    rootfs="$SAM_DIR/rootfs"
    rm -rf "$rootfs"
    # shellcheck disable=SC2086 # no mirror: debootstrap's default
    # The CA certificates: the functions' TLS client loads the system's roots when it starts.
    debootstrap --variant=minbase --include=ca-certificates "$codename" "$rootfs" $mirror >"$log" 2>&1 ||
        { tail -n 20 "$log" >&2; rm -rf "$rootfs"; die "debootstrap failed (log ${log#"$ROOT"/})"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/{doc,man,info,locale}
    tar -C "$rootfs" -c . | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$SAM_IMAGE" >/dev/null || { rm -rf "$rootfs"; die "docker import of the stand-in image failed"; }
    rm -rf "$rootfs"
    info "built $SAM_IMAGE ($(docker image inspect -f '{{.Size}}' "$SAM_IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# Sets SAM_IMAGE (the base image) and SAM_IMAGE_KIND (official | standin).
sam_image() {
    local official choice="${SAM_LOCAL_IMAGE:-auto}" log="$ROOT/.local/logs/sam-pull.log"
    [[ "$choice" =~ ^(auto|official|standin)$ ]] || die "SAM_LOCAL_IMAGE must be auto, official or standin (got '$choice')"
    exec 8>"$SAM_DIR/image.lock" && flock 8 # two scripts at once build or pull once
    if [[ "$choice" != standin ]]; then
        official="$(sam_official_image)" || die "could not ask SAM CLI for its emulation image (is .venv installed? bash scripts/tools.sh python)"
        if docker image inspect "$official" >/dev/null 2>&1 ||
            { info "pulling the official emulation image $official"; timeout 600 docker pull "$official" >"$log" 2>&1; }; then
            SAM_IMAGE="$official" SAM_IMAGE_KIND=official
            exec 8>&-
            return 0
        fi
        [[ "$choice" == auto ]] || die "the official image cannot be pulled: $(tail -n 1 "$log")"
        info "it cannot be pulled ($(tail -n 1 "$log" | cut -c1-120)); using the stand-in image"
    fi
    sam_standin_image
    SAM_IMAGE_KIND=standin
    exec 8>&-
}

# Sets SAM_CODE_DIR: one folder per function binary holding its `bootstrap`, of this run alone
# (.local/sam/run-<pid>/code, hard links: no copy), so that sam_cleanup can tell its containers
# by what they mount. The debug binaries of `cargo build --workspace --bins` (which must be
# built) link this host's glibc: the stand-in image has it; in the official image one is started
# once, and if its older glibc cannot load it, `cargo lambda build` (debug; zig links for an
# older glibc) builds them into .local/sam/lambda instead.
sam_binaries() {
    local binary dir probe from="$CARGO_TARGET_DIR/debug" binaries=() packages=()
    for dir in "$SAM_DIR"/run-*; do # what runs killed outright left
        [[ ! -d "$dir" ]] || kill -0 "${dir##*-}" 2>/dev/null || rm -rf "$dir"
    done
    SAM_RUN_DIR="$SAM_DIR/run-$$" SAM_CODE_DIR="$SAM_DIR/run-$$/code"
    read -ra binaries <<<"$(sam_functions | cut -d' ' -f2 | tr '\n' ' ')"
    for binary in "${binaries[@]}"; do packages+=(-p "$binary"); done
    link() {
        for binary in "${binaries[@]}"; do
            mkdir -p "$SAM_CODE_DIR/$binary"
            ln -f "$1/$binary" "$SAM_CODE_DIR/$binary/bootstrap" 2>/dev/null ||
                cp -f "$1/$binary" "$SAM_CODE_DIR/$binary/bootstrap" || die "no binary $1/$binary"
        done
    }
    link "$from"
    [[ "$SAM_IMAGE_KIND" == official ]] || return 0
    # Without Lambda's environment a binary that loads exits at once, saying what it misses.
    probe="$(timeout 30 docker run --rm -v "$SAM_CODE_DIR/$binary:/var/task:ro" --entrypoint /var/task/bootstrap \
        "$SAM_IMAGE" 2>&1)" || true
    [[ "$probe" == *GLIBC_* || "$probe" == *"error while loading shared libraries"* ]] || return 0
    info "the debug binaries do not load in $SAM_IMAGE ($(grep -m 1 -E 'GLIBC|error while loading' <<<"$probe"))"
    step "cargo lambda build (debug) for $SAM_IMAGE, into .local/sam/lambda"
    cargo lambda build --target "$([[ $SAM_ARCH == arm64 ]] && echo aarch64 || echo x86_64)-unknown-linux-gnu" \
        --lambda-dir "$SAM_DIR/lambda" "${packages[@]}"
    # cargo lambda writes <binary>/bootstrap: link() wants <binary> itself.
    from="$SAM_DIR/lambda/flat"
    mkdir -p "$from"
    for binary in "${binaries[@]}"; do ln -f "$SAM_DIR/lambda/$binary/bootstrap" "$from/$binary"; done
    link "$from"
}

# Removes what a run leaves: the containers SAM CLI started on this run's code (SAM CLI stops its
# warm containers on one SIGTERM or SIGINT, but not when a second signal cuts its cleanup short,
# as a terminal's Ctrl-C to the whole process group followed by this script's own SIGTERM does),
# then the run's folder. For on_exit, after the children have stopped.
sam_cleanup() {
    [[ -n "${SAM_RUN_DIR:-}" ]] || return 0
    local id left=()
    for id in $(docker ps -aq --filter label=sam.cli.container.type=lambda 2>/dev/null); do
        docker inspect -f '{{range .Mounts}}{{.Source}}{{"\n"}}{{end}}' "$id" 2>/dev/null |
            grep -q "^$SAM_CODE_DIR/" && left+=("$id")
    done
    if ((${#left[@]})); then
        info "removing the ${#left[@]} container(s) SAM CLI left running"
        docker rm -f "${left[@]}" >/dev/null
    fi
    rm -rf "$SAM_RUN_DIR"
}

# `LogicalId binary`, one function a line.
sam_functions() { "$CARGO_TARGET_DIR/debug/sam-template" --functions; }

# Sets SAM_DDB_URL: DynamoDB Local as the containers reach it (the docker bridge's gateway),
# after checking from a container that it answers there.
sam_dynamodb() {
    local gateway bridge
    # The gateway docker names, else the bridge interface's own address (older daemons name none).
    gateway="$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null)" || true
    if [[ -z "$gateway" ]]; then
        bridge="$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null)" || true
        gateway="$(ip -4 -o addr show dev "${bridge:-docker0}" 2>/dev/null | awk '{ sub(/\/.*/, "", $4); print $4; exit }')" || true
    fi
    [[ -n "$gateway" ]] || die "cannot tell the address of docker's default bridge on this host (docker network inspect bridge)"
    SAM_DDB_URL="http://$gateway:$DYNAMODB_LOCAL_PORT"
    docker run --rm --entrypoint /bin/bash "$SAM_IMAGE" -c "exec 3<>/dev/tcp/$gateway/$DYNAMODB_LOCAL_PORT" 2>/dev/null ||
        die "a container cannot reach DynamoDB Local at $gateway:$DYNAMODB_LOCAL_PORT (the docker bridge's gateway): it must listen there too, as the DynamoDB Local the scripts start does (on every interface)"
}

# sam_render MODE OUT [NAME=VALUE...]: template.yaml rendered for Authentication=MODE into OUT,
# with the variables given added to every function's environment.
sam_render() {
    local mode="$1" out="$2" params=() pair env_args=()
    shift 2
    params+=(--param "Authentication=$mode" --param "Architecture=$SAM_ARCH" --param "CheckoutPolicy=$CHECKOUT_POLICY")
    [[ -z "${HOLD_SECONDS:-}" ]] || params+=(--param "HoldSeconds=$HOLD_SECONDS")
    [[ -z "${MAX_HELD_PER_ITEM:-}" ]] || params+=(--param "MaxHeldPerItem=$MAX_HELD_PER_ITEM")
    [[ -z "${CART_IDLE_DAYS:-}" ]] || params+=(--param "CartIdleDays=$CART_IDLE_DAYS")
    # The cursor key itself, as locally (the stack's secret, CURSOR_SECRET_ARN, does not exist here:
    # sam_env_vars empties it).
    for pair in "AWS_ENDPOINT_URL_DYNAMODB=$SAM_DDB_URL" "CURSOR_SECRET=$CURSOR_SECRET" "$@"; do
        env_args+=(--env "$pair")
    done
    "$CARGO_TARGET_DIR/debug/sam-template" --template template.yaml --code-dir "$SAM_CODE_DIR" \
        "${params[@]}" "${env_args[@]}" >"$out" || die "could not render template.yaml for sam local"
}

# sam_env_vars OUT: the --env-vars file, for every function that declares the variable: the
# tables' names, the cursor key (and no ARN of the stack's secret, which does not exist here), the
# Stripe webhook's local secret.
sam_env_vars() {
    python3 -c 'import json, os, sys
names = ["CATALOG_TABLE", "CARTS_TABLE", "ORDERS_TABLE", "IDEMPOTENCY_TABLE", "DISCOUNTS_TABLE", "CURSOR_SECRET", "STRIPE_WEBHOOK_SECRET"]
values = {n: os.environ[n] for n in names}
values["CURSOR_SECRET_ARN"] = ""
json.dump({"Parameters": values}, open(sys.argv[1], "w"), indent=2)' "$1"
}

# SAM_CLI: the SAM CLI in a clean environment: only what it needs itself (the dummy AWS
# credentials and region, which it hands to the functions), none of this shell's variables.
# Before each run SAM CLI asks STS for the account id: pointed at a closed local port, it is told
# no at once (instead of about 10 s of retries, or a call to AWS with the dummy credentials), and
# uses its default account id. SAM CLI passes none of these AWS_* settings on to the functions.
# `sam_cli ARGS...` runs it; "${SAM_CLI[@]}" is the command, for start_child.
SAM_CLI=(env -i PATH="$PATH" HOME="$HOME" LANG="${LANG:-C.UTF-8}" TMPDIR="${TMPDIR:-/tmp}"
    ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} ${DOCKER_CONFIG:+DOCKER_CONFIG="$DOCKER_CONFIG"}
    AWS_REGION="$AWS_REGION" AWS_DEFAULT_REGION="$AWS_DEFAULT_REGION"
    AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
    AWS_ENDPOINT_URL_STS=http://127.0.0.1:9 AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
    SAM_CLI_TELEMETRY=0 sam)
sam_cli() { "${SAM_CLI[@]}" "$@"; }

# A function's logical id from its logical id or its binary's name (list-items, ListItemsFunction).
sam_function_id() {
    sam_functions | awk -v f="$1" '$1 == f || $2 == f || $1 == f "Function" { print $1; found = 1; exit }
        END { exit !found }'
}
