#!/usr/bin/env bash
# A 3-rack DC_QUORUM cluster on loopback against a single node, same binary, same run:
#   bench/cluster.sh            # needs target/release/redmite (cargo build --release)
# The three nodes are conf/safe_quorum_rack{1,2,3}.yml moved to 127.0.90.11-13 with
# DC_QUORUM both ways; the single node is conf/redis_single.yml on 127.0.91.1.
# For each of them: redis-benchmark -n N -c 50 -t set,get -P 1|16 --csv (N = REQUESTS at
# -P 1, 4 x REQUESTS at -P 16), repeated ROUNDS times; prints one CSV line per run:
#   setup,pipeline,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms
# Take the medians per (setup, pipeline, test) for BENCHMARKS.md.
# NODE_THREADS=N gives each cluster node `redmite_threads: N` (the single node keeps
# one worker per core): three nodes on a two-core machine fight over the cores with
# two workers each, where Dynomite and redis-server are single-threaded.
# With DYNOMITE_BIN=/path/to/dynomite (Netflix Dynomite built from its sources, with
# its conf/dynomite.pem beside the binary or in DYNOMITE_PEM), the same 3-rack
# DC_QUORUM layout also runs as 3 Dynomite nodes in front of 3 redis-servers on
# 127.0.92.11-13 (setup "dynomite"), the stack redmite replaces, in the same rounds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
REQUESTS=${REQUESTS:-100000}
ROUNDS=${ROUNDS:-3}
LEVEL=${LEVEL:-DC_QUORUM}

# shellcheck source=bench/lib.sh
source bench/lib.sh # the scripts run from the repository root (cd above)

for i in 1 2 3; do
    sed -e "s/127\.0\.0\.1\([0-9]\)/127.0.90.1\1/g" \
        -e "s/DC_SAFE_QUORUM/$LEVEL/" \
        "conf/safe_quorum_rack$i.yml" >"$work/rack$i.yml"
    cp "$work/rack$i.yml" "$work/node$i.yml"
    if [ -n "${NODE_THREADS:-}" ]; then
        echo "  redmite_threads: $NODE_THREADS" >>"$work/node$i.yml"
    fi
    "$REDMITE_BIN" -c "$work/node$i.yml" -v 3 >"$work/rack$i.log" 2>&1 &
    pids+=($!)
done
sed -e "s/127\.0\.0\.1:/127.0.91.1:/g" -e "s/0\.0\.0\.0:/127.0.91.1:/g" conf/redis_single.yml >"$work/single.yml"
"$REDMITE_BIN" -c "$work/single.yml" -v 3 >"$work/single.log" 2>&1 &
pids+=($!)
# Each setup, in the order it runs, and the node redis-benchmark talks to.
setups=(single cluster)
declare -A entry=([single]=127.0.91.1 [cluster]=127.0.90.11)
hosts=(127.0.90.11 127.0.90.12 127.0.90.13 127.0.91.1)
if [ -n "${DYNOMITE_BIN:-}" ]; then
    pem=${DYNOMITE_PEM:-$(dirname "$DYNOMITE_BIN")/conf/dynomite.pem}
    for i in 1 2 3; do
        ip=127.0.92.1$i
        redis-server --bind "$ip" --port 22122 --save '' --appendonly no >"$work/dredis$i.log" 2>&1 &
        pids+=($!)
        # The redmite rack file, moved to Dynomite's addresses: the same keys, levels
        # and seeds, plus the pem file Dynomite needs even without encryption.
        sed -e "s/127\.0\.90\./127.0.92./g" "$work/rack$i.yml" >"$work/dyn$i.yml"
        echo "  pem_key_file: $pem" >>"$work/dyn$i.yml"
        wait_ping 22122 "$ip" || exit 1
        "$DYNOMITE_BIN" -c "$work/dyn$i.yml" -o "$work/dyn$i.log" &
        pids+=($!)
        hosts+=("$ip")
    done
    setups+=(dynomite)
    entry[dynomite]=127.0.92.11
fi
for h in "${hosts[@]}"; do wait_ping 8102 "$h" || exit 1; done
# Wait until the links are up: a quorum write succeeds.
for h in "${entry[cluster]}" ${entry[dynomite]:-}; do
    for _ in $(seq 1 500); do
        if [ "$(redis-cli -h "$h" -p 8102 set warm 1 2>/dev/null)" = OK ]; then break; fi
        sleep 0.02
    done
done

echo "# NODE_THREADS=${NODE_THREADS:-default}" >&2
uptime >&2
for round in $(seq 1 "$ROUNDS"); do
    for p in 1 16; do
        n=$REQUESTS
        [ "$p" = 16 ] && n=$((REQUESTS * 4))
        for setup in "${setups[@]}"; do
            host=${entry[$setup]}
            redis-benchmark -h "$host" -p 8102 -n "$n" -c 50 -P "$p" -t set,get --csv |
                tail -n +2 | tr -d '"' | sed -e "s/^/$setup,$p,/"
        done
    done
done
uptime >&2
