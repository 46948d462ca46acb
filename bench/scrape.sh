#!/usr/bin/env bash
# Client-port latency with and without 1,000 concurrent stats scrapers (issue 6: "not
# more than 10%"), redmite against redis-server as the control:
#   bench/scrape.sh          # needs target/release/redmite; RUNS=5 REQUESTS=200000 by default
# redmite listens on 127.0.79.1 (stats on :22222), redis-server on 127.0.79.2. Each run
# does `redis-benchmark -t set,get -n $REQUESTS -c 50 -r 100000 --csv` against redmite, then
# against redis-server, first without scrapes and then while bench/stats_scrape_load.py
# keeps 1,000 keep-alive connections scraping redmite's /metrics once a second. The
# scraper runs during both servers' runs: the machine's load is the same for both, and
# what differs is only that redmite serves the scrapes. Prints the median p50, p99 and
# req/s of each server, command and phase, and the median per-run ratio redmite/redis.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

REDMITE_BIN=${REDMITE_BIN:-target/release/redmite}
RUNS=${RUNS:-5}
REQUESTS=${REQUESTS:-200000}

# shellcheck source=bench/lib.sh
source bench/lib.sh

"$REDMITE_BIN" --bind 127.0.79.1 --port 8102 --dyn-listen none \
    --stats-listen 127.0.79.1:22222 >"$work/redmite.log" 2>&1 &
pids+=($!)
redis-server --save '' --appendonly no --bind 127.0.79.2 --port 6379 >"$work/redis.log" 2>&1 &
pids+=($!)
wait_ping 8102 127.0.79.1
wait_ping 6379 127.0.79.2

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# bench PHASE: RUNS alternating runs; appends "phase server test rps p50 p99" lines.
bench() {
    for _ in $(seq 1 "$RUNS"); do
        for target in redmite:127.0.79.1:8102 redis:127.0.79.2:6379; do
            IFS=: read -r name host port <<<"$target"
            redis-benchmark -h "$host" -p "$port" -t set,get -n "$REQUESTS" -c 50 -r 100000 --csv |
                tr -d '"' | awk -F, -v phase="$1" -v name="$name" \
                'NR > 1 { print phase, name, $1, $2, $5, $7 }' >>"$work/results"
        done
    done
}

bench none
python3 bench/stats_scrape_load.py 127.0.79.1:22222 --conns 1000 --interval 1 \
    --seconds 3600 >"$work/scraper.out" &
scraper=$!
pids+=("$scraper")
# Until every scraper has connected and made its first request (spread over 1 s).
for _ in $(seq 1 100); do
    n=$(ss -Htn state established "( sport = :22222 )" | wc -l)
    if ((n >= 1000)); then break; fi
    sleep 0.1
done
sleep 1
bench scrapes
kill -TERM "$scraper"
wait "$scraper"
cat "$work/scraper.out"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/results" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    phase, name, test, rps, p50, p99 = line.split()
    rows.setdefault((name, test, phase), []).append((float(rps), float(p50), float(p99)))
med = lambda xs: statistics.median(xs)
pct = lambda x: f"{(x - 1) * 100:+.0f}%"
print("server test | no scrapes: req/s p50 p99 | scrapes: req/s p50 p99 | change req/s p50 p99")
for name in ("redmite", "redis"):
    for test in ("SET", "GET"):
        a = [med(c) for c in zip(*rows[(name, test, "none")])]
        b = [med(c) for c in zip(*rows[(name, test, "scrapes")])]
        print(f"{name} {test} | {a[0]:.0f} {a[1]:.3f} {a[2]:.3f} | {b[0]:.0f} {b[1]:.3f} "
              f"{b[2]:.3f} | {pct(b[0] / a[0])} {pct(b[1] / a[1])} {pct(b[2] / a[2])}")
# Each run measured redmite and then redis-server within seconds, under the same load:
# the per-run ratio redmite/redis cancels what the machine did meanwhile. How much the
# median ratio moves when the scrapes start is what they cost redmite beyond the control.
print("test | redmite/redis, no scrapes: req/s p50 p99 | scrapes | change req/s p50 p99")
for test in ("SET", "GET"):
    r = {ph: [med([m[i] / c[i] for m, c in zip(rows[("redmite", test, ph)],
                                                rows[("redis", test, ph)])])
              for i in range(3)] for ph in ("none", "scrapes")}
    a, b = r["none"], r["scrapes"]
    print(f"{test} | {a[0]:.2f} {a[1]:.2f} {a[2]:.2f} | {b[0]:.2f} {b[1]:.2f} {b[2]:.2f} | "
          f"{pct(b[0] / a[0])} {pct(b[1] / a[1])} {pct(b[2] / a[2])}")
EOF
