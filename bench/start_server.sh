# Sourced by the bench scripts: `start_server BIN LOG [SERVE FLAGS...]` starts BIN serve on a
# free-looking loopback port, stops it when the script exits, and returns once its health
# check answers; it sets $server (the PID) and $port. HEALTH_BIN probes (default BIN).
start_server() {
    local bin=$1 log=$2
    shift 2
    port=$(( 20000 + RANDOM % 20000 ))
    "$bin" serve --listen "127.0.0.1:$port" "$@" 2>"$log" &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
    for _ in $(seq 100); do
        "${HEALTH_BIN:-$bin}" health --server "http://127.0.0.1:$port" >/dev/null 2>&1 && return
        sleep 0.2
    done
    echo "the server did not come up; its log: $log" >&2
    exit 1
}
