#!/usr/bin/env bash
# Memory of small collections, redmite against redis-server, each workload in a
# fresh pair of processes so that nothing a previous workload freed is counted:
#   bench/memory.sh           # needs target/release/redmite (cargo build --release)
# For each of: 100,000 hashes of 10 fields, 100,000 sets of 10 members, 100,000
# sorted sets of 10 members (COLLECTIONS to change the count), loaded with
# `redis-cli --pipe`, it records INFO memory used_memory and the process RSS
# (VmRSS) of both servers, the encoding of the first key, then runs FLUSHALL and
# records the RSS again once it has settled (jemalloc returns freed pages in the
# background over its 10 s decay time, so this polls until the RSS has not moved
# for 3 s, at most 30 s). Prints one markdown table.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
COLLECTIONS=${COLLECTIONS:-100000}

# shellcheck source=bench/lib.sh
source bench/lib.sh # the scripts run from the repository root (cd above)
rss() {
    echo $(($(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status") * 1024))
}

python3 - "$COLLECTIONS" "$work" <<'PY'
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
PY

echo "| $COLLECTIONS keys of 10 elements | encoding redis/redmite | used_memory redis/redmite (MiB) | ratio | RSS redis/redmite (MiB) | RSS ratio | RSS at start redis/redmite (MiB) | RSS after FLUSHALL redis/redmite (MiB) |"
echo "|---|---|---|---|---|---|---|---|"
for type in hash set zset; do
    declare -A m=()
    for name in redis redmite; do
        port=$(free_port)
        if [[ $name == redis ]]; then
            redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$port" >"$work/$name.log" 2>&1 &
        else
            "$REDMITE_BIN" --port "$port" --bind 127.0.0.1 --dyn-listen none --stats-listen none >"$work/$name.log" 2>&1 &
        fi
        pid=$!
        pids+=("$pid")
        wait_ping "$port"
        m[$name,start]=$(rss "$pid")
        redis-cli -p "$port" --pipe <"$work/$type.resp" >"$work/$name.pipe" 2>&1
        dbsize=$(redis-cli -p "$port" DBSIZE)
        if [[ $dbsize != "$COLLECTIONS" ]]; then
            echo "$name: DBSIZE $dbsize after loading $COLLECTIONS keys of type $type" >&2
            cat "$work/$name.pipe" >&2
            exit 1
        fi
        m[$name,used]=$(used_memory "$port")
        m[$name,rss]=$(rss "$pid")
        m[$name,enc]=$(redis-cli -p "$port" OBJECT ENCODING "$type:0")
        redis-cli -p "$port" FLUSHALL >/dev/null
        redis-cli -p "$port" MEMORY PURGE >/dev/null
        last=0
        stable=0
        for _ in $(seq 1 30); do
            sleep 1
            now=$(rss "$pid")
            if ((now == last)); then stable=$((stable + 1)); else stable=0; fi
            last=$now
            if ((stable == 3)); then break; fi
        done
        m[$name,flushed]=$last
        kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
    echo "| $type | ${m[redis,enc]}/${m[redmite,enc]} | $(mib "${m[redis,used]}")/$(mib "${m[redmite,used]}") | $(ratio "${m[redmite,used]}" "${m[redis,used]}") | $(mib "${m[redis,rss]}")/$(mib "${m[redmite,rss]}") | $(ratio "${m[redmite,rss]}" "${m[redis,rss]}") | $(mib "${m[redis,start]}")/$(mib "${m[redmite,start]}") | $(mib "${m[redis,flushed]}")/$(mib "${m[redmite,flushed]}") |"
done
