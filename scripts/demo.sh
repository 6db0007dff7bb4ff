#!/usr/bin/env bash
# `make demo`: starts a throwaway redis-server and Respite in front of it on free loopback ports,
# drives traffic through Respite with redis-benchmark, and shows that the traffic reached Redis
# over a few multiplexed upstream connections. Everything it starts is stopped by PID on exit,
# Ctrl-C included.
#
# The demo is a list of steps (DEMO_STEPS below); each step is a function named step_<name>.
# Add a step by writing the function and appending its name. Run a subset with
#   DEMO_STEPS="traffic proof" scripts/demo.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RESPITE_BIN="${RESPITE_BIN:-$ROOT/.build/release/respite}"
REQUESTS="${DEMO_REQUESTS:-100000}"
CLIENTS="${DEMO_CLIENTS:-50}"
PIPELINE="${DEMO_PIPELINE:-16}"
TESTS="${DEMO_TESTS:-set,get,incr,lpush,lrange_100}"
DEMO_STEPS="${DEMO_STEPS:-traffic pipelined proof}"
READY_TIMEOUT_S=10

WORK="$(mktemp -d -t respite-demo.XXXXXX)"
PIDS=()          # every process this script started, stopped in reverse order on exit
REDIS_PORT=""
RESPITE_PORT=""

# --- helpers -----------------------------------------------------------------------------------

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say()  { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
info() { printf '   %s\n' "$*"; }
die()  { printf 'demo: %s\n' "$*" >&2; exit 1; }

# Stops every started process by PID (TERM, then KILL after a bounded wait) and removes WORK.
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ] && [ -s "$WORK/respite.log" ]; then
        printf '\ndemo: last lines of respite'"'"'s log:\n' >&2
        tail -n 20 "$WORK/respite.log" >&2
    fi
    local i pid
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
        pid="${PIDS[$i]}"
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until `redis-cli -p PORT PING` answers PONG, or fails after READY_TIMEOUT_S.
# $1 port, $2 pid that must stay alive, $3 log file shown on failure.
wait_ready() {
    local port=$1 pid=$2 logfile=$3 deadline=$((SECONDS + READY_TIMEOUT_S))
    while (( SECONDS < deadline )); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logfile" >&2; die "process $pid exited before port $port answered"; }
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        sleep 0.05
    done
    tail -n 20 "$logfile" >&2
    die "port $port did not answer PING within ${READY_TIMEOUT_S}s"
}

# Runs redis-benchmark against PORT with extra args, printing CSV to stdout.
bench_csv() {
    local port=$1; shift
    redis-benchmark -h 127.0.0.1 -p "$port" -t "$TESTS" -n "$REQUESTS" -c "$CLIENTS" --csv "$@" 2>/dev/null
}

# Turns redis-benchmark CSV on stdin into a small aligned table.
csv_table() {
    python3 -c '
import csv, sys
rows = [r for r in csv.DictReader(sys.stdin) if "needed to benchmark" not in r["test"]]
print("   %-12s %12s %9s %9s" % ("test", "requests/s", "p50 ms", "p99 ms"))
for r in rows:
    print("   %-12s %12s %9s %9s" % (r["test"].split()[0], format(float(r["rps"]), ",.0f"),
                                    r["p50_latency_ms"], r["p99_latency_ms"]))
'
}

# --- setup -------------------------------------------------------------------------------------

start_redis() {
    REDIS_PORT="$(free_port)"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" --logfile "$WORK/redis.log" &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "$REDIS_PORT" "$pid" "$WORK/redis.log"
    info "redis-server  pid $pid  127.0.0.1:$REDIS_PORT"
}

start_respite() {
    [ -x "$RESPITE_BIN" ] || die "no Respite binary at $RESPITE_BIN (run: make build)"
    RESPITE_PORT="$(free_port)"
    "$RESPITE_BIN" --bind 127.0.0.1 --port "$RESPITE_PORT" \
        --upstream "127.0.0.1:$REDIS_PORT" 2>"$WORK/respite.log" &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "$RESPITE_PORT" "$pid" "$WORK/respite.log"
    info "respite       pid $pid  127.0.0.1:$RESPITE_PORT -> 127.0.0.1:$REDIS_PORT "
}

# --- steps -------------------------------------------------------------------------------------

step_traffic() {
    say "redis-benchmark through Respite: -t $TESTS -n $REQUESTS -c $CLIENTS"
    bench_csv "$RESPITE_PORT" | csv_table
}

step_pipelined() {
    say "the same, pipelined: -P $PIPELINE"
    bench_csv "$RESPITE_PORT" -P "$PIPELINE" | csv_table
}

step_proof() {
    say "it went through Respite to Redis"
    redis-cli -h 127.0.0.1 -p "$RESPITE_PORT" SET demo:greeting "hello via respite" >/dev/null
    info "SET demo:greeting via Respite, GET from Redis direct: $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" GET demo:greeting)"
    info "DBSIZE via Respite: $(redis-cli -h 127.0.0.1 -p "$RESPITE_PORT" DBSIZE 2>&1)   via Redis direct: $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DBSIZE)"
    info "Redis total_commands_processed: $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ {print $2}')"
    info "$CLIENTS benchmark clients were multiplexed; Redis's clients now (Respite's upstreams + this redis-cli):"
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" CLIENT LIST | tr -d '\r' | awk '{
        line = "    "
        for (i = 1; i <= NF; i++) if ($i ~ /^(addr|name|cmd|resp)=/) line = line "  " $i
        print line
    }'
}

# --- main --------------------------------------------------------------------------------------

for tool in redis-server redis-cli redis-benchmark python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run: make deps)"
done

say "starting"
start_redis
start_respite
for step in $DEMO_STEPS; do
    declare -F "step_$step" >/dev/null || die "unknown demo step: $step"
    "step_$step"
done
say "done; stopping respite and redis-server"
