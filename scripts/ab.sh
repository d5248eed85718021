#!/usr/bin/env bash
# A/B of Sluice binaries: CPU per request of each, alternating within every round.
#
# scripts/bench.sh compares Sluice with nginx and HAProxy; this compares Sluice with itself (a
# change against its base), which needs finer figures than two bench runs made one after the
# other on a shared box. Each round starts every binary in turn against the same fixed-response
# upstream, drives it with h2load at a fixed rate (or wrk at saturation), and prints the proxy's
# CPU per request from /proc (utime+stime of the process, delta over the run / requests). The
# medians over rounds are printed last.
#
# Layout as in bench.sh: upstream and load generator on CPU LOAD_CPU, the proxy on PROXY_CPU,
# one worker.
#
# Usage: scripts/ab.sh BIN_A BIN_B [BIN...]
# Environment (defaults in brackets): ROUNDS [5]  DURATION seconds [5]  CONNS [256]
#   MODE [fixed: h2load at RATE req/s | sat: wrk saturated]  RATE [10000]
#   PROXY_CPU [1]  LOAD_CPU [0]  BASE_PORT [19100]  CARGO_TARGET_DIR [target]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNS=${CONNS:-256}
MODE=${MODE:-fixed}
RATE=${RATE:-10000}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BASE_PORT=${BASE_PORT:-19100}
TARGET=${CARGO_TARGET_DIR:-target}

if [[ $# -lt 2 ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
for bin in "$@"; do
  [[ -x "$bin" ]] || { echo "ab: $bin is not an executable" >&2; exit 2; }
done
for tool in h2load wrk taskset curl; do
  command -v "$tool" >/dev/null || { echo "ab: $tool missing (scripts/install-bench-deps.sh)" >&2; exit 2; }
done
UPSTREAM_BIN="$TARGET/release/sluice-upstream"
[[ -x "$UPSTREAM_BIN" ]] || cargo build --release -p sluice-bench --bin sluice-upstream

UPSTREAM_PORT=$BASE_PORT
LISTEN_PORT=$((BASE_PORT + 1))
ADMIN_PORT=$((BASE_PORT + 2))
WORK=$(mktemp -d)
CLK_TCK=$(getconf CLK_TCK)
UPSTREAM_PID=""
PROXY_PID=""

cleanup() {
  [[ -n "$PROXY_PID" ]] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  [[ -n "$UPSTREAM_PID" ]] && kill "$UPSTREAM_PID" 2>/dev/null && wait "$UPSTREAM_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

sed -e "s/@ADMIN_PORT@/$ADMIN_PORT/" -e "s/@LISTEN_PORT@/$LISTEN_PORT/" \
  -e "s/@UPSTREAM_PORT@/$UPSTREAM_PORT/" bench/configs/sluice-http.yaml >"$WORK/sluice.yaml"

taskset -c "$LOAD_CPU" "$UPSTREAM_BIN" --listen "127.0.0.1:$UPSTREAM_PORT" --threads 1 \
  --body-bytes 13 >"$WORK/upstream.log" 2>&1 &
UPSTREAM_PID=$!
sleep 0.3

# CPU seconds (utime+stime, in ticks) of process $1.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One measured run of binary $1; prints "requests cpu_us_per_request".
measure() {
  local bin=$1 reqs t0 t1 out
  taskset -c "$PROXY_CPU" "$bin" -c "$WORK/sluice.yaml" --concurrency 1 >"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  local up=0
  for _ in $(seq 50); do
    if curl -s -o /dev/null "http://127.0.0.1:$LISTEN_PORT/"; then up=1; break; fi
    sleep 0.1
  done
  if [[ $up == 0 ]]; then
    echo "ab: $bin did not answer; its log:" >&2
    cat "$WORK/proxy.log" >&2
    exit 1
  fi
  t0=$(cpu_ticks "$PROXY_PID")
  if [[ $MODE == fixed ]]; then
    out=$(timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" h2load --h1 -c "$CONNS" \
      --rps $((RATE / CONNS)) -D "$DURATION" "http://127.0.0.1:$LISTEN_PORT/" 2>&1)
    reqs=$(awk '/^requests:/{print $8}' <<<"$out")
  else
    out=$(timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" \
      --timeout 5s "http://127.0.0.1:$LISTEN_PORT/" 2>&1)
    reqs=$(awk '/requests in/{print $1}' <<<"$out")
  fi
  t1=$(cpu_ticks "$PROXY_PID")
  kill "$PROXY_PID"
  wait "$PROXY_PID" 2>/dev/null || true
  PROXY_PID=""
  if [[ -z "$reqs" || "$reqs" == 0 ]]; then
    echo "ab: no request completed through $bin" >&2
    exit 1
  fi
  awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$CLK_TCK" \
    'BEGIN { printf "%d %.2f\n", n, (b - a) / hz * 1e6 / n }'
}

echo "mode=$MODE conns=$CONNS rounds=$ROUNDS duration=${DURATION}s rate=$RATE"
: >"$WORK/results"
for round in $(seq "$ROUNDS"); do
  for i in $(seq $#); do
    bin=${!i}
    # Not in a subshell, so the proxy's PID stays visible to the exit trap.
    measure "$bin" >"$WORK/run"
    read -r reqs us <"$WORK/run"
    echo "round $round  [$i] $bin  requests=$reqs  cpu_us/req=$us"
    echo "$i $us" >>"$WORK/results"
  done
done

echo "medians of cpu_us/req:"
for i in $(seq $#); do
  bin=${!i}
  median=$(awk -v k="$i" '$1 == k {print $2}' "$WORK/results" | sort -n |
    awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  echo "  [$i] $bin  $median"
done
