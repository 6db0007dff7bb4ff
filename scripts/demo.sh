#!/usr/bin/env bash
# `make demo`: Redis maintenance, hidden from the application. Starts respite-maintsim (a
# maintenance-capable endpoint that spawns its own redis-server backends) and Respite in front of
# it on free loopback ports, drives maintenance-unaware clients (respite-load: RESP2 and RESP3,
# pipelined and not) through Respite, and meanwhile runs a bind (MOVING + handoff), a migrate
# (MIGRATING/MIGRATED with replies slower than Respite's upstream timeout) and a failover
# (FAILING_OVER/FAILED_OVER). Then it checks every acknowledged write on the final backend and
# prints what the clients saw. A two-client probe load runs during each action alone, so each
# action's own longest stall is shown too. Exits non-zero when a client saw an error or a write
# was lost. Everything it starts is stopped by PID on exit, Ctrl-C included.
#
# The demo is a list of steps (DEMO_STEPS below); each step is a function named step_<name>.
# Run a subset with   DEMO_STEPS="maintenance verify" scripts/demo.sh
# DEMO_KEEP=1 keeps the work directory: logs, load reports (with per-second lines) and a timeline
# of the actions (epoch seconds).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RESPITE_BIN="${RESPITE_BIN:-$ROOT/.build/release/respite}"
BIN_DIR="$(dirname "$RESPITE_BIN")"
MAINTSIM_BIN="${RESPITE_MAINTSIM_BIN:-$BIN_DIR/respite-maintsim}"
LOAD_BIN="${RESPITE_LOAD_BIN:-$BIN_DIR/respite-load}"
DEMO_STEPS="${DEMO_STEPS:-traffic maintenance verify}"
# Respite's upstream timeout: shorter than the migrate's added reply latency, so only the
# relaxed timeout keeps those requests alive.
UPSTREAM_TIMEOUT="${DEMO_UPSTREAM_TIMEOUT:-250ms}"
MIGRATE_LATENCY_MS="${DEMO_MIGRATE_LATENCY_MS:-300}"
CLIENT_TIMEOUT_MS="${DEMO_CLIENT_TIMEOUT_MS:-2000}"
# respite-load runs: "name clients pipeline resp" (20 clients in all).
LOAD_RUNS=("p1-resp2 8 1 2" "p8-resp2 4 8 2" "p1-resp3 4 1 3" "p8-resp3 4 8 3")
READY_TIMEOUT_S=20
ACTION_TIMEOUT_S=30
STALL_TARGET_MS=100

WORK="$(mktemp -d -t respite-demo.XXXXXX)"
PIDS=()          # every process this script started, stopped in reverse order on exit
LOAD_PIDS=()
SIM_PORT="" SIM_API="" RESPITE_PORT=""
RC_FINAL=0

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
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: kept $WORK" >&2; else rm -rf "$WORK"; fi
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

# The simulator's HTTP API: api METHOD PATH [BODY] prints the JSON answer.
api() {
    curl -sS --max-time 10 -X "$1" "http://127.0.0.1:$SIM_API$2" ${3:+-d "$3"}
}

# Reads one field of a JSON object on stdin: json_field NAME.
json_field() {
    python3 -c 'import json, sys; v = json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

# Starts an action and waits (at most ACTION_TIMEOUT_S) until it has finished; fails unless it
# succeeded. $1 type, $2 parameters as JSON.
run_action() {
    local kind=$1 params=$2 id status t0=$SECONDS deadline=$((SECONDS + ACTION_TIMEOUT_S))
    id="$(api POST /action "{\"type\":\"$kind\",\"parameters\":$params}" | json_field action_id)"
    [ -n "$id" ] || die "the simulator did not start a $kind action"
    echo "$(date +%s.%N) start $id" >>"$WORK/timeline"
    while (( SECONDS < deadline )); do
        status="$(api GET "/action/$id" | json_field status)"
        case "$status" in
            success) echo "$(date +%s.%N) end $id" >>"$WORK/timeline"
                     info "$(printf '%-9s %-48s done in %ss' "$kind" "$params" $((SECONDS - t0)))"; return 0 ;;
            failed)  api GET "/action/$id" >&2; echo >&2; die "$kind action failed" ;;
        esac
        sleep 0.1
    done
    die "$kind action did not finish within ${ACTION_TIMEOUT_S}s"
}

# Prints the key count of the simulator's current backend.
backend_dbsize() {
    local b
    b="$(api GET /status | json_field backend)"
    redis-cli -h "${b%:*}" -p "${b##*:}" DBSIZE 2>/dev/null || echo 0
}

# --- setup -------------------------------------------------------------------------------------

start_maintsim() {
    [ -x "$MAINTSIM_BIN" ] || die "no respite-maintsim at $MAINTSIM_BIN (run: make build)"
    mkdir -p "$WORK/maintsim"
    "$MAINTSIM_BIN" --port 0 --api-port 0 --workdir "$WORK/maintsim" \
        >"$WORK/maintsim.out" 2>"$WORK/maintsim.log" &
    local pid=$! line="" deadline=$((SECONDS + READY_TIMEOUT_S))
    PIDS+=("$pid")
    while (( SECONDS < deadline )); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/maintsim.log" >&2; die "respite-maintsim exited"; }
        line="$(grep -m1 '^READY ' "$WORK/maintsim.out" || true)"
        [ -n "$line" ] && break
        sleep 0.05
    done
    [ -n "$line" ] || die "respite-maintsim printed no READY line within ${READY_TIMEOUT_S}s"
    SIM_PORT="$(sed -E 's/.* port=([0-9]+).*/\1/' <<<"$line")"
    SIM_API="$(sed -E 's/.* api=([0-9]+).*/\1/' <<<"$line")"
    info "respite-maintsim pid $pid  127.0.0.1:$SIM_PORT (API $SIM_API) -> redis-server $(sed -E 's/.* backend=([^ ]+).*/\1/' <<<"$line")"
}

start_respite() {
    [ -x "$RESPITE_BIN" ] || die "no Respite binary at $RESPITE_BIN (run: make build)"
    RESPITE_PORT="$(free_port)"
    "$RESPITE_BIN" --bind 127.0.0.1 --port "$RESPITE_PORT" --upstream "127.0.0.1:$SIM_PORT" \
        --upstream-timeout "$UPSTREAM_TIMEOUT" 2>"$WORK/respite.log" &
    local pid=$!
    PIDS+=("$pid")
    wait_ready "$RESPITE_PORT" "$pid" "$WORK/respite.log"
    info "respite          pid $pid  127.0.0.1:$RESPITE_PORT -> 127.0.0.1:$SIM_PORT  (upstream-timeout $UPSTREAM_TIMEOUT)"
}

# --- steps -------------------------------------------------------------------------------------

# A quick look at plain throughput: redis-benchmark through Respite, unpipelined and -P 16.
step_traffic() {
    say "redis-benchmark through Respite (set,get -n 20000 -c 20; -P 1 and -P 16)"
    printf '   %-8s %-6s %12s %9s %9s\n' test "-P" requests/s "p50 ms" "p99 ms"
    local p
    for p in 1 16; do
        redis-benchmark -h 127.0.0.1 -p "$RESPITE_PORT" -t set,get -n 20000 -c 20 -P "$p" --csv 2>/dev/null |
            python3 -c '
import csv, sys
for r in csv.DictReader(sys.stdin):
    if "needed to benchmark" in r["test"]:
        continue
    print("   %-8s %-6s %12s %9s %9s" % (r["test"].split()[0], sys.argv[1], format(float(r["rps"]), ",.0f"),
                                        r["p50_latency_ms"], r["p99_latency_ms"]))' "$p"
    done
    redis-cli -h 127.0.0.1 -p "$RESPITE_PORT" FLUSHALL >/dev/null
}

# Load through Respite while the simulator runs bind, migrate and failover one after another.
step_maintenance() {
    [ -x "$LOAD_BIN" ] || die "no respite-load at $LOAD_BIN (run: make build)"
    say "respite-load through Respite while maintenance runs"
    echo "$(date +%s.%N) load-start" >>"$WORK/timeline"
    local run name clients pipeline resp
    for run in "${LOAD_RUNS[@]}"; do
        read -r name clients pipeline resp <<<"$run"
        # A long duration, ended by SIGINT once the maintenance is over.
        "$LOAD_BIN" --host 127.0.0.1 --port "$RESPITE_PORT" --mode basic --clients "$clients" \
            --pipeline "$pipeline" --resp "$resp" --key-prefix "demo-$name" --duration 120 \
            --timeout-ms "$CLIENT_TIMEOUT_MS" --json "$WORK/load-$name.json" \
            >"$WORK/load-$name.out" 2>&1 &
        LOAD_PIDS+=("$!")
        PIDS+=("$!")
        info "$(printf 'load %-9s %2s clients, pipeline %-2s RESP%s  pid %s' "$name" "$clients" "$pipeline" "$resp" "$!")"
    done
    # Wait (bounded) until the clients have written, then a second of steady traffic.
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    until [ "$(backend_dbsize)" -ge 1000 ]; do
        (( SECONDS < deadline )) || die "the load wrote nothing within ${READY_TIMEOUT_S}s"
        sleep 0.1
    done
    sleep 1
    phase bind     '{"time":3}'
    phase migrate  "{\"time\":2,\"latency_ms\":$MIGRATE_LATENCY_MS}"
    phase failover '{"time":2}'
    sleep 1     # a second of traffic after the last event
    stop_loads "${LOAD_PIDS[@]}"
    for run in "${LOAD_RUNS[@]}"; do
        read -r name _ <<<"$run"
        [ -s "$WORK/load-$name.json" ] || { cat "$WORK/load-$name.out" >&2; die "respite-load $name wrote no report"; }
    done
}

# Runs one action with a two-client probe load that lasts exactly as long, so each action's own
# stall can be told apart from the others'. $1 type, $2 parameters as JSON.
phase() {
    local kind=$1 params=$2 pid
    "$LOAD_BIN" --host 127.0.0.1 --port "$RESPITE_PORT" --mode basic --clients 2 --pipeline 1 \
        --resp 3 --key-prefix "demo-probe-$kind" --duration 120 --timeout-ms "$CLIENT_TIMEOUT_MS" \
        --json "$WORK/probe-$kind.json" --quiet >"$WORK/probe-$kind.out" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    run_action "$kind" "$params"
    stop_loads "$pid"
    [ -s "$WORK/probe-$kind.json" ] || { cat "$WORK/probe-$kind.out" >&2; die "the $kind probe wrote no report"; }
}

# Ends respite-load runs by SIGINT (they still write their reports) and waits, bounded: a run
# ends within its client timeout + 1 s of the signal.
stop_loads() {
    local pid deadline=$((SECONDS + CLIENT_TIMEOUT_MS / 1000 + 10))
    for pid in "$@"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "$@"; do
        while kill -0 "$pid" 2>/dev/null; do
            (( SECONDS < deadline )) || die "respite-load $pid did not stop"
            sleep 0.1
        done
        wait "$pid" || die "respite-load $pid exited with $?"
    done
}

# Every acknowledged write on the final backend, then the table; sets RC_FINAL.
step_verify() {
    local backend
    backend="$(api GET /status | json_field backend)"
    say "checking acknowledged writes on the final backend $backend"
    local check_rc=0
    python3 "$ROOT/scripts/check-load.py" --server "$backend" --json "$WORK/check.json" \
        "$WORK"/load-*.json "$WORK"/probe-*.json | sed 's|^'"$WORK"'/|   |' || check_rc=$?
    [ "$check_rc" -le 1 ] || die "could not check the writes (check-load exit $check_rc)"
    say "what the clients saw"
    python3 - "$WORK" "$STALL_TARGET_MS" "$MIGRATE_LATENCY_MS" <<'EOF' || RC_FINAL=$?
import collections, glob, json, os, re, sys
work, target, injected = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
reports = {os.path.basename(p)[:-5]: json.load(open(p))
           for p in sorted(glob.glob(f"{work}/load-*.json")) + sorted(glob.glob(f"{work}/probe-*.json"))}
check = json.load(open(f"{work}/check.json"))
log = open(f"{work}/respite.log", errors="replace").read().splitlines()

print("   %-14s %7s %4s %4s %10s %6s %8s %6s %9s %9s %9s" % ("run", "clients", "-P", "RESP", "ok", "errors",
      "pushes", "recon", "p99 ms", "max ms", "stall ms"))
errors = 0
for name, r in reports.items():
    e = r["failed"] + r["timeouts"] + r["connection_errors"] + r["abandoned"] + r["unexpected_replies"]
    errors += e
    print("   %-14s %7d %4d %4d %10d %6d %8d %6d %9.2f %9.2f %9.2f" % (
        name, r["clients"], r["pipeline"], r["resp"], r["ok"], e, r["pushes"], r["reconnects"],
        r["latency_us"]["p99"] / 1000, r["latency_us"]["max"] / 1000, r["stall_us"]["client_max"] / 1000))
    for reason, n in sorted(r.get("failures", {}).items()):
        print(f"             {name}: {n} × {reason}")
    if r["timeouts"] or r["connection_errors"] or r["abandoned"]:
        print(f"             {name}: timeouts {r['timeouts']}, connection errors {r['connection_errors']}, "
              f"abandoned {r['abandoned']}")

events = collections.Counter()
distinct = collections.defaultdict(set)
handoffs, took = 0, []
for line in log:
    m = re.search(r"maintenance: event=(\S+) seq=(\S+)", line)
    if m:
        events[m.group(1)] += 1
        distinct[m.group(1)].add(m.group(2))
    m = re.search(r"maintenance: handoff .*connections=(\d+) took=(\d+)ms", line)
    if m:
        handoffs += 1
        took.append(int(m.group(2)))
order = ["MOVING", "MIGRATING", "MIGRATED", "FAILING_OVER", "FAILED_OVER"]
kinds = order + sorted(k for k in events if k not in order)
stall = max(r["stall_us"]["client_max"] for r in reports.values()) / 1000
gstall = max(r["stall_us"]["global_max"] for r in reports.values()) / 1000
main = [r for n, r in reports.items() if n.startswith("load-")]
p99 = max(r["latency_us"]["p99"] for r in main) / 1000
lost = check["lost_writes"]
rows = [
    ("events (log lines; distinct seq)",
     ", ".join(f"{k} {events[k]} ({len(distinct[k])})" for k in kinds if events[k]) or "none"),
    ("handoffs", f"{handoffs}" + (f" (longest took {max(took)} ms)" if took else "")),
    ("client errors", f"{errors}  {'OK' if errors == 0 else 'FAIL (must be 0)'}"),
    ("lost writes", f"{lost} of {check['sets_checked']} SETs + {check['counters_checked']} counters"
                    f"  {'OK' if lost == 0 else 'FAIL (must be 0)'}"),
    ("max stall (ms)", f"{stall:.1f} per client, {gstall:.1f} global (whole run)"),
]
# Each action's own stall, from the probe that ran just for it. The migrate delays every reply by
# `injected` ms, so no client waits less than that then; its target is on what Respite adds.
for kind, floor in (("bind", 0.0), ("migrate", injected), ("failover", 0.0)):
    r = reports.get(f"probe-{kind}")
    if r is None:
        continue
    s = r["stall_us"]["client_max"] / 1000
    ok = s - floor < target
    note = f" (injected {floor:.0f} ms, {s - floor:.1f} beyond)" if floor else ""
    rows.append((f"  during {kind}", f"{s:.1f}{note}  {'PASS' if ok else 'MISS'} (target < {target:.0f} ms)"))
rows += [
    ("p99 latency (ms)", f"{p99:.2f} (worst of the {len(main)} load runs)"),
]
print()
for k, v in rows:
    print(f"   {k:<34} {v}")
missing = [k for k in order if not events[k]]
if missing:
    print(f"\n   Respite logged no {', '.join(missing)} event: the maintenance did not reach it")
sys.exit(1 if errors or lost or missing else 0)
EOF
}

# --- main --------------------------------------------------------------------------------------

for tool in redis-server redis-cli redis-benchmark python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run: make deps)"
done

say "starting"
start_maintsim
start_respite
for step in $DEMO_STEPS; do
    declare -F "step_$step" >/dev/null || die "unknown demo step: $step"
    "step_$step"
done
if [ "$RC_FINAL" -ne 0 ]; then
    say "FAILED: clients saw errors or writes were lost (see above); stopping everything"
    exit 1
fi
say "done; stopping respite, respite-maintsim and its redis-servers"
