#!/usr/bin/env bash
# Zero-downtime blue-green deployment of FlightOnTime with podman and an nginx proxy. The slots
# run the serving image flightontime:<version> (`make image`, docker-bake.hcl's `server` target:
# `flightontime serve` with its model bundles inside, listening on 8000, HEALTHCHECK
# `flightontime healthcheck`); the proxy image comes from deploy/bluegreen (`make proxy-image`).
#
#   deploy/blue-green.sh deploy <image>   start the idle slot with <image>, wait until ready,
#                                         smoke-test /predict through the slot, switch the proxy
#                                         (graceful nginx reload), verify through the proxy,
#                                         drain and stop the old slot (kept for rollback)
#   deploy/blue-green.sh rollback         start the previous slot again and switch back to it
#   deploy/blue-green.sh status           which slot serves which image and model version
#   deploy/blue-green.sh down             remove proxy, slots, network and secrets
#
# A version that never becomes ready or fails the smoke test never receives traffic: the command
# removes its container and exits non-zero saying why; the serving slot is untouched. (A deploy
# always replaces the idle slot, so after it the previous rollback target is gone either way.)
# The smoke test talks to the slot directly, on its port published on 127.0.0.1.
#
# Token: PREDICTION_API_TOKEN (comma-separated list allowed) or PREDICTION_API_TOKEN_FILE. It is
# handed to the slots as a podman secret file (not visible in `podman inspect`), sent to the
# service through stdin of curl, and never printed.
#
# Settings (environment):
#   BG_PREFIX=flightontime      names: <prefix>-blue, <prefix>-green, <prefix>-proxy, <prefix>-bg (network)
#   BG_BIND=127.0.0.1 BG_PORT=8080   where the proxy listens on the host
#   BG_PROXY_IMAGE=flightontime-proxy:latest   built from deploy/bluegreen (make proxy-image)
#   BG_STATE_DIR=/var/lib/flightontime-bluegreen   active slot + nginx upstream file
#   BG_READY_TIMEOUT=90 BG_VERIFY_TIMEOUT=20 BG_DRAIN_TIMEOUT=60 BG_STOP_TIMEOUT=30 (seconds)
#   BG_SLOT_ARGS="--memory 2g --cpus 2"   extra `podman run` arguments for the slots
#   BG_SLOT_ENV="FLIGHTONTIME_WORKERS FLIGHTONTIME_THREADS FLIGHTONTIME_LOG_LEVEL"   host variables
#                               passed through by name, when set (any of the server's FLIGHTONTIME_*
#                               settings, packages/server/src/flightontime_server/settings.py)
#   BG_SMOKE_BODY='{"companhia":...}'   the /predict request of the smoke test
set -Eeuo pipefail
umask 077

ENGINE=${BG_ENGINE:-podman}
PREFIX=${BG_PREFIX:-flightontime}
BIND=${BG_BIND:-127.0.0.1}
PORT=${BG_PORT:-8080}
PROXY_IMAGE=${BG_PROXY_IMAGE:-flightontime-proxy:latest}
STATE_DIR=${BG_STATE_DIR:-/var/lib/flightontime-bluegreen}
READY_TIMEOUT=${BG_READY_TIMEOUT:-90}
VERIFY_TIMEOUT=${BG_VERIFY_TIMEOUT:-20}
DRAIN_TIMEOUT=${BG_DRAIN_TIMEOUT:-60}
STOP_TIMEOUT=${BG_STOP_TIMEOUT:-30}
SLOT_ARGS=${BG_SLOT_ARGS:-}
SLOT_ENV=${BG_SLOT_ENV:-FLIGHTONTIME_WORKERS FLIGHTONTIME_THREADS FLIGHTONTIME_LOG_LEVEL}
SMOKE_BODY=${BG_SMOKE_BODY:-'{"companhia":"AA","origem":"JFK","destino":"LAX","data_partida":"2013-11-10T14:30:00"}'}
NETWORK="$PREFIX-bg"
PROXY="$PREFIX-proxy"
APP_PORT=8000
SECRET_TARGET=/etc/flightontime-api-token   # a file in the slot, owned by the image's appuser (1001), 0400

# The engine, without the lock's file descriptor (conmon would otherwise keep the lock forever).
eng() { "$ENGINE" "$@" 9>&-; }
log() { printf '[blue-green %s] %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now_ms() { date +%s%3N; }
slot_name() { printf '%s-%s' "$PREFIX" "$1"; }
other_slot() { if [[ $1 == blue ]]; then echo green; else echo blue; fi; }

exists() { eng container exists "$1"; }
running() { [[ $(eng inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

active_slot() { cat "$STATE_DIR/active" 2>/dev/null || true; }

# The token, read once; never echoed.
load_token() {
    if [[ -n ${PREDICTION_API_TOKEN:-} ]]; then
        TOKEN=$PREDICTION_API_TOKEN
    elif [[ -n ${PREDICTION_API_TOKEN_FILE:-} ]]; then
        [[ -r $PREDICTION_API_TOKEN_FILE ]] || die "PREDICTION_API_TOKEN_FILE is not readable"
        TOKEN=$(<"$PREDICTION_API_TOKEN_FILE")
    else
        die "set PREDICTION_API_TOKEN or PREDICTION_API_TOKEN_FILE (the service refuses to start without a token)"
    fi
    TOKEN=${TOKEN%%$'\n'*}
    [[ -n $TOKEN ]] || die "the API token is empty"
    SMOKE_TOKEN=${TOKEN%%,*}   # with a list (rotation), the first one
}

# curl with the Authorization header fed through stdin, so the token is not in any argv.
curl_auth() {
    { local xtrace=$-; set +x; } 2>/dev/null   # keep the token out of `bash -x` traces
    printf 'Authorization: %s\n' "$SMOKE_TOKEN" | curl -sS -H @- "$@"
    local rc=$?
    [[ $xtrace == *x* ]] && set -x
    return $rc
}

# "<host>:<port>" of a slot's published API port.
slot_addr() {
    local addr
    addr=$(eng port "$1" "$APP_PORT/tcp" 2>/dev/null | head -n1)
    [[ -n $addr ]] || return 1
    printf '%s' "${addr/0.0.0.0/127.0.0.1}"
}

json_field() {  # json_field FIELD...: first field present in the JSON on stdin
    python3 -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
for name in sys.argv[1:]:
    if isinstance(doc, dict) and doc.get(name) not in (None, ""):
        print(doc[name]); break
else:
    sys.exit(1)' "$@"
}

version_of_answer() { json_field versao_modelo model_version version; }

with_lock() {
    mkdir -p "$STATE_DIR/nginx"
    chmod 0755 "$STATE_DIR/nginx"   # read by nginx (www-data) through the bind mount
    exec 9>"$STATE_DIR/lock"
    flock -n 9 || die "another blue-green operation holds $STATE_DIR/lock"
}

ensure_network() {
    eng network exists "$NETWORK" || eng network create "$NETWORK" >/dev/null
}

write_secret() {  # write_secret SLOT: (re)create the slot's token secret
    local name="$PREFIX-token-$1"
    eng secret rm "$name" >/dev/null 2>&1 || true
    printf '%s' "$TOKEN" | eng secret create "$name" - >/dev/null
}

start_slot() {  # start_slot SLOT IMAGE
    local slot=$1 image=$2 name env_args=() var
    name=$(slot_name "$slot")
    if exists "$name"; then
        log "removing the old $slot container (it held the previous rollback target)"
        eng rm -f -t "$STOP_TIMEOUT" "$name" >/dev/null
    fi
    write_secret "$slot"
    for var in $SLOT_ENV; do
        [[ -n ${!var:-} ]] && env_args+=(--env "$var")
    done
    # shellcheck disable=SC2086  # SLOT_ARGS is a list of arguments on purpose
    eng run -d --name "$name" --network "$NETWORK" --network-alias "$name" \
        --label flightontime.slot="$slot" --label flightontime.image="$image" \
        -p "$BIND::$APP_PORT" \
        --read-only --read-only-tmpfs=false --tmpfs /tmp \
        --cap-drop ALL --security-opt no-new-privileges \
        --secret "$PREFIX-token-$slot,type=mount,uid=1001,gid=1001,mode=0400,target=$SECRET_TARGET" \
        --env PREDICTION_API_TOKEN_FILE="$SECRET_TARGET" \
        "${env_args[@]}" $SLOT_ARGS \
        "$image" >/dev/null 2>&1 \
        || die "could not start $name from $image"
}

show_logs() {  # the container's last log lines, without the access log of our own probes
    log "last lines of $1:"
    local lines="" try
    for try in 1 2 3 4 5 6 7 8 9 10; do
        # podman logs writes the container's stderr to its own stderr: both are the log.
        lines=$(eng logs "$1" 2>&1 | grep -v -e '"logger":"flightontime_server.access"' -e '^time="' | tail -n 15) || true
        [[ -n $lines ]] && break
        sleep 0.2  # a container that just exited: its last lines can reach the log a moment later
    done
    [[ -n $lines ]] && printf '%s\n' "$lines" >&2
    return 0
}

has_healthcheck() {
    [[ -n $(eng inspect --format '{{if .Config.Healthcheck}}{{.Config.Healthcheck.Test}}{{end}}' "$1" 2>/dev/null) ]]
}

# The server verifies its bundles before any worker starts (a bad one ends the container) and
# each worker loads them before it accepts a connection, so the first 200 from /ready means ready.
wait_ready() {  # wait_ready CONTAINER: /ready answers 200 (and the image's HEALTHCHECK passes)
    local name=$1 end=$((SECONDS + READY_TIMEOUT)) addr code hc=0
    has_healthcheck "$name" && hc=1
    while :; do
        if ! running "$name"; then
            show_logs "$name"
            FAIL_REASON="$name exited (code $(eng inspect --format '{{.State.ExitCode}}' "$name")) before becoming ready"
            return 1
        fi
        if addr=$(slot_addr "$name"); then
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$addr/ready" || true)
            if [[ $code == 200 ]] && { ((hc == 0)) || eng healthcheck run "$name" >/dev/null 2>&1; }; then
                return 0
            fi
        fi
        if ((SECONDS >= end)); then
            show_logs "$name"
            FAIL_REASON="$name was not ready after ${READY_TIMEOUT}s (last /ready answer: ${code:-none})"
            return 1
        fi
        sleep 0.5
    done
}

smoke_test() {  # smoke_test CONTAINER: /predict through the slot; sets SLOT_VERSION
    local name=$1 addr body code version
    addr=$(slot_addr "$name") || { FAIL_REASON="$name has no published port"; return 1; }
    body=$(curl_auth --max-time 10 -w '\n%{http_code}' -H 'Content-Type: application/json' \
        -d "$SMOKE_BODY" "http://$addr/predict" 2>/dev/null) || { FAIL_REASON="smoke test: /predict on $name did not answer"; return 1; }
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [[ $code == 200 ]] || { FAIL_REASON="smoke test: /predict on $name answered HTTP $code"; return 1; }
    python3 -c '
import json, sys
doc = json.loads(sys.argv[1])
assert doc["previsao"] in (0, 1), "previsao"
assert 0.0 <= float(doc["probabilidade"]) <= 1.0, "probabilidade"' "$body" 2>/dev/null \
        || { FAIL_REASON="smoke test: /predict on $name answered without a valid previsao/probabilidade"; return 1; }
    version=$(version_of_answer <<<"$body") || { FAIL_REASON="smoke test: the answer of $name carries no model version"; return 1; }
    SLOT_VERSION=$version
}

write_upstream() {  # write_upstream SLOT: atomically replace the proxy's upstream file
    local slot=$1 tmp="$STATE_DIR/nginx/.upstream.conf.new"
    cat >"$tmp" <<EOF
# Written by deploy/blue-green.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ): traffic goes to $slot.
upstream flightontime_active {
    server $(slot_name "$slot"):$APP_PORT max_fails=0;
    keepalive 32;
}
map "" \$flightontime_slot { default "$slot"; }
EOF
    chmod 0644 "$tmp"
    mv -f "$tmp" "$STATE_DIR/nginx/upstream.conf"
}

start_proxy() {  # start_proxy SLOT: first deployment
    write_upstream "$1"
    eng image exists "$PROXY_IMAGE" || { FAIL_REASON="proxy image $PROXY_IMAGE not found (make proxy-image)"; return 1; }
    eng rm -f "$PROXY" >/dev/null 2>&1 || true
    eng run -d --name "$PROXY" --network "$NETWORK" -p "$BIND:$PORT:8080" \
        --read-only --read-only-tmpfs=false --tmpfs /tmp --cap-drop ALL \
        --security-opt no-new-privileges \
        -v "$STATE_DIR/nginx:/etc/nginx/bg:ro" \
        "$PROXY_IMAGE" >/dev/null 2>&1 || { FAIL_REASON="could not start the proxy $PROXY"; return 1; }
    local end=$((SECONDS + 30))
    until curl -fsS -o /dev/null --max-time 2 "http://$BIND:$PORT/nginx-health" 2>/dev/null; do
        if ! running "$PROXY" || ((SECONDS >= end)); then
            eng logs --tail 20 "$PROXY" >&2 || true
            FAIL_REASON="the proxy did not answer on $BIND:$PORT"
            return 1
        fi
        sleep 0.3
    done
}

# Which slot answered through the proxy (X-FlightOnTime-Slot header of GET /health).
proxy_slot() {
    curl -sS -o /dev/null -D - --max-time 2 "http://$BIND:$PORT/health" 2>/dev/null \
        | tr -d '\r' | awk -F': ' 'tolower($1)=="x-flightontime-slot"{print $2}'
}

switch_proxy() {  # switch_proxy SLOT: graceful reload, then wait until the proxy serves SLOT
    local slot=$1 previous=$2 t0 ok=0 end
    write_upstream "$slot"
    if ! eng exec "$PROXY" nginx -e stderr -t -q >/dev/null 2>&1; then
        write_upstream "$previous"
        FAIL_REASON="nginx refused the new upstream (nginx -t)"
        return 1
    fi
    t0=$(now_ms)
    eng exec "$PROXY" nginx -e stderr -s reload >/dev/null 2>&1 || { write_upstream "$previous"; FAIL_REASON="nginx reload failed"; return 1; }
    end=$((SECONDS + VERIFY_TIMEOUT))
    SWITCH_MS=""
    while ((ok < 5)); do   # five answers in a row from the new slot
        if [[ $(proxy_slot) == "$slot" ]]; then
            ok=$((ok + 1))
            [[ -n $SWITCH_MS ]] || SWITCH_MS=$(($(now_ms) - t0))   # reload -> first answer from the new slot
        else
            ok=0
        fi
        ((SECONDS < end)) || { FAIL_REASON="the proxy still did not answer from $slot after ${VERIFY_TIMEOUT}s"; return 1; }
        ((ok >= 5)) || sleep 0.05
    done
    CONFIRM_MS=$(($(now_ms) - t0))
    log "proxy reloaded: first answer from $slot after ${SWITCH_MS} ms, confirmed after ${CONFIRM_MS} ms"
}

verify_proxy() {  # verify_proxy VERSION: /predict through the proxy answers from VERSION
    local want=$1 body version
    body=$(curl_auth --max-time 10 -f -H 'Content-Type: application/json' -d "$SMOKE_BODY" \
        "http://$BIND:$PORT/predict" 2>/dev/null) || { FAIL_REASON="/predict through the proxy failed"; return 1; }
    version=$(version_of_answer <<<"$body") || { FAIL_REASON="/predict through the proxy carries no model version"; return 1; }
    [[ $version == "$want" ]] || { FAIL_REASON="/predict through the proxy answered version $version, expected $want"; return 1; }
}

# Wait until nginx workers from before the reload have finished their requests and exited.
drain_proxy() {
    local end=$((SECONDS + DRAIN_TIMEOUT)) n
    while :; do
        n=$(eng exec "$PROXY" sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" "\n" | grep -c "is shutting dow[n]"' 2>/dev/null || true)
        [[ ${n:-0} == 0 ]] && return 0
        ((SECONDS < end)) || { log "warning: $n old nginx worker(s) still draining after ${DRAIN_TIMEOUT}s"; return 0; }
        sleep 0.2
    done
}

refuse() {  # refuse SLOT: the new version gets no traffic; say why and exit non-zero
    local name
    name=$(slot_name "$1")
    eng rm -f -t 5 "$name" >/dev/null 2>&1 || true
    eng secret rm "$PREFIX-token-$1" >/dev/null 2>&1 || true
    die "refused: $FAIL_REASON. $name was removed; traffic stays on ${2:-nothing} (no change)."
}

# Bring SLOT (container already started) into service instead of OLD (may be empty).
promote() {  # promote SLOT OLD
    local slot=$1 old=$2 name
    name=$(slot_name "$slot")
    log "waiting for $name to be ready (timeout ${READY_TIMEOUT}s)"
    wait_ready "$name" || return 1
    smoke_test "$name" || return 1
    log "$name is ready; smoke test passed (model version $SLOT_VERSION)"
    if [[ -z $old ]] || ! running "$PROXY"; then
        start_proxy "$slot" || return 1
        SWITCH_MS=0
    else
        switch_proxy "$slot" "$old" || return 1
    fi
    if ! verify_proxy "$SLOT_VERSION"; then
        if [[ -n $old ]] && running "$(slot_name "$old")"; then
            write_upstream "$old"
            eng exec "$PROXY" nginx -e stderr -s reload >/dev/null 2>&1 || true
            log "switched back to $old"
        fi
        return 1
    fi
    printf '%s\n' "$slot" >"$STATE_DIR/active"
    printf '%s\n' "$SLOT_VERSION" >"$STATE_DIR/$slot.version"
    log "switched: the proxy serves $slot (model version $SLOT_VERSION); switch took ${SWITCH_MS} ms"
    if [[ -n $old ]] && exists "$(slot_name "$old")"; then
        drain_proxy
        log "stopping $(slot_name "$old") (kept for rollback)"
        eng stop -t "$STOP_TIMEOUT" "$(slot_name "$old")" >/dev/null 2>&1 || true
    fi
}

cmd_deploy() {
    local image=${1:-} active target started
    [[ -n $image ]] || die "usage: $0 deploy <image>"
    command -v python3 >/dev/null || die "python3 is needed on the host (JSON checks)"
    load_token
    with_lock
    eng image exists "$image" || die "image $image not found locally"
    ensure_network
    active=$(active_slot)
    if [[ -n $active ]] && ! running "$(slot_name "$active")"; then
        log "warning: the active slot $active is not running"
    fi
    target=blue
    [[ -n $active ]] && target=$(other_slot "$active")
    started=$(now_ms)
    log "deploying $image to $target (serving now: ${active:-nothing})"
    start_slot "$target" "$image"
    FAIL_REASON=""
    promote "$target" "$active" || refuse "$target" "$active"
    log "done in $(($(now_ms) - started)) ms"
    printf 'deployed %s to %s (model version %s); switch %s ms\n' "$image" "$target" "$SLOT_VERSION" "$SWITCH_MS"
}

cmd_rollback() {
    local active previous name
    command -v python3 >/dev/null || die "python3 is needed on the host (JSON checks)"
    load_token
    with_lock
    active=$(active_slot)
    [[ -n $active ]] || die "nothing deployed yet"
    previous=$(other_slot "$active")
    name=$(slot_name "$previous")
    exists "$name" || die "nothing to roll back to: $name does not exist"
    log "rolling back from $active to $previous ($(eng inspect --format '{{index .Config.Labels "flightontime.image"}}' "$name"))"
    running "$name" || eng start "$name" >/dev/null
    FAIL_REASON=""
    if ! promote "$previous" "$active"; then
        eng stop -t 5 "$name" >/dev/null 2>&1 || true
        die "rollback refused: $FAIL_REASON. Traffic stays on $active."
    fi
    printf 'rolled back to %s (model version %s); switch %s ms\n' "$previous" "$SLOT_VERSION" "$SWITCH_MS"
}

slot_version() {  # model version a running slot serves (flightontime_model_info on /metrics, no token)
    local addr
    addr=$(slot_addr "$1") || return 1
    curl -fsS --max-time 2 "http://$addr/metrics" 2>/dev/null \
        | sed -n 's/^flightontime_model_info{.*version="\([^"]*\)".*/\1/p' | head -n1 | grep .
}

cmd_status() {
    local active slot name state image version role proxy_state
    active=$(active_slot)
    if exists "$PROXY"; then
        proxy_state=$(eng inspect --format '{{.State.Status}}' "$PROXY")
        printf '%-7s %-8s %s -> %s\n' proxy "$proxy_state" "$BIND:$PORT" "${active:-none}"
    else
        printf '%-7s %-8s\n' proxy absent
    fi
    for slot in blue green; do
        name=$(slot_name "$slot")
        if ! exists "$name"; then
            printf '%-7s %-8s\n' "$slot" absent
            continue
        fi
        state=$(eng inspect --format '{{.State.Status}}' "$name")
        image=$(eng inspect --format '{{index .Config.Labels "flightontime.image"}}' "$name")
        if running "$name"; then
            version=$(slot_version "$name" || echo "?")
        else   # last version this slot served, as recorded when it was promoted
            version=$(cat "$STATE_DIR/$slot.version" 2>/dev/null || echo "-")
        fi
        role=standby
        [[ $slot == "$active" ]] && role=serving
        [[ $slot != "$active" && $state != running ]] && role="stopped (rollback target)"
        printf '%-7s %-8s image=%s model=%s %s\n' "$slot" "$state" "$image" "$version" "$role"
    done
}

cmd_down() {
    with_lock
    local name
    for name in "$PROXY" "$(slot_name blue)" "$(slot_name green)"; do
        exists "$name" && { eng rm -f -t "$STOP_TIMEOUT" "$name" >/dev/null 2>&1 || log "warning: could not remove $name"; }
    done
    for name in "$PREFIX-token-blue" "$PREFIX-token-green"; do
        eng secret rm "$name" >/dev/null 2>&1 || true
    done
    if eng network exists "$NETWORK"; then
        eng network rm "$NETWORK" >/dev/null 2>&1 || log "warning: could not remove the network $NETWORK"
    fi
    rm -f "$STATE_DIR/active" "$STATE_DIR"/*.version "$STATE_DIR/nginx/upstream.conf"
    log "removed proxy, slots, secrets and network ($PREFIX)"
}

case ${1:-} in
    deploy) shift; cmd_deploy "$@" ;;
    rollback) cmd_rollback ;;
    status) cmd_status ;;
    down) cmd_down ;;
    *) printf 'usage: %s deploy <image> | rollback | status | down\n' "$0" >&2; exit 2 ;;
esac
