#!/usr/bin/env bash
# Throughput of the data-type commands, redmite against redis-server in the same run:
#   bench/types.sh            # needs target/release/redmite (cargo build --release)
# redis-benchmark -q -n $REQUESTS -c 50 -t lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,
# zpopmin,lrange_100,lrange_600 at -P 1 and -P 16, RUNS times (default 5). Within a
# run the two servers alternate (and swap who goes first every run), so a burst of
# load from other processes on the machine hits both alike. Prints every run's
# figures, the load average before and after, and a markdown table of medians with
# the ratio redmite/redis (above 1 means redmite is faster).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-100000}
RUNS=${RUNS:-5}
TESTS=lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600
NAMES=(LPUSH RPUSH LPOP RPOP SADD HSET SPOP ZADD ZPOPMIN LRANGE_100 LRANGE_600)

# shellcheck source=bench/lib.sh
source bench/lib.sh # the scripts run from the repository root (cd above)

start_pair

# `redis-benchmark -q` prints `LPUSH: 123.45 requests per second, ...` and
# `LRANGE_100 (first 100 elements): ...`; its `LPUSH (needed to benchmark LRANGE)`
# fill-up line is not a result.
result_re='^([A-Z0-9_]+)( \([^)]*\))?: ([0-9.]+) requests per second'
declare -A rps
for run in $(seq 1 "$RUNS"); do
    order=(redis redmite)
    if ((run % 2 == 0)); then order=(redmite redis); fi
    for pipeline in 1 16; do
        for name in "${order[@]}"; do
            port=${name}_port
            port=${!port}
            redis-cli -p "$port" FLUSHALL >/dev/null
            line_out=""
            while IFS= read -r line; do
                [[ $line == *needed* ]] && continue
                if [[ $line =~ $result_re ]]; then
                    rps[$name,$pipeline,${BASH_REMATCH[1]}]+="${BASH_REMATCH[3]} "
                    line_out+="${BASH_REMATCH[1]}=${BASH_REMATCH[3]} "
                fi
            done < <(redis-benchmark -p "$port" -q -n "$REQUESTS" -c 50 -t "$TESTS" -P "$pipeline" 2>&1 |
                tr '\r' '\n')
            echo "run $run P$pipeline $name: $line_out"
        done
    done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.0f}')" "$@"; }
echo "| test | pipeline | redis req/s (median of $RUNS) | redmite req/s (median of $RUNS) | redmite/redis |"
echo "|---|---|---|---|---|"
for pipeline in 1 16; do
    for test in "${NAMES[@]}"; do
        # shellcheck disable=SC2086
        r=$(median ${rps[redis,$pipeline,$test]})
        # shellcheck disable=SC2086
        m=$(median ${rps[redmite,$pipeline,$test]})
        echo "| $test | $pipeline | $r | $m | $(python3 -c "print(f'{$m/$r:.2f}')") |"
    done
done
