#!/usr/bin/env bash
# Test servers for nonrel: a MongoDB-compatible server (SecantusDB, from PyPI), a Redis
# server and a six-node Redis cluster (Debian's redis-server), Google's Firestore emulator in
# Datastore mode (gcloud), and an Elasticsearch-compatible server (osmem-server, from PyPI).
#
#   scripts/servers.sh start    start them all (or use MONGODB_URI, REDIS_URL,
#                               REDIS_CLUSTER_URLS, DATASTORE_EMULATOR_HOST, ELASTICSEARCH_URL
#                               where set), write .servers/env (export NAME=... per server)
#   scripts/servers.sh stop     stop what start started; keep the venv for reuse
#   scripts/servers.sh status   show the pids and .servers/env
#
# Executed, it leaves the environment in .servers/env (`source .servers/env`).
# Sourced (`source scripts/servers.sh start`), it also exports it into the calling shell.
# State lives in .servers/ at the repository root (add it to .gitignore).

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    # Sourced: run in a child bash so `set -e` and `exit` never touch the caller's shell.
    _nonrel_servers_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    if bash "${BASH_SOURCE[0]}" "$@"; then
        # shellcheck source=/dev/null
        if [[ "${1:-}" == start ]]; then source "$_nonrel_servers_root/.servers/env"; fi
        unset _nonrel_servers_root
    else
        unset _nonrel_servers_root
        return 1
    fi
    return 0
fi

set -euo pipefail

SECANTUS_VERSION="0.7.0b3" # newest on PyPI when pinned; a prerelease, so always pin exactly
START_TIMEOUT="${SERVERS_START_TIMEOUT:-30}" # seconds to wait for each server

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.servers"
VENV="$STATE/venv"

say() { echo "servers.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
    if [[ $APT_UPDATED == 0 ]]; then
        say "apt-get update (output in .servers/apt.log)"
        DEBIAN_FRONTEND=noninteractive apt-get update >>"$STATE/apt.log" 2>&1 ||
            { tail -n 20 "$STATE/apt.log" >&2; die "apt-get update failed"; }
        APT_UPDATED=1
    fi
    say "apt-get install -y $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@" >>"$STATE/apt.log" 2>&1 ||
        { tail -n 20 "$STATE/apt.log" >&2; die "apt-get install $* failed"; }
}

free_port() {
    command -v python3 >/dev/null || apt_install python3 python3-venv >&2
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

redis_ping() {
    if command -v redis-cli >/dev/null; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && read -r -t 2 line <&3 &&
            [[ "$line" == "+PONG"* ]]) 2>/dev/null
    fi
}

# is_ours NAME: the pid in $STATE/NAME.pid is alive and still runs the program we started.
is_ours() {
    local pidfile="$STATE/$1.pid" pattern="$2" pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

stop_one() { # stop_one NAME PATTERN
    local name="$1" pid i
    if is_ours "$name" "$2"; then
        pid="$(cat "$STATE/$name.pid")"
        say "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$STATE/$name.pid"
}

# wait_ready NAME PID CHECK PORT: poll CHECK PORT until it succeeds, the process dies, or time runs out.
wait_ready() {
    local name="$1" pid="$2" check="$3" port="$4" deadline=$((SECONDS + START_TIMEOUT))
    until "$check" "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "$name exited during start-up; last lines of .servers/$name.log:"
            tail -n 40 "$STATE/$name.log" >&2 || true
            cmd_stop
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            say "$name not ready on 127.0.0.1:$port after ${START_TIMEOUT}s; last lines of .servers/$name.log:"
            tail -n 40 "$STATE/$name.log" >&2 || true
            stop_one "$name" .
            cmd_stop
            exit 1
        fi
        sleep 0.2
    done
}

ensure_venv() {
    if [[ -x "$VENV/bin/secantusd-py" ]] &&
        [[ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("secantusdb"))' 2>/dev/null)" == "$SECANTUS_VERSION" ]]; then
        return 0
    fi
    command -v python3 >/dev/null || apt_install python3 python3-venv
    if [[ ! -x "$VENV/bin/python" ]]; then
        say "creating virtualenv .servers/venv"
        if ! python3 -m venv "$VENV" >&2; then
            rm -rf "$VENV"
            apt_install python3-venv
            python3 -m venv "$VENV" >&2
        fi
    fi
    say "pip install secantusdb==$SECANTUS_VERSION"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "secantusdb==$SECANTUS_VERSION" >&2 ||
        die "pip install secantusdb==$SECANTUS_VERSION failed"
}

start_mongo() {
    local port pid
    ensure_venv
    port="$(free_port)"
    say "starting SecantusDB $SECANTUS_VERSION on 127.0.0.1:$port (log .servers/mongo.log)"
    # cwd .servers: secantusd-py looks for ./secantusd.toml; keep the repository's files out of it.
    # TMPDIR: ':memory:' is a temp dir, removed on SIGTERM; one left by a crash goes with the next start.
    rm -rf "$STATE/tmp" && mkdir -p "$STATE/tmp"
    (cd "$STATE" && TMPDIR="$STATE/tmp" exec setsid "$VENV/bin/secantusd-py" --host 127.0.0.1 --port "$port" \
        --storage-path :memory: </dev/null >"$STATE/mongo.log" 2>&1) &
    pid=$!
    echo "$pid" >"$STATE/mongo.pid"
    wait_ready mongo "$pid" port_open "$port"
    MONGO_URI="mongodb://127.0.0.1:$port/"
}

start_redis() {
    local port pid
    command -v redis-server >/dev/null || apt_install redis-server
    port="$(free_port)"
    say "starting redis-server on 127.0.0.1:$port (log .servers/redis.log)"
    (cd "$STATE" && exec setsid redis-server --bind 127.0.0.1 --port "$port" --save '' \
        --appendonly no --daemonize no --dir "$STATE" </dev/null >"$STATE/redis.log" 2>&1) &
    pid=$!
    echo "$pid" >"$STATE/redis.pid"
    wait_ready redis "$pid" redis_ping "$port"
    REDIS_URI="redis://127.0.0.1:$port/"
}

# A six-node Redis cluster (three primaries, three replicas) for the Redis backend's cluster
# tests; REDIS_CLUSTER_URLS (comma-separated node URLs) if set is used instead.
start_redis_cluster() {
    local i port bus pid nodes=() urls=""
    command -v redis-server >/dev/null || apt_install redis-server
    command -v redis-cli >/dev/null || apt_install redis-tools
    for i in 0 1 2 3 4 5; do
        port="$(free_port)"
        bus="$(free_port)"
        rm -rf "$STATE/rcluster$i" && mkdir -p "$STATE/rcluster$i"
        (cd "$STATE/rcluster$i" && exec setsid redis-server --bind 127.0.0.1 --port "$port" --cluster-enabled yes \
            --cluster-port "$bus" --cluster-config-file nodes.conf --save '' --appendonly no --daemonize no \
            --dir "$STATE/rcluster$i" </dev/null >"$STATE/rcluster$i.log" 2>&1) &
        pid=$!
        echo "$pid" >"$STATE/rcluster$i.pid"
        wait_ready "rcluster$i" "$pid" redis_ping "$port"
        nodes+=("127.0.0.1:$port")
        urls+="redis://127.0.0.1:$port/,"
    done
    say "creating the Redis cluster on ${nodes[*]}"
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >>"$STATE/rcluster.log" 2>&1 ||
        { tail -n 20 "$STATE/rcluster.log" >&2; die "redis-cli --cluster create failed"; }
    for ((i = 0; i < 150; i++)); do
        [[ "$(redis-cli -h 127.0.0.1 -p "${nodes[0]#*:}" cluster info 2>/dev/null | tr -d '\r' | grep cluster_state)" == cluster_state:ok ]] && break
        sleep 0.2
    done
    REDIS_CLUSTER="${urls%,}"
}
stop_redis_cluster() { local i; for i in 0 1 2 3 4 5; do stop_one "rcluster$i" redis-server; done; }

# --- Datastore: the Firestore emulator in Datastore mode (gcloud, Java). DATASTORE_EMULATOR_HOST
# set by the caller is used as it is; otherwise the emulator starts on a free port in its own
# process group (gcloud starts Java under it), stopped as a group.
start_datastore() {
    local port pid
    if [[ -n "${DATASTORE_EMULATOR_HOST:-}" ]]; then
        say "DATASTORE_EMULATOR_HOST is set; using it, starting no Datastore emulator"
        DATASTORE_HOST="$DATASTORE_EMULATOR_HOST"
        return
    fi
    command -v gcloud >/dev/null || apt_install google-cloud-cli google-cloud-cli-firestore-emulator
    command -v java >/dev/null || apt_install default-jre-headless
    port="$(free_port)"
    say "starting the Firestore emulator (Datastore mode) on 127.0.0.1:$port (log .servers/datastore.log)"
    (cd "$STATE" && exec setsid gcloud emulators firestore start --database-mode=datastore-mode \
        --host-port="127.0.0.1:$port" </dev/null >"$STATE/datastore.log" 2>&1) &
    pid=$!
    echo "$pid" >"$STATE/datastore.pid"
    wait_ready datastore "$pid" datastore_ready "$port"
    DATASTORE_HOST="127.0.0.1:$port"
}

datastore_ready() { grep -q "is now running" "$STATE/datastore.log" 2>/dev/null && port_open "$1"; }

stop_datastore() {
    local pid
    if is_ours datastore gcloud; then
        pid="$(cat "$STATE/datastore.pid")"
        say "stopping datastore (process group $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || true
        sleep 1
        kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/datastore.pid"
}

# Elasticsearch/OpenSearch: osmem-server (PyPI), an Elasticsearch-compatible server in one
# binary, in its own venv; ELASTICSEARCH_URL set by the caller is used instead (start_elastic_or_url).
OSMEM_VERSION="0.1.6" # pinned: the emulator's answers are what the tests were measured against
OSMEM_VENV="$STATE/osmem-venv"
osmem_bin() { "$OSMEM_VENV/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())' 2>/dev/null; }
elastic_ping() { (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET / HTTP/1.0\r\n\r\n' >&3 && read -r -t 2 line <&3 && [[ "$line" == *" 200"* ]]) 2>/dev/null; }
start_elastic() {
    local port pid bin
    if [[ "$("$OSMEM_VENV/bin/python" -c 'from importlib.metadata import version; print(version("osmem-server"))' 2>/dev/null)" != "$OSMEM_VERSION" ]]; then
        command -v python3 >/dev/null || apt_install python3 python3-venv
        [[ -x "$OSMEM_VENV/bin/python" ]] || python3 -m venv "$OSMEM_VENV" >&2 || { rm -rf "$OSMEM_VENV"; apt_install python3-venv; python3 -m venv "$OSMEM_VENV" >&2; }
        say "pip install osmem-server==$OSMEM_VERSION"
        "$OSMEM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check "osmem-server==$OSMEM_VERSION" >&2 || die "pip install osmem-server==$OSMEM_VERSION failed"
    fi
    bin="$(osmem_bin)" || die "osmem-server has no binary for this platform"
    port="$(free_port)"
    say "starting osmem-server $OSMEM_VERSION on 127.0.0.1:$port (log .servers/elastic.log)"
    (cd "$STATE" && exec setsid "$bin" -addr "127.0.0.1:$port" -no-stdin-watch -no-ja </dev/null >"$STATE/elastic.log" 2>&1) &
    pid=$!
    echo "$pid" >"$STATE/elastic.pid"
    wait_ready elastic "$pid" elastic_ping "$port"
    ELASTIC_URI="http://127.0.0.1:$port"
}
start_elastic_or_url() { if [[ -n "${ELASTICSEARCH_URL:-}" ]]; then say "ELASTICSEARCH_URL is set; using it, starting no server"; ELASTIC_URI="$ELASTICSEARCH_URL"; else start_elastic; fi; }

cmd_stop() {
    stop_one mongo secantusd
    stop_one redis redis-server
    stop_redis_cluster
    stop_datastore
    stop_one elastic osmem-server
    rm -f "$STATE/env"
}

cmd_start() {
    mkdir -p "$STATE"
    # Values that came from our own earlier .servers/env are not the caller's servers: forget them.
    if [[ -f "$STATE/env" ]]; then
        local old
        # shellcheck source=/dev/null
        old="$(unset MONGODB_URI REDIS_URL; source "$STATE/env"; printf '%s\n%s' "${MONGODB_URI:-}" "${REDIS_URL:-}")"
        [[ "${MONGODB_URI:-}" == "$(sed -n 1p <<<"$old")" ]] && unset MONGODB_URI
        [[ "${REDIS_URL:-}" == "$(sed -n 2p <<<"$old")" ]] && unset REDIS_URL
        [[ -n "${REDIS_CLUSTER_URLS:-}" ]] && grep -qF "$REDIS_CLUSTER_URLS" "$STATE/env" && unset REDIS_CLUSTER_URLS
        [[ "${DATASTORE_EMULATOR_HOST:-}" == "$(unset DATASTORE_EMULATOR_HOST; source "$STATE/env"; echo "${DATASTORE_EMULATOR_HOST:-}")" ]] && unset DATASTORE_EMULATOR_HOST
        [[ "${ELASTICSEARCH_URL:-}" == "$(unset ELASTICSEARCH_URL; source "$STATE/env"; echo "${ELASTICSEARCH_URL:-}")" ]] && unset ELASTICSEARCH_URL
    fi
    cmd_stop # a re-run restarts cleanly
    if [[ -n "${MONGODB_URI:-}" ]]; then
        say "MONGODB_URI is set; using it, starting no MongoDB server"
        MONGO_URI="$MONGODB_URI"
    else
        start_mongo
    fi
    if [[ -n "${REDIS_URL:-}" ]]; then
        say "REDIS_URL is set; using it, starting no Redis server"
        REDIS_URI="$REDIS_URL"
    else
        start_redis
    fi
    if [[ -n "${REDIS_CLUSTER_URLS:-}" ]]; then REDIS_CLUSTER="$REDIS_CLUSTER_URLS"; else start_redis_cluster; fi
    start_datastore
    start_elastic_or_url
    printf 'export MONGODB_URI=%q\nexport REDIS_URL=%q\n' "$MONGO_URI" "$REDIS_URI" >"$STATE/env"
    printf 'export REDIS_CLUSTER_URLS=%q\n' "$REDIS_CLUSTER" >>"$STATE/env"
    printf 'export DATASTORE_EMULATOR_HOST=%q\n' "$DATASTORE_HOST" >>"$STATE/env"
    printf 'export ELASTICSEARCH_URL=%q\n' "$ELASTIC_URI" >>"$STATE/env"
    say "ready: MONGODB_URI=$MONGO_URI REDIS_URL=$REDIS_URI REDIS_CLUSTER_URLS=$REDIS_CLUSTER DATASTORE_EMULATOR_HOST=$DATASTORE_HOST ELASTICSEARCH_URL=$ELASTIC_URI (source .servers/env)"
}

cmd_status() {
    local name
    for name in mongo:secantusd redis:redis-server rcluster0:redis-server elastic:osmem-server; do
        if is_ours "${name%%:*}" "${name#*:}"; then
            say "${name%%:*} running, pid $(cat "$STATE/${name%%:*}.pid")"
        else
            say "${name%%:*} not running"
        fi
    done
    is_ours datastore gcloud && say "datastore running, pid $(cat "$STATE/datastore.pid")" || say "datastore not running"
    [[ -f "$STATE/env" ]] && cat "$STATE/env"
    return 0
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) die "usage: scripts/servers.sh start|stop|status" ;;
esac
