# Shared by the bench/ scripts (sourced, not run): a scratch directory and the servers
# started into `pids`, both removed on exit, and the few helpers every script needs.

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_ping PORT [HOST]: polls until the server answers PING (10 s at most).
wait_ping() {
    local port=$1 host=${2:-127.0.0.1}
    for _ in $(seq 1 500); do
        if [[ $(redis-cli -h "$host" -p "$port" PING 2>/dev/null) == PONG ]]; then return 0; fi
        sleep 0.02
    done
    echo "server on $host:$port did not start" >&2
    return 1
}

used_memory() {
    redis-cli -p "$1" INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p'
}
mib() { python3 -c "print(f'{$1/1048576:.1f}')"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

# start_pair: redis-server and $REDMITE_BIN side by side on free loopback ports
# ($redis_port, $redmite_port), both answering PING, then the run's header lines.
start_pair() {
    redis_port=$(free_port)
    redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$redis_port" >"$work/redis.log" 2>&1 &
    pids+=($!)
    redmite_port=$(free_port)
    # Without the peer and stats ports, which another node may hold (8101, 22222).
    "$REDMITE_BIN" --port "$redmite_port" --bind 127.0.0.1 --dyn-listen none --stats-listen none >"$work/redmite.log" 2>&1 &
    pids+=($!)
    wait_ping "$redis_port"
    wait_ping "$redmite_port"

    echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
    echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}
