#!/usr/bin/env bash
# End-to-end comparison of redmite with redis-server on this machine:
#   bench/run.sh            # needs target/release/redmite (cargo build --release)
# 1. redis-benchmark -q -n 200000 -c 50 -t set,get,incr,lpush,rpush,lpop,rpop,sadd,
#    hset,spop,zadd,zpopmin,lrange_100,lrange_600 with -P 1 and -P 16 against both
#    servers, one after the other, in the same run.
# 2. Memory: 1,000,000 exact keys `key:N` with a 16-byte value, loaded with
#    `redis-cli --pipe`, then INFO memory used_memory and the process RSS (VmRSS).
# 3. Memory of small collections, one type at a time after FLUSHALL + MEMORY PURGE:
#    100,000 hashes of 10 fields, 100,000 sets of 10 members, 100,000 sorted sets of
#    10 members, loaded with `redis-cli --pipe`; used_memory and VmRSS again.
# Prints markdown tables with redmite/redis ratios. Results go in BENCHMARKS.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-200000}
KEYS=${KEYS:-1000000}
COLLECTIONS=${COLLECTIONS:-100000}
TESTS=set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600
# The names redis-benchmark -q prints for them, in its order.
NAMES=(SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD ZPOPMIN LRANGE_100 LRANGE_600)

# shellcheck source=bench/lib.sh
source bench/lib.sh # the scripts run from the repository root (cd above)

redis_port=$(free_port)
redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$redis_port" \
    >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
redmite_port=$(free_port)
"$REDMITE_BIN" --port "$redmite_port" --bind 127.0.0.1 --dyn-listen none --stats-listen none >"$work/redmite.log" 2>&1 &
redmite_pid=$!
pids+=("$redmite_pid")
wait_ping "$redis_port"
wait_ping "$redmite_port"

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
echo

# Throughput: `redis-benchmark -q` prints `SET: 123.45 requests per second, ...` and
# `LRANGE_100 (first 100 elements): ...`; its `LPUSH (needed to benchmark LRANGE)`
# fill-up line is not a result. A test redmite does not implement gets error replies,
# which redis-benchmark counts as completed requests, so the command is looked up in
# COMMAND INFO first and reported as not implemented when it is missing.
declare -A rps
result_re='^([A-Z0-9_]+)( \([^)]*\))?: ([0-9.]+) requests per second'
for pipeline in 1 16; do
    for name in redis redmite; do
        port=${name}_port
        port=${!port}
        redis-cli -p "$port" FLUSHALL >/dev/null
        while IFS= read -r line; do
            [[ $line == *needed* ]] && continue
            if [[ $line =~ $result_re ]]; then
                rps[$name,$pipeline,${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
            fi
        done < <(redis-benchmark -p "$port" -q -n "$REQUESTS" -c 50 -t "$TESTS" -P "$pipeline" 2>&1 |
            tr '\r' '\n')
    done
done

implemented() {
    local port=$1 cmd=${2%%_*}
    [[ -n $(redis-cli -p "$port" COMMAND INFO "$cmd" 2>/dev/null | tr -d '\n') ]]
}

echo "| test | pipeline | redis req/s | redmite req/s | redmite/redis |"
echo "|---|---|---|---|---|"
for pipeline in 1 16; do
    for test in "${NAMES[@]}"; do
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

echo "| $KEYS keys, 16-byte values | redis | redmite | redmite/redis |"
echo "|---|---|---|---|"
echo "| used_memory (MiB) | $(mib "${mem[redis,used]}") | $(mib "${mem[redmite,used]}") | $(ratio "${mem[redmite,used]}" "${mem[redis,used]}") |"
echo "| RSS (MiB) | $(mib "${mem[redis,rss]}") | $(mib "${mem[redmite,rss]}") | $(ratio "${mem[redmite,rss]}" "${mem[redis,rss]}") |"
echo "| RSS before loading (MiB) | $(mib "${mem[redis,base_rss]}") | $(mib "${mem[redmite,base_rss]}") | |"
r_per=$(( (mem[redis,used] - mem[redis,base_used]) / KEYS ))
m_per=$(( (mem[redmite,used] - mem[redmite,base_used]) / KEYS ))
echo "| used_memory per key (bytes) | $r_per | $m_per | $(ratio "$m_per" "$r_per") |"
echo

# Memory of small collections: COLLECTIONS keys of one type with 10 elements each,
# loaded after FLUSHALL and MEMORY PURGE (so that what the previous type freed goes
# back to the system as far as the allocator allows), one type at a time.
python3 - "$COLLECTIONS" "$work" <<'EOF'
import sys
n, work = int(sys.argv[1]), sys.argv[2]

def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out

with open(work + "/hash.resp", "wb") as f:
    for i in range(n):
        args = [b"HSET", b"hash:%d" % i]
        for j in range(10):
            args += [b"field:%d" % j, b"value:%d:%d" % (i, j)]
        f.write(cmd(*args))
with open(work + "/set.resp", "wb") as f:
    for i in range(n):
        f.write(cmd(b"SADD", b"set:%d" % i, *[b"member:%d:%d" % (i, j) for j in range(10)]))
with open(work + "/zset.resp", "wb") as f:
    for i in range(n):
        args = [b"ZADD", b"zset:%d" % i]
        for j in range(10):
            args += [b"%d" % (i + j), b"member:%d:%d" % (i, j)]
        f.write(cmd(*args))
EOF

for type in hash set zset; do
    for name in redis redmite; do
        port=${name}_port
        port=${!port}
        pid=${name}_pid
        pid=${!pid}
        redis-cli -p "$port" FLUSHALL >/dev/null
        redis-cli -p "$port" MEMORY PURGE >/dev/null
        sleep 1
        mem[$name,$type,base_rss]=$(($(rss_kb "$pid") * 1024))
        mem[$name,$type,base_used]=$(used_memory "$port")
        redis-cli -p "$port" --pipe <"$work/$type.resp" >"$work/$name.$type.pipe" 2>&1
        dbsize=$(redis-cli -p "$port" DBSIZE)
        if [[ $dbsize != "$COLLECTIONS" ]]; then
            echo "$name: DBSIZE $dbsize after loading $COLLECTIONS keys of type $type" >&2
            cat "$work/$name.$type.pipe" >&2
            exit 1
        fi
        mem[$name,$type,used]=$(used_memory "$port")
        mem[$name,$type,rss]=$(($(rss_kb "$pid") * 1024))
        mem[$name,$type,enc]=$(redis-cli -p "$port" OBJECT ENCODING "$type:0")
    done
done

echo "| $COLLECTIONS keys of 10 elements | encoding redis/redmite | redis used_memory (MiB) | redmite used_memory (MiB) | redmite/redis | used_memory growth per key, redis/redmite (bytes) | growth redmite/redis | redis RSS (MiB) | redmite RSS (MiB) | redmite/redis | before loading: used_memory, RSS, redis/redmite (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for type in hash set zset; do
    r_used=${mem[redis,$type,used]}
    m_used=${mem[redmite,$type,used]}
    r_rss=${mem[redis,$type,rss]}
    m_rss=${mem[redmite,$type,rss]}
    r_per=$(( (r_used - mem[redis,$type,base_used]) / COLLECTIONS ))
    m_per=$(( (m_used - mem[redmite,$type,base_used]) / COLLECTIONS ))
    echo "| $type | ${mem[redis,$type,enc]}/${mem[redmite,$type,enc]} | $(mib "$r_used") | $(mib "$m_used") | $(ratio "$m_used" "$r_used") | $r_per/$m_per | $(ratio "$m_per" "$r_per") | $(mib "$r_rss") | $(mib "$m_rss") | $(ratio "$m_rss" "$r_rss") | $(mib "${mem[redis,$type,base_used]}")/$(mib "${mem[redmite,$type,base_used]}"), $(mib "${mem[redis,$type,base_rss]}")/$(mib "${mem[redmite,$type,base_rss]}") |"
done
