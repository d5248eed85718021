#!/usr/bin/env bash
# Side-by-side benchmark of Sluice, nginx and HAProxy on loopback (DESIGN.md §8).
#
# Layout on the 2-core box: the fixed-response upstream (bench/, io_uring) and the load generator
# share CPU 0, the proxy under test runs alone on CPU 1. Every proxy forwards to the same upstream.
# Runs are interleaved per round (direct, sluice, nginx, haproxy, then the next round), so the ratios
# of one round share the same machine conditions; the report gives medians of per-round ratios.
#
# Per run:
#   sat    wrk --latency, saturated: req/s, p50, p99, and the proxy's CPU per request.
#   fixed  h2load --h1 at FIXED_RATE req/s (a rate every proxy sustains): the proxy's CPU per request
#          (utime+stime of its processes, /proc/PID/stat, delta / requests) and p50/p99/p99.9 from
#          h2load's per-request log.
# Noise: /proc/stat is read around every run; busy time not accounted to the upstream, the proxy,
# the load generator or kernel threads (ksoftirqd/kworkers doing the workload's network work), plus
# hypervisor steal, above NOISE_PCT % of one core repeats the run (at most MAX_RETRIES times; the
# quietest attempt is kept and marked noisy).
#
# Usage: scripts/bench.sh            (5 rounds of 10 s; about 15 minutes for the default scenario)
#        QUICK=1 scripts/bench.sh    (2 rounds of 3 s; report goes to the run directory, not docs/)
# Environment (defaults in brackets):
#   ROUNDS [5|2]  DURATION seconds [10|3]  CONNS ["64 256"]  PROXIES ["sluice nginx haproxy";
#     add "sluice-log" for Sluice with an access log, to measure logging's cost per request]
#   SCENARIOS ["keepalive"; also "body64k" and "newconn"]  FIXED_RATE [10000]  FIXED_RATE_BODY64K [2000]
#   NOISE_PCT [5]  MAX_RETRIES [2]  RETRY_PAUSE seconds [3]  PROXY_CPU [1]  LOAD_CPU [0]  BASE_PORT [18080]  BUILD [1]
#   REPORT_DIR [docs/bench, or the run directory with QUICK=1]  REPORT [http1-keepalive]
#   CARGO_TARGET_DIR [target]  SLUICE_BIN [$CARGO_TARGET_DIR/release/sluice]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  ROUNDS=${ROUNDS:-2}
  DURATION=${DURATION:-3}
else
  ROUNDS=${ROUNDS:-5}
  DURATION=${DURATION:-10}
fi
CONNS=${CONNS:-"64 256"}
PROXIES=${PROXIES:-"sluice nginx haproxy"}
SCENARIOS=${SCENARIOS:-"keepalive"}
FIXED_RATE=${FIXED_RATE:-10000}
FIXED_RATE_BODY64K=${FIXED_RATE_BODY64K:-2000}
NOISE_PCT=${NOISE_PCT:-5}
MAX_RETRIES=${MAX_RETRIES:-2}
RETRY_PAUSE=${RETRY_PAUSE:-3}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
BASE_PORT=${BASE_PORT:-18080}
BUILD=${BUILD:-1}
REPORT=${REPORT:-http1-keepalive}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SLUICE_BIN=${SLUICE_BIN:-$CARGO_TARGET_DIR/release/sluice}
UPSTREAM_BIN=$CARGO_TARGET_DIR/release/sluice-upstream

UPSTREAM_PORT=$BASE_PORT            # 13-byte responses
UPSTREAM_BIG_PORT=$((BASE_PORT + 1)) # 64 KiB responses
SLUICE_PORT=$((BASE_PORT + 10))
SLUICE_ADMIN_PORT=$((BASE_PORT + 11))
NGINX_PORT=$((BASE_PORT + 12))
HAPROXY_PORT=$((BASE_PORT + 13))
SLUICE_LOG_PORT=$((BASE_PORT + 14))
CLK_TCK=$(getconf CLK_TCK)

RUN_DIR=$CARGO_TARGET_DIR/bench-runs/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN_DIR"
if [[ "$QUICK" == 1 ]]; then
  REPORT_DIR=${REPORT_DIR:-$RUN_DIR}
else
  REPORT_DIR=${REPORT_DIR:-$ROOT/docs/bench}
fi
RESULTS=$RUN_DIR/results.jsonl
: >"$RESULTS"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# === processes we start (and only those are ever stopped) ===

STARTED_PIDS=()

stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    stop_pid "$pid"
  done
  STARTED_PIDS=()
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

forget_pid() {
  local pid=$1 kept=() p
  for p in "${STARTED_PIDS[@]}"; do
    [[ "$p" == "$pid" ]] || kept+=("$p")
  done
  STARTED_PIDS=("${kept[@]}")
}

# wait_port PORT PID SECONDS: true once PORT accepts connections; false if PID dies or time runs out.
wait_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# check_http PORT: one request through the path, answered 200 with the upstream's body.
check_http() {
  local body
  body=$(curl -s --max-time 3 -o - -w '%{http_code}' "http://127.0.0.1:$1/check") || return 1
  [[ "$body" == *200 && "$body" == hello* ]]
}

render() { # render TEMPLATE OUT UPSTREAM_PORT LISTEN_PORT DIR
  sed -e "s|@UPSTREAM_PORT@|$3|g" -e "s|@LISTEN_PORT@|$4|g" -e "s|@ADMIN_PORT@|$SLUICE_ADMIN_PORT|g" \
    -e "s|@RUN_DIR@|$5|g" "$1" >"$2"
}

PROXY_PID=""
# start_proxy NAME UPSTREAM_PORT: starts it pinned to PROXY_CPU, sets PROXY_PID and PROXY_PORT.
start_proxy() {
  local name=$1 upstream=$2 dir=$RUN_DIR/$1
  mkdir -p "$dir"
  case "$name" in
    sluice)
      PROXY_PORT=$SLUICE_PORT
      render bench/configs/sluice-http.yaml "$dir/bootstrap.yaml" "$upstream" "$PROXY_PORT" "$dir"
      taskset -c "$PROXY_CPU" "$SLUICE_BIN" -c "$dir/bootstrap.yaml" --concurrency 1 >>"$dir/stdout.log" 2>&1 &
      ;;
    sluice-log)
      # Sluice with an access log in Envoy's default format, written to a file in the run dir.
      PROXY_PORT=$SLUICE_LOG_PORT
      render bench/configs/sluice-http-log.yaml "$dir/bootstrap.yaml" "$upstream" "$PROXY_PORT" "$dir"
      taskset -c "$PROXY_CPU" "$SLUICE_BIN" -c "$dir/bootstrap.yaml" --concurrency 1 >>"$dir/stdout.log" 2>&1 &
      ;;
    nginx)
      PROXY_PORT=$NGINX_PORT
      render bench/configs/nginx.conf "$dir/nginx.conf" "$upstream" "$PROXY_PORT" "$dir"
      taskset -c "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >>"$dir/stdout.log" 2>&1 &
      ;;
    haproxy)
      PROXY_PORT=$HAPROXY_PORT
      render bench/configs/haproxy.cfg "$dir/haproxy.cfg" "$upstream" "$PROXY_PORT" "$dir"
      taskset -c "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg" >>"$dir/stdout.log" 2>&1 &
      ;;
    *) die "unknown proxy $name" ;;
  esac
  PROXY_PID=$!
  STARTED_PIDS+=("$PROXY_PID")
  if ! wait_port "$PROXY_PORT" "$PROXY_PID" 10 || ! check_http "$PROXY_PORT"; then
    log "$name did not start or does not proxy (see $dir/stdout.log)"
    stop_proxy
    return 1
  fi
  local pid
  for pid in $PROXY_PID $(pgrep -P "$PROXY_PID" || true); do
    check_affinity "$pid"
  done
}

# check_affinity PID: warn if any thread of the proxy may run outside PROXY_CPU (a proxy that pins
# its own workers with sched_setaffinity could otherwise leave the core the layout gives it).
check_affinity() {
  local status allowed
  for status in /proc/"$1"/task/*/status; do
    allowed=$(awk '/^Cpus_allowed_list/ { print $2 }' "$status" 2>/dev/null || true)
    if [[ -n "$allowed" && "$allowed" != "$PROXY_CPU" ]]; then
      log "warning: a thread of pid $1 may run on CPUs $allowed, not only $PROXY_CPU"
      return 0
    fi
  done
}

stop_proxy() {
  [[ -n "$PROXY_PID" ]] || return 0
  stop_pid "$PROXY_PID"
  forget_pid "$PROXY_PID"
  PROXY_PID=""
}

# === CPU accounting ===

# The helpers below run inside the measured window, so they use builtins only and return their
# result in REPLY: a command substitution would fork, and a forked subshell's `times` reads zero.

# proc_ticks PID...: utime+stime+cutime+cstime summed over the processes, in clock ticks.
proc_ticks() {
  local total=0 pid line rest f
  for pid in "$@"; do
    read -r line <"/proc/$pid/stat" || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    total=$((total + f[11] + f[12] + f[13] + f[14]))
  done
  REPLY=$total
}

# stat_read: the aggregate cpu line and the proxy core's busy time from /proc/stat, as
# "user nice system idle iowait irq softirq steal cpuN_busy".
stat_read() {
  local tag u n s i w q sq st rest all=""
  while read -r tag u n s i w q sq st rest; do
    if [[ "$tag" == cpu ]]; then
      all="$u $n $s $i $w $q $sq $st"
    elif [[ "$tag" == "cpu$PROXY_CPU" ]]; then
      REPLY="$all $((u + n + s + q + sq))"
      return 0
    fi
  done </proc/stat
  REPLY="$all 0"
}

# kthread_ticks: utime+stime of all kernel threads (children of kthreadd). Loopback traffic makes
# ksoftirqd and kworkers busy; that is the workload's own kernel work, not another tenant's noise.
kthread_ticks() {
  local total=0 file line rest f
  for file in /proc/[0-9]*/stat; do
    read -r line 2>/dev/null <"$file" || continue
    rest=${line##*) }
    read -r -a f <<<"$rest"
    [[ "${f[1]}" == 2 ]] && total=$((total + f[11] + f[12]))
  done
  REPLY=$total
}

# children_ms: user+sys milliseconds of the shell's waited-for children (bash `times`).
TIMES_FILE=$RUN_DIR/.times
children_ms() {
  local line a b ms=0 v m sec
  times >"$TIMES_FILE"
  { read -r line; read -r a b; } <"$TIMES_FILE"
  for v in "$a" "$b"; do # 1m2.345s
    m=${v%%m*}
    sec=${v#*m}
    sec=${sec%s}
    ms=$((ms + m * 60000 + 10#${sec%.*} * 1000 + 10#${sec#*.}))
  done
  REPLY=$ms
}

# proxy_pids PID: the proxy and its children (nginx master + worker).
proxy_pids() {
  local pid=$1
  echo "$pid" $(pgrep -P "$pid" || true)
}

# === one measured run ===

# measure ROUND SCENARIO CONNS TARGET KIND PORT UPSTREAM_PID [PROXY_PID]
# Runs the load generator (retrying noisy runs) and appends one JSON line to $RESULTS.
measure() {
  local round=$1 scenario=$2 conns=$3 target=$4 kind=$5 port=$6 upstream_pid=$7 proxy_pid=${8:-}
  local url="http://127.0.0.1:$port/" out pids=() attempt=0 best="" best_noise=-1
  local extra=() rate=0
  case "$scenario" in
    newconn) extra=(-H "Connection: close") ;;
  esac
  if [[ "$kind" == fixed ]]; then
    rate=$FIXED_RATE
    [[ "$scenario" == body64k ]] && rate=$FIXED_RATE_BODY64K
  fi
  [[ -n "$proxy_pid" ]] && read -r -a pids <<<"$(proxy_pids "$proxy_pid")"
  while :; do
    out=$RUN_DIR/raw/r${round}-${scenario}-c${conns}-${target}-${kind}-a${attempt}
    mkdir -p "$RUN_DIR/raw"
    local s0 s1 p0 p1 u0 u1 g0 g1 t0 t1 k0 k1
    kthread_ticks; k0=$REPLY
    stat_read; s0=$REPLY
    proc_ticks "${pids[@]}"; p0=$REPLY
    proc_ticks "$upstream_pid"; u0=$REPLY
    children_ms; g0=$REPLY
    t0=$EPOCHREALTIME
    if [[ "$kind" == sat ]]; then
      timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" \
        wrk -t1 -c"$conns" -d"${DURATION}s" --latency --timeout 5s "${extra[@]}" "$url" >"$out.txt" 2>&1 || true
    else
      # --rps is per connection; the log file gives per-request latency (microseconds, column 3).
      timeout $((DURATION + 30)) taskset -c "$LOAD_CPU" \
        h2load --h1 -t1 -c"$conns" --rps="$(awk -v r="$rate" -v c="$conns" 'BEGIN { printf "%.4f", r / c }')" \
        -D "$DURATION" --log-file="$out.log" "$url" >"$out.txt" 2>&1 || true
    fi
    t1=$EPOCHREALTIME
    children_ms; g1=$REPLY
    proc_ticks "$upstream_pid"; u1=$REPLY
    proc_ticks "${pids[@]}"; p1=$REPLY
    stat_read; s1=$REPLY
    kthread_ticks; k1=$REPLY

    local -a a b
    read -r -a a <<<"$s0"
    read -r -a b <<<"$s1"
    local busy=$(((b[0] + b[1] + b[2] + b[5] + b[6]) - (a[0] + a[1] + a[2] + a[5] + a[6])))
    local steal=$((b[7] - a[7])) core_busy=$((b[8] - a[8]))
    local proxy_t=$((p1 - p0)) upstream_t=$((u1 - u0)) gen_ms=$((g1 - g0))
    local kthreads=$((k1 - k0))
    local known=$((proxy_t + upstream_t + gen_ms * CLK_TCK / 1000 + kthreads))
    local other=$((busy - known))
    ((other < 0)) && other=0
    local elapsed
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    # Noise budget: NOISE_PCT % of one core over the run, in ticks.
    local budget noise=$((other + steal))
    budget=$(awk -v p="$NOISE_PCT" -v e="$elapsed" -v h="$CLK_TCK" 'BEGIN { printf "%d", p / 100 * e * h }')
    local is_noisy=false
    ((noise > budget)) && is_noisy=true

    local parsed
    if [[ "$kind" == sat ]]; then
      parsed=$(parse_wrk "$out.txt")
    else
      parsed=$(parse_h2load "$out.txt" "$out.log")
    fi
    local line
    line=$(printf '{"round":%d,"scenario":"%s","conns":%d,"target":"%s","kind":"%s","attempt":%d,"target_rate":%d,"elapsed_s":%s,"clk_tck":%d,"proxy_ticks":%d,"upstream_ticks":%d,"loadgen_ms":%d,"proxy_core_busy_ticks":%d,"busy_ticks":%d,"kthread_ticks":%d,"other_ticks":%d,"steal_ticks":%d,"noise_budget_ticks":%d,"is_noisy":%s,%s}' \
      "$round" "$scenario" "$conns" "$target" "$kind" "$attempt" "$rate" "$elapsed" "$CLK_TCK" \
      "$proxy_t" "$upstream_t" "$gen_ms" "$core_busy" "$busy" "$kthreads" "$other" "$steal" "$budget" "$is_noisy" "$parsed")
    if ((best_noise < 0 || noise < best_noise)); then
      best=$line
      best_noise=$noise
    fi
    log "  $target $kind c=$conns: $(summary "$line") kthreads=$(ticks_pct "$kthreads" "$elapsed")% other=$(ticks_pct "$other" "$elapsed")% steal=$(ticks_pct "$steal" "$elapsed")%$([[ $is_noisy == true ]] && echo ' NOISY')"
    [[ "$is_noisy" == true && $attempt -lt $MAX_RETRIES ]] || break
    attempt=$((attempt + 1))
    log "    noise above ${NOISE_PCT}% of a core: repeating in ${RETRY_PAUSE}s (attempt $attempt of $MAX_RETRIES)"
    sleep "$RETRY_PAUSE"
  done
  # Mark how many attempts were made; the kept one is the quietest.
  printf '%s\n' "${best%\}},\"attempts\":$((attempt + 1))}" >>"$RESULTS"
}

ticks_pct() { awk -v t="$1" -v e="$2" -v h="$CLK_TCK" 'BEGIN { printf "%.1f", 100 * t / h / e }'; }

summary() {
  jq -r '"\(.req_s | floor) req/s p99=\(.p99_us)us" + (if .proxy_ticks > 0 and .requests > 0 then " cpu=\((.proxy_ticks / .clk_tck * 1e6 / .requests * 10 | round) / 10)us/req" else "" end) + (if .errors > 0 then " errors=\(.errors)" else "" end)' <<<"$1"
}

# parse_wrk FILE -> JSON fields (latencies in microseconds).
parse_wrk() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return (v + 0) * 1000
      if (v ~ /s$/) return (v + 0) * 1000000
      return -1
    }
    /^ +50%/ { p50 = us($2) }
    /^ +99%/ { p99 = us($2) }
    / requests in / { req = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/ { err += $5 }
    END {
      printf "\"tool\":\"wrk\",\"requests\":%d,\"req_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":null,\"errors\":%d", req, rps, p50 == "" ? -1 : p50, p99 == "" ? -1 : p99, err
    }' "$1"
}

# parse_h2load TEXT LOG -> JSON fields; percentiles from the per-request log (nearest rank).
parse_h2load() {
  local counts pct
  counts=$(awk '
    /^requests:/ { ok = $8; err = $10 + $12 + $14 }
    /^finished in/ { gsub(/,/, ""); rps = $4 }
    END { printf "\"tool\":\"h2load\",\"requests\":%d,\"req_s\":%.1f,\"errors\":%d", ok, rps, err }' "$1")
  if [[ -s "$2" ]]; then
    pct=$(cut -f3 "$2" | sort -n | awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "\"p50_us\":-1,\"p99_us\":-1,\"p999_us\":-1"; exit }
      i50 = int(NR * 0.50); i99 = int(NR * 0.99); i999 = int(NR * 0.999)
      if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1; if (i999 < 1) i999 = 1
      printf "\"p50_us\":%d,\"p99_us\":%d,\"p999_us\":%d", v[i50], v[i99], v[i999] }')
  else
    pct='"p50_us":-1,"p99_us":-1,"p999_us":-1'
  fi
  printf '%s,%s' "$counts" "$pct"
}

# === main ===

# Everything runs inside main, so bash has parsed the whole file before the first run: editing this
# script while a benchmark is running cannot change the running one.
main() {

  export PATH=$PATH:/usr/sbin
  for tool in wrk h2load nginx haproxy taskset curl jq python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool missing: run scripts/install-bench-deps.sh"
  done
  (($(nproc) >= 2)) || log "warning: fewer than 2 CPUs; proxy and load generator will share a core"

  if [[ "$BUILD" == 1 ]]; then
    log "building (cargo build --release -p sluice -p sluice-bench)"
    if ! cargo build --release -p sluice -p sluice-bench >"$RUN_DIR/build.log" 2>&1; then
      log "building sluice failed (see $RUN_DIR/build.log); building sluice-bench alone"
      if ! cargo build --release -p sluice-bench >>"$RUN_DIR/build.log" 2>&1; then
        [[ -x "$UPSTREAM_BIN" ]] || die "cannot build sluice-bench (see $RUN_DIR/build.log)"
        log "warning: cannot build sluice-bench (see $RUN_DIR/build.log); using the existing $UPSTREAM_BIN"
      fi
    fi
  fi
  [[ -x "$UPSTREAM_BIN" ]] || die "$UPSTREAM_BIN missing (BUILD=0 and not built?)"

  log "run dir $RUN_DIR; rounds=$ROUNDS duration=${DURATION}s conns=[$CONNS] scenarios=[$SCENARIOS] fixed rate=$FIXED_RATE req/s"

  # Every server here binds with SO_REUSEPORT, so a second bench (or a leftover) on the same ports
  # would silently share the traffic: refuse to start instead.
  local port
  for port in "$UPSTREAM_PORT" "$UPSTREAM_BIG_PORT" "$SLUICE_PORT" "$SLUICE_ADMIN_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$SLUICE_LOG_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      die "port $port is in use (another bench running?); set BASE_PORT to move"
    fi
  done

  # Upstreams on LOAD_CPU for the whole run: one per body size.
  # start_upstream PORT BODY_BYTES: sets UPSTREAM_PID.
  start_upstream() {
    taskset -c "$LOAD_CPU" "$UPSTREAM_BIN" --listen "127.0.0.1:$1" --threads 1 --body-bytes "$2" \
      >>"$RUN_DIR/upstream-$1.log" 2>&1 &
    UPSTREAM_PID=$!
    STARTED_PIDS+=("$UPSTREAM_PID")
    wait_port "$1" "$UPSTREAM_PID" 10 && check_http "$1" || die "upstream on port $1 did not start (see $RUN_DIR/upstream-$1.log)"
  }
  start_upstream "$UPSTREAM_PORT" 13
  UPSTREAM_SMALL_PID=$UPSTREAM_PID
  UPSTREAM_BIG_PID=""
  if [[ " $SCENARIOS " == *" body64k "* ]]; then
    start_upstream "$UPSTREAM_BIG_PORT" 65536
    UPSTREAM_BIG_PID=$UPSTREAM_PID
  fi

  # Sluice is being written alongside this script: take part only if it starts and proxies.
  ACTIVE=()
  for proxy in $PROXIES; do
    if [[ "$proxy" == sluice && ! -x "$SLUICE_BIN" ]]; then
      log "SKIPPING sluice: $SLUICE_BIN not built"
      continue
    fi
    if start_proxy "$proxy" "$UPSTREAM_PORT"; then
      ACTIVE+=("$proxy")
      stop_proxy
    else
      log "SKIPPING $proxy: it does not start or does not proxy bench/configs (see $RUN_DIR/$proxy/)"
    fi
  done
  ((${#ACTIVE[@]} > 0)) || die "no proxy to measure"
  log "measuring: direct ${ACTIVE[*]}"

  for ((round = 1; round <= ROUNDS; round++)); do
    for scenario in $SCENARIOS; do
      upstream_port=$UPSTREAM_PORT
      upstream_pid=$UPSTREAM_SMALL_PID
      if [[ "$scenario" == body64k ]]; then
        upstream_port=$UPSTREAM_BIG_PORT
        upstream_pid=$UPSTREAM_BIG_PID
      fi
      for conns in $CONNS; do
        log "round $round/$ROUNDS $scenario c=$conns"
        measure "$round" "$scenario" "$conns" direct sat "$upstream_port" "$upstream_pid"
        for proxy in "${ACTIVE[@]}"; do
          if ! start_proxy "$proxy" "$upstream_port"; then
            log "  $proxy failed to start in round $round; no numbers for it this round"
            continue
          fi
          measure "$round" "$scenario" "$conns" "$proxy" sat "$PROXY_PORT" "$upstream_pid" "$PROXY_PID"
          # newconn: h2load keeps connections open, so only the saturated run means anything.
          if [[ "$scenario" != newconn ]]; then
            measure "$round" "$scenario" "$conns" "$proxy" fixed "$PROXY_PORT" "$upstream_pid" "$PROXY_PID"
          fi
          stop_proxy
        done
      done
    done
  done

  cleanup
  mkdir -p "$REPORT_DIR"
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  DIRTY=$(git status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)
  python3 bench/report.py "$RESULTS" \
    --out "$REPORT_DIR/$REPORT" \
    --commit "$COMMIT$DIRTY" \
    --machine "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') ($(nproc) CPUs)" \
    --kernel "$(uname -sr)" \
    --versions "$(nginx -v 2>&1 | sed 's/.*: //'); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); h2load $(h2load --version | sed 's/.*nghttp2\///')" \
    --settings "rounds=$ROUNDS duration=${DURATION}s fixed_rate=$FIXED_RATE noise_pct=$NOISE_PCT max_retries=$MAX_RETRIES proxy_cpu=$PROXY_CPU load_cpu=$LOAD_CPU" \
    --run-dir "$RUN_DIR"
  log "report: $REPORT_DIR/$REPORT.md (raw runs in $RUN_DIR)"
}

main "$@"; exit $?
