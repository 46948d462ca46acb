#!/usr/bin/env bash
# Instructions per request of the data-type commands, redmite against redis-server,
# counted by valgrind's callgrind (load-independent, unlike bench/types.sh's req/s):
#   bench/callgrind.sh                      # needs target/release/redmite
#   REQUESTS=20000 TESTS=zadd,spop bench/callgrind.sh
# Each server runs under callgrind; the counters are zeroed once it answers PING and
# dumped after each `redis-benchmark -n $REQUESTS -c 50 -P $PIPELINE -t TEST` (the
# flags bench/types.sh uses), so a test's dump holds what the server executed for it,
# all threads together. LRANGE_* include redis-benchmark's LPUSH fill-up of the same
# number of requests, for both servers alike. KEEP=dir keeps the dumps there for
# callgrind_annotate.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-10000}
PIPELINE=${PIPELINE:-1}
TESTS=${TESTS:-lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600}
SERVERS=${SERVERS:-redis redmite}

# shellcheck source=bench/lib.sh
source bench/lib.sh

declare -A ir
for name in $SERVERS; do
    port=$(free_port)
    out="$work/$name.out"
    if [[ $name == redis ]]; then
        cmd=(redis-server --save '' --appendonly no --bind 127.0.0.1 --port "$port")
    else
        cmd=("$REDMITE_BIN" --port "$port" --bind 127.0.0.1 --dyn-listen none --stats-listen none)
    fi
    valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$work/$name.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 1 1500); do
        if [[ $(redis-cli -p "$port" PING 2>/dev/null) == PONG ]]; then break; fi
        sleep 0.1
    done
    # One keyspace for all the tests, as in bench/types.sh: LPOP pops what LPUSH
    # pushed, SPOP and ZPOPMIN what SADD and ZADD added.
    for test in ${TESTS//,/ }; do
        callgrind_control -z "$pid" >/dev/null 2>&1
        redis-benchmark -p "$port" -q -n "$REQUESTS" -c 50 -P "$PIPELINE" -t "$test" >/dev/null 2>&1
        before=$(find "$work" -name "$name.out.*" | wc -l)
        callgrind_control --dump="$test" "$pid" >/dev/null 2>&1
        # The dump is written when the server next runs: wait for its file.
        for _ in $(seq 1 300); do
            (($(find "$work" -name "$name.out.*" | wc -l) > before)) && break
            sleep 0.1
        done
        file=$(find "$work" -name "$name.out.*" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
        total=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$file")
        ir[$name,$test]=$((total / REQUESTS))
        if [[ -n ${KEEP:-} ]]; then
            mkdir -p "$KEEP"
            cp "$file" "$KEEP/$name.$test.P$PIPELINE.out"
        fi
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done

echo "| test | pipeline | redis instr/request | redmite instr/request | redmite/redis |"
echo "|---|---|---|---|---|"
for test in ${TESTS//,/ }; do
    r=${ir[redis,$test]:-0}
    m=${ir[redmite,$test]:-0}
    ratio=$(python3 -c "print(f'{$m/$r:.2f}' if $r else '-')")
    echo "| ${test^^} | $PIPELINE | $r | $m | $ratio |"
done
