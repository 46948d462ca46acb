#!/usr/bin/env bash
# PUBLISH and EVALSHA throughput, redmite against redis-server in the same run:
#   bench/pubsub.sh           # needs target/release/redmite (cargo build --release)
# redis-benchmark -q -n $REQUESTS -c 50 at -P 1 and -P 16, RUNS times (default 5):
#   publish_nosub  PUBLISH bench:ch <64-byte payload>, nobody subscribed
#   publish_sub    the same with SUBSCRIBERS (default 2) redis-cli subscribers
#                  reading in the background
#   evalsha        EVALSHA of a small INCR script loaded with SCRIPT LOAD first
# The servers alternate within a run (and swap who goes first every run), so load
# from other processes hits both alike. Prints every run's figures, the load average
# before and after, and a markdown table of medians with the ratio redmite/redis
# (above 1 means redmite is faster). Run it on an idle machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-100000}
RUNS=${RUNS:-5}
SUBSCRIBERS=${SUBSCRIBERS:-2}
PAYLOAD=$(printf 'x%.0s' $(seq 1 64))
SCRIPT="return redis.call('incr', KEYS[1])"
NAMES=(publish_nosub publish_sub evalsha)

# shellcheck source=bench/lib.sh
source bench/lib.sh # the scripts run from the repository root (cd above)

start_pair

# One figure from `redis-benchmark -q` running one command ("CMD ...: N requests
# per second, ..." — the last such line).
bench() {
    local port=$1 pipeline=$2
    shift 2
    redis-benchmark -p "$port" -q -n "$REQUESTS" -c 50 -P "$pipeline" "$@" 2>&1 |
        tr '\r' '\n' | sed -n 's/^.*: \([0-9.]*\) requests per second.*$/\1/p' | tail -1
}

# Starts SUBSCRIBERS readers of bench:ch on `port` and waits until they are
# subscribed; their pids go to `sub_pids`.
subscribe() {
    local port=$1
    sub_pids=()
    for _ in $(seq 1 "$SUBSCRIBERS"); do
        redis-cli -p "$port" SUBSCRIBE bench:ch >/dev/null 2>&1 &
        sub_pids+=($!)
        pids+=($!)
    done
    for _ in $(seq 1 500); do
        local n
        n=$(redis-cli -p "$port" PUBSUB NUMSUB bench:ch | sed -n 2p)
        [[ $n == "$SUBSCRIBERS" ]] && return 0
        sleep 0.02
    done
    echo "subscribers did not attach on port $port" >&2
    return 1
}
unsubscribe() {
    for pid in "${sub_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${sub_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

declare -A rps
for run in $(seq 1 "$RUNS"); do
    order=(redis redmite)
    if ((run % 2 == 0)); then order=(redmite redis); fi
    for pipeline in 1 16; do
        for name in "${order[@]}"; do
            port=${name}_port
            port=${!port}
            redis-cli -p "$port" FLUSHALL >/dev/null
            sha=$(redis-cli -p "$port" SCRIPT LOAD "$SCRIPT")
            a=$(bench "$port" "$pipeline" PUBLISH bench:ch "$PAYLOAD")
            subscribe "$port"
            b=$(bench "$port" "$pipeline" PUBLISH bench:ch "$PAYLOAD")
            unsubscribe
            c=$(bench "$port" "$pipeline" EVALSHA "$sha" 1 bench:counter)
            rps[$name,$pipeline,publish_nosub]+="$a "
            rps[$name,$pipeline,publish_sub]+="$b "
            rps[$name,$pipeline,evalsha]+="$c "
            echo "run $run P$pipeline $name: publish_nosub=$a publish_sub=$b evalsha=$c"
        done
    done
done

echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "| test | P | redis-server rps | redmite rps | ratio |"
echo "| --- | --- | --- | --- | --- |"
for pipeline in 1 16; do
    for t in "${NAMES[@]}"; do
        r=$(echo "${rps[redis,$pipeline,$t]}" | median)
        m=$(echo "${rps[redmite,$pipeline,$t]}" | median)
        echo "| $t | $pipeline | $r | $m | $(ratio "$m" "$r") |"
    done
done
