#!/usr/bin/env bash
# End-to-end comparison of redmite with redis-server on this machine:
#   bench/run.sh            # needs target/release/redmite (cargo build --release)
# 1. redis-benchmark -q -n 200000 -c 50 -t set,get,incr,lpush,lpop with -P 1 and -P 16
#    against both servers, one after the other, in the same run.
# 2. Memory: 1,000,000 exact keys `key:N` with a 16-byte value, loaded with
#    `redis-cli --pipe`, then INFO memory used_memory and the process RSS (VmRSS).
# Prints markdown tables with redmite/redis ratios. Results go in BENCHMARKS.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-200000}
KEYS=${KEYS:-1000000}
TESTS=set,get,incr,lpush,lpop

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

wait_ping() {
    local port=$1
    for _ in $(seq 1 500); do
        if [[ $(redis-cli -p "$port" PING 2>/dev/null) == PONG ]]; then return 0; fi
        sleep 0.02
    done
    echo "server on port $port did not start" >&2
    return 1
}

redis_port=$(free_port)
redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$redis_port" \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
redmite_port=$(free_port)
"$REDMITE_BIN" --port "$redmite_port" --bind 127.0.0.1 >"$work/redmite.log" 2>&1 &
redmite_pid=$!
pids+=("$redmite_pid")
wait_ping "$redis_port"
wait_ping "$redmite_port"

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
echo

# Throughput: `redis-benchmark -q` prints `SET: 123.45 requests per second, ...`.
# A test redmite does not implement yet gets error replies, which redis-benchmark
# counts as completed requests; it is probed first and reported as not implemented.
declare -A rps
for pipeline in 1 16; do
    for name in redis redmite; do
        port=${name}_port
        port=${!port}
        redis-cli -p "$port" FLUSHALL >/dev/null
        out=$(redis-benchmark -p "$port" -q -n "$REQUESTS" -c 50 -t "$TESTS" -P "$pipeline" 2>&1 |
            tr '\r' '\n' | grep 'requests per second' || true)
        while read -r test value _; do
            rps[$name,$pipeline,${test%:}]=$value
        done <<<"$out"
    done
done

implemented() {
    local port=$1 test=$2 reply
    case $test in
        LPUSH) reply=$(redis-cli -p "$port" LPUSH bench:probe x 2>&1) ;;
        LPOP) reply=$(redis-cli -p "$port" LPOP bench:probe 2>&1) ;;
        *) return 0 ;;
    esac
    [[ $reply != *"unknown command"* && $reply != ERR* ]]
}

echo "| test | pipeline | redis req/s | redmite req/s | redmite/redis |"
echo "|---|---|---|---|---|"
for pipeline in 1 16; do
    for test in SET GET INCR LPUSH LPOP; do
        r=${rps[redis,$pipeline,$test]:-?}
        m=${rps[redmite,$pipeline,$test]:-?}
        if ! implemented "$redmite_port" "$test"; then
            echo "| $test | $pipeline | $r | not implemented yet | |"
            continue
        fi
        ratio=$(python3 -c "print(f'{float(\"$m\")/float(\"$r\"):.2f}')" 2>/dev/null || echo "?")
        echo "| $test | $pipeline | $r | $m | $ratio |"
    done
done
echo

# Memory: exact keys key:0 .. key:N-1, each with a 16-byte value.
python3 - "$KEYS" >"$work/load.resp" <<'EOF'
import sys
out = sys.stdout.buffer
value = b"0123456789abcdef"
for i in range(int(sys.argv[1])):
    key = b"key:%d" % i
    out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$16\r\n%s\r\n" % (len(key), key, value))
EOF

used_memory() {
    redis-cli -p "$1" INFO memory | tr -d '\r' | sed -n 's/^used_memory://p'
}
rss_kb() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}

declare -A mem
for name in redis redmite; do
    port=${name}_port
    port=${!port}
    pid=${name}_pid
    pid=${!pid}
    redis-cli -p "$port" FLUSHALL >/dev/null
    base_used=$(used_memory "$port")
    base_rss=$(rss_kb "$pid")
    redis-cli -p "$port" --pipe <"$work/load.resp" >"$work/$name.pipe" 2>&1
    dbsize=$(redis-cli -p "$port" DBSIZE)
    if [[ $dbsize != "$KEYS" ]]; then
        echo "$name: DBSIZE $dbsize after loading $KEYS keys" >&2
        cat "$work/$name.pipe" >&2
        exit 1
    fi
    mem[$name,used]=$(used_memory "$port")
    mem[$name,rss]=$(($(rss_kb "$pid") * 1024))
    mem[$name,base_used]=$base_used
    mem[$name,base_rss]=$((base_rss * 1024))
done

mib() { python3 -c "print(f'{$1/1048576:.1f}')"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "| $KEYS keys, 16-byte values | redis | redmite | redmite/redis |"
echo "|---|---|---|---|"
echo "| used_memory (MiB) | $(mib "${mem[redis,used]}") | $(mib "${mem[redmite,used]}") | $(ratio "${mem[redmite,used]}" "${mem[redis,used]}") |"
echo "| RSS (MiB) | $(mib "${mem[redis,rss]}") | $(mib "${mem[redmite,rss]}") | $(ratio "${mem[redmite,rss]}" "${mem[redis,rss]}") |"
echo "| RSS before loading (MiB) | $(mib "${mem[redis,base_rss]}") | $(mib "${mem[redmite,base_rss]}") | |"
r_per=$(( (mem[redis,used] - mem[redis,base_used]) / KEYS ))
m_per=$(( (mem[redmite,used] - mem[redmite,base_used]) / KEYS ))
echo "| used_memory per key (bytes) | $r_per | $m_per | $(ratio "$m_per" "$r_per") |"
