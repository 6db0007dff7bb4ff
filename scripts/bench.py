#!/usr/bin/env python3
"""`make bench`: redis-server direct vs twemproxy vs Respite, measured in one run.

Starts one redis-server, twemproxy (nutcracker) and Respite in front of it, all on free
127.0.0.1 ports, and runs redis-benchmark against each target at -P 1 and -P 16 for several
interleaved rounds (the target order rotates every round). Prints per-test medians of
requests/s, p50 and p99, each proxy's ratio to direct, Respite's ratio to twemproxy with the
project's targets marked PASS/MISS, and the resident memory each proxy spends on 1,000 idle
clients. Then a maintenance segment: Respite in front of respite-maintsim, respite-load with the
same clients steady and again through a `bind` (MOVING and handoff), its latency, longest stall,
errors and lost writes side by side. With --write-doc the report replaces docs/benchmarks.md.

Every process started here is stopped by PID, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_maint import STALL_TARGET_MS, maintenance_segment, stall_table, verdict
from benchlib import PING, ROOT, Service, log, ping, raise_fd_limit, start_redis, start_respite, start_twemproxy

DEFAULT_TESTS = "set,get,incr,lpush,lrange_100,mset"
ALL_TARGETS = ("direct", "twemproxy", "respite", "before")
LABEL = {"direct": "direct", "twemproxy": "twemproxy", "respite": "Respite", "before": "Respite before"}

# The targets the project set for Respite against twemproxy (reported, never asserted).
RPS_TARGET = {1: 1.0, 16: 1.3}


# --- redis-benchmark -----------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p50: float
    p99: float


def parse_csv(text: str) -> dict[str, Sample]:
    """Parses redis-benchmark 7's --csv output by its header; keys are short test names."""
    rows: dict[str, Sample] = {}
    for row in csv.DictReader(io.StringIO(text)):
        name = row.get("test", "")
        if not name or "needed to benchmark" in name:
            continue
        rows[name.split()[0]] = Sample(float(row["rps"]), float(row["p50_latency_ms"]),
                                       float(row["p99_latency_ms"]))
    return rows


def run_benchmark(port: int, tests: str, clients: int, requests: int, pipeline: int) -> tuple[dict[str, Sample], int]:
    """Runs redis-benchmark once; returns its samples and the requests it sent (`requests` per
    CSV row, the LPUSH that fills LRANGE's list included)."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", tests, "-c", str(clients),
            "-n", str(requests), "-P", str(pipeline), "--csv"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    rows = parse_csv(done.stdout)
    if not rows:
        raise RuntimeError(f"{shlex.join(argv)} printed no results: {done.stdout!r} {done.stderr!r}")
    sent = requests * sum(1 for r in csv.DictReader(io.StringIO(done.stdout)) if r.get("test"))
    return rows, sent


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flushall(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
        if not s.recv(64).startswith(b"+OK"):
            raise RuntimeError("FLUSHALL failed")


# --- idle clients --------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class IdleResult:
    before_kib: int
    after_kib: int
    clients: int

    @property
    def per_client_bytes(self) -> float:
        return (self.after_kib - self.before_kib) * 1024 / self.clients


def idle_clients(service: Service, count: int) -> IdleResult:
    """Opens `count` connections, PINGs on each once, and reads the RSS before and after."""
    ping_all([service.port])  # one round trip first, so upstream connections exist
    before = rss_kib(service.proc.pid)
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", service.port), timeout=10))
        for s in socks:
            s.sendall(PING)
        for s in socks:
            reply = s.recv(64)
            if not reply.startswith(b"+PONG"):
                raise RuntimeError(f"{service.name}: idle client got {reply!r}")
        time.sleep(0.2)  # let the proxy finish its bookkeeping for the last reads
        after = rss_kib(service.proc.pid)
    finally:
        for s in socks:
            s.close()
    return IdleResult(before, after, count)


def ping_all(ports: list[int]) -> None:
    for port in ports:
        if not ping(port, timeout=5):
            raise RuntimeError(f"no PONG from {port}")


# --- report --------------------------------------------------------------------------------


@dataclass
class Results:
    targets: list[str]
    tests: list[str] = field(default_factory=list)
    # samples[pipeline][target][test] -> list of samples, one per round
    samples: dict[int, dict[str, dict[str, list[Sample]]]] = field(default_factory=dict)
    idle: dict[str, IdleResult] = field(default_factory=dict)
    stall: list = field(default_factory=list)  # StallRun, steady then bind
    # cpu[pipeline][target] -> the proxy's CPU µs per request, one per round (whole run)
    cpu: dict[int, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, pipeline: int, target: str, rows: dict[str, Sample]) -> None:
        per = self.samples.setdefault(pipeline, {}).setdefault(target, {})
        for test, sample in rows.items():
            if test not in self.tests:
                self.tests.append(test)
            per.setdefault(test, []).append(sample)

    def median(self, pipeline: int, target: str, test: str) -> Sample | None:
        got = self.samples.get(pipeline, {}).get(target, {}).get(test)
        if not got:
            return None
        return Sample(statistics.median(s.rps for s in got), statistics.median(s.p50 for s in got),
                      statistics.median(s.p99 for s in got))


def fmt_rps(v: float) -> str:
    return f"{v:,.0f}"


def fmt_ratio(a: Sample | None, b: Sample | None) -> str:
    return f"{a.rps / b.rps:.2f}×" if a and b and b.rps else "–"




def table(results: Results, pipeline: int) -> list[str]:
    t = results.targets
    both = "respite" in t and "twemproxy" in t
    head = ["test"] + [f"{LABEL[x]} rps" for x in t]
    head += [f"{LABEL[x]} ÷ direct" for x in t if x != "direct" and "direct" in t]
    if both:
        head += ["Respite ÷ twemproxy", f"≥ {RPS_TARGET[pipeline]:.1f}× twemproxy"]
    if "before" in t and "respite" in t:
        head += ["Respite ÷ Respite before"]
    head += ["p50 ms (" + " / ".join(LABEL[x] for x in t) + ")",
             "p99 ms (" + " / ".join(LABEL[x] for x in t) + ")"]
    if both:
        head += ["p99 ≤ twemproxy"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for test in results.tests:
        med = {x: results.median(pipeline, x, test) for x in t}
        row = [test] + [fmt_rps(med[x].rps) if med[x] else "–" for x in t]
        row += [fmt_ratio(med[x], med["direct"]) for x in t if x != "direct" and "direct" in t]
        if both:
            r, w = med["respite"], med["twemproxy"]
            row.append(fmt_ratio(r, w))
            row.append(verdict(r.rps >= RPS_TARGET[pipeline] * w.rps) if r and w else "–")
        if "before" in t and "respite" in t:
            row.append(fmt_ratio(med["respite"], med["before"]))
        row.append(" / ".join(f"{med[x].p50:.3f}" if med[x] else "–" for x in t))
        row.append(" / ".join(f"{med[x].p99:.3f}" if med[x] else "–" for x in t))
        if both:
            r, w = med["respite"], med["twemproxy"]
            row.append(verdict(r.p99 <= w.p99) if r and w else "–")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def cpu_line(results: Results, pipeline: int) -> list[str]:
    """The proxies' own CPU per request: what the sidecar costs, independent of how the
    machine's scheduler shared the cores among the three processes."""
    per = results.cpu.get(pipeline, {})
    med = {x: statistics.median(v) for x, v in per.items() if v}
    if not med:
        return []
    parts = [f"{LABEL[x]} {med[x]:.2f} µs" for x in results.targets if x in med]
    ratios = []
    if "respite" in med and "twemproxy" in med and med["twemproxy"] > 0:
        ratios.append(f"Respite ÷ twemproxy {med['respite'] / med['twemproxy']:.2f}×")
    if "respite" in med and "before" in med and med["before"] > 0:
        ratios.append(f"Respite ÷ Respite before {med['respite'] / med['before']:.2f}×")
    ratio = f" ({'; '.join(ratios)})" if ratios else ""
    return ["Proxy CPU per request (user + system, all tests of the run, median over rounds): "
            + ", ".join(parts) + ratio + ".", ""]


def summary(results: Results) -> list[str]:
    """One line per target the project set, counting the tests that meet it."""
    if not ("respite" in results.targets and "twemproxy" in results.targets):
        return []
    out = []
    for pipeline in sorted(results.samples):
        rps_ok = p99_ok = n = 0
        for test in results.tests:
            r = results.median(pipeline, "respite", test)
            w = results.median(pipeline, "twemproxy", test)
            if not (r and w):
                continue
            n += 1
            rps_ok += r.rps >= RPS_TARGET[pipeline] * w.rps
            p99_ok += r.p99 <= w.p99
        out.append(f"- -P {pipeline}: rps ≥ {RPS_TARGET[pipeline]:.1f}× twemproxy in {rps_ok}/{n} tests "
                   f"({verdict(rps_ok == n)}); p99 ≤ twemproxy in {p99_ok}/{n} tests ({verdict(p99_ok == n)})")
    return out


def idle_table(results: Results) -> list[str]:
    if not results.idle:
        return []
    lines = ["| proxy | RSS before | RSS with clients | per client |", "|---|---|---|---|"]
    for name, r in results.idle.items():
        lines.append(f"| {LABEL[name]} | {r.before_kib / 1024:.1f} MiB | {r.after_kib / 1024:.1f} MiB | "
                     f"{r.per_client_bytes / 1024:.1f} KiB |")
    return lines


def command_output(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            return "unknown"
        return (done.stdout + done.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


def loadavg() -> str:
    """The 1-minute load average, which says whether other work shared the machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except (OSError, IndexError):
        return "unknown"


def machine() -> dict[str, str]:
    mem = cpu = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": str(os.cpu_count()), "cpu": cpu, "memory": mem,
            "kernel": f"{platform.system()} {platform.release()}"}


def versions(respite: Path | None, targets: list[str], before: Path | None = None) -> dict[str, str]:
    v = {"redis-server": command_output(["redis-server", "--version"]),
         "redis-benchmark": command_output(["redis-benchmark", "--version"])}
    if "twemproxy" in targets:
        v["nutcracker"] = command_output(["nutcracker", "--version"])
    if "respite" in targets and respite:
        rev = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        v["respite"] = f"{command_output([str(respite), '--version'])}, git {rev}"
        v["swift"] = command_output(["swift", "--version"])
    if "before" in targets and before:
        v["respite before"] = f"{command_output([str(before), '--version'])} ({before})"
    return v


def report(results: Results, args: argparse.Namespace, argv: list[str], started: datetime.datetime,
           elapsed: float, load: tuple[str, str]) -> str:
    m = machine()
    out = ["# Benchmarks", "",
           "Respite against redis-server direct and twemproxy (nutcracker), measured by "
           "`scripts/bench.py` (`make bench`) in one run: the same redis-server behind both proxies, "
           "redis-benchmark against each target in interleaved rounds (target order rotated each round), "
           "medians over rounds. Ratios compare requests/s. PASS/MISS mark the project's targets for "
           "Respite: requests/s ≥ twemproxy at -P 1 and ≥ 1.3× twemproxy at -P 16, p99 ≤ twemproxy's. "
           "The last section measures what clients see through a maintenance: the longest stall while "
           "Respite hands its upstream connections off on MOVING.",
           "",
           "twemproxy runs as `server_connections: 1`, `preconnect: true`; Respite with its defaults "
           "(plus any arguments shown below). Everything shares the machine with redis-benchmark, which "
           "itself takes most of a core, so the absolute numbers are lower than on a quiet many-core host; "
           "the ratios are the point. On two cores the three busy processes (redis-benchmark, redis-server, "
           "the proxy) share the CPUs as the scheduler decides, so requests/s moves by 10–30% from round to "
           "round; below each table, the proxies' own CPU per request shows what each one costs without "
           "that noise.",
           "",
           f"- command: `{shlex.join(argv)}`",
           f"- date: {started.strftime('%Y-%m-%d %H:%M %Z').strip()} (took {elapsed / 60:.1f} min)",
           f"- machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']} memory, {m['kernel']}; "
           f"1-minute load average {load[0]} at the start, {load[1]} at the end (above ~0.5 means other "
           f"work shared the CPUs and the numbers are noisier)",
           f"- redis-benchmark: `-t {args.tests} -c {args.clients}`, -P 1 with -n {args.requests}, "
           f"-P 16 with -n {args.requests_pipelined}; {args.rounds} rounds; FLUSHALL before every run",
           ]
    if args.respite_arg:
        out.append(f"- Respite arguments: `{shlex.join(args.respite_arg)}`")
    out.append("- versions: " + "; ".join(f"{k} `{v}`" for k, v in versions(args.respite, results.targets, args.respite_before).items()))
    out.append("")
    for pipeline, n in ((1, args.requests), (16, args.requests_pipelined)):
        if pipeline not in results.samples:
            continue
        out += [f"## -P {pipeline} (-n {n}, -c {args.clients})", ""] + table(results, pipeline) + [""] + cpu_line(results, pipeline)
    s = summary(results)
    if results.stall:
        b = results.stall[-1]
        s.append(f"- through a bind: {b.errors} client errors, {b.lost_writes} lost writes, longest stall "
                 f"{b.stall_ms:.1f} ms (target: none, none, < {STALL_TARGET_MS:.0f} ms): {verdict(b.passed())}")
    if s:
        out += ["## Targets", ""] + s + [""]
    idle = idle_table(results)
    if idle:
        out += [f"## Memory with {args.idle_clients:,} idle clients", "",
                f"A freshly started proxy's VmRSS (`/proc/<pid>/status`) after one PING, then with "
                f"{args.idle_clients:,} more connections open that have each sent one PING and read its reply.", ""] + idle + [""]
    if results.stall:
        bind = results.stall[-1]
        out += ["## Stall through a maintenance (bind)", "",
                f"Respite (its defaults plus any arguments above) in front of `respite-maintsim`, which fronts "
                f"a real redis-server it spawned. `respite-load --mode basic --clients {args.maint_clients} "
                f"--duration {args.maint_duration:g}` (pipeline 1, RESP2, SETs of fresh keys and INCRs) runs "
                f"twice: steady, and with a `bind` (`time` {args.maint_bind_time:g} s) started "
                f"{args.maint_at:g} s in — a replica is synced, MOVING is pushed to Respite, which hands its "
                f"upstream connections off to the new endpoint, and the simulator promotes the replica. "
                f"Every acknowledged write is then checked on the final backend (`scripts/check-load.py`). "
                f"A stall is the longest time one client wanted progress without a successful reply. "
                f"Target (PASS/MISS, not asserted): no errors, nothing lost, longest stall under "
                f"{STALL_TARGET_MS:.0f} ms on loopback.", ""] + stall_table(results.stall) + [""]
        if bind.events:
            out += ["Respite's log during the bind run:", "", "```"] + bind.events + ["```", ""]
    return "\n".join(out)


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default=",".join(ALL_TARGETS),
                   help="comma-separated subset of direct,twemproxy,respite (default: all)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("-n", "--requests", type=int, default=100_000, help="requests per test at -P 1")
    p.add_argument("--requests-pipelined", type=int, default=None,
                   help="requests per test at -P 16 (default 3× --requests)")
    p.add_argument("-c", "--clients", type=int, default=50)
    p.add_argument("-t", "--tests", default=DEFAULT_TESTS)
    p.add_argument("--pipelines", default="1,16", help="pipeline depths (default 1,16)")
    p.add_argument("--idle-clients", type=int, default=1000, help="0 skips the memory measurement")
    p.add_argument("--respite", type=Path, default=ROOT / ".build" / "release" / "respite")
    p.add_argument("--respite-before", type=Path, default=None,
                   help="a previous respite binary, measured as the target 'before' in the same run "
                        "(copy it out of .build first: a change's CPU per request against the code before it)")
    p.add_argument("--respite-arg", action="append", default=[],
                   help="extra argument for respite (repeat: --respite-arg=--upstream-pool-size --respite-arg=2)")
    p.add_argument("--maint", action=argparse.BooleanOptionalAction, default=True,
                   help="run the maintenance segment (default on; needs respite-maintsim and respite-load)")
    p.add_argument("--maint-clients", type=int, default=50, help="respite-load clients (default 50)")
    p.add_argument("--maint-duration", type=float, default=8.0, help="seconds per load run (default 8)")
    p.add_argument("--maint-at", type=float, default=2.0, help="seconds into the run the bind starts (default 2)")
    p.add_argument("--maint-bind-time", type=float, default=3.0, help="the bind's time parameter (default 3)")
    p.add_argument("--maintsim-bin", type=Path, default=None, help="default: next to --respite")
    p.add_argument("--load-bin", type=Path, default=None, help="default: next to --respite")
    p.add_argument("--write-doc", action="store_true", help="also write the report to --doc")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    bad = [t for t in args.targets if t not in ALL_TARGETS]
    if bad or not args.targets:
        p.error(f"unknown targets {bad}; choose from {','.join(ALL_TARGETS)}")
    if args.respite_before and "before" not in args.targets:
        args.targets.append("before")
    args.targets = [t for t in ALL_TARGETS if t in args.targets]
    if "before" in args.targets and not (args.respite_before and os.access(args.respite_before, os.X_OK)):
        p.error("the target 'before' needs --respite-before BIN")
    args.pipelines = [int(x) for x in args.pipelines.split(",") if x]
    for pipeline in args.pipelines:
        RPS_TARGET.setdefault(pipeline, 1.0)
    if args.requests_pipelined is None:
        args.requests_pipelined = 3 * args.requests
    if "respite" in args.targets and not os.access(args.respite, os.X_OK):
        p.error(f"no Respite binary at {args.respite} (run: make build, or --targets direct,twemproxy)")
    args.maintsim_bin = args.maintsim_bin or args.respite.parent / "respite-maintsim"
    args.load_bin = args.load_bin or args.respite.parent / "respite-load"
    args.maint = args.maint and "respite" in args.targets
    for binary in (args.maintsim_bin, args.load_bin) if args.maint else ():
        if not os.access(binary, os.X_OK):
            p.error(f"no {binary} (run: make build, or --no-maint)")
    if args.maint_at >= args.maint_duration:
        p.error("--maint-at must be less than --maint-duration")
    return args


def on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the finally block stops every process."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    raise_fd_limit(args.idle_clients + 1024)
    started, t0, load_start = datetime.datetime.now().astimezone(), time.monotonic(), loadavg()
    results = Results(targets=list(args.targets))
    services: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="respite-bench.") as tmp:
        workdir = Path(tmp)
        try:
            redis = start_redis(workdir)
            services.append(redis)
            redis.wait_ready()
            ports = {"direct": redis.port}
            procs: dict[str, Service] = {}
            if "twemproxy" in args.targets:
                procs["twemproxy"] = start_twemproxy(workdir, redis.port)
                services.append(procs["twemproxy"])
            if "respite" in args.targets:
                procs["respite"] = start_respite(workdir, args.respite, redis.port, args.respite_arg)
                services.append(procs["respite"])
            if "before" in args.targets:
                before_dir = workdir / "before"
                before_dir.mkdir()
                procs["before"] = start_respite(before_dir, args.respite_before, redis.port, args.respite_arg)
                services.append(procs["before"])
            for name, svc in procs.items():
                svc.wait_ready()
                ports[name] = svc.port
            log(f"redis {redis.port}; " + "; ".join(f"{n} {s.port} (pid {s.proc.pid})" for n, s in procs.items()))

            order = list(args.targets)
            for rnd in range(args.rounds):
                for pipeline in args.pipelines:
                    n = args.requests if pipeline == 1 else args.requests_pipelined
                    for target in order:
                        flushall(redis.port)
                        t = time.monotonic()
                        pid = procs[target].proc.pid if target in procs else None
                        cpu0 = cpu_seconds(pid) if pid else 0.0
                        rows, sent = run_benchmark(ports[target], args.tests, args.clients, n, pipeline)
                        results.add(pipeline, target, rows)
                        if pid and sent:
                            us = (cpu_seconds(pid) - cpu0) * 1e6 / sent
                            results.cpu.setdefault(pipeline, {}).setdefault(target, []).append(us)
                        log(f"round {rnd + 1}/{args.rounds} -P {pipeline:<2} {target:<9} {time.monotonic() - t:5.1f}s  "
                            + "  ".join(f"{k} {fmt_rps(v.rps)}" for k, v in rows.items()))
                order = order[1:] + order[:1]

            # Memory is measured on fresh proxies, so pools grown by the benchmark do not hide
            # what each connection costs.
            for svc in procs.values():
                svc.stop()
            if args.idle_clients > 0:
                for name in procs:
                    fresh_dir = workdir / f"idle-{name}"
                    fresh_dir.mkdir()
                    if name == "twemproxy":
                        svc = start_twemproxy(fresh_dir, redis.port)
                    else:
                        binary = args.respite_before if name == "before" else args.respite
                        svc = start_respite(fresh_dir, binary, redis.port, args.respite_arg)
                    services.append(svc)
                    svc.wait_ready()
                    results.idle[name] = idle_clients(svc, args.idle_clients)
                    svc.stop()
                    r = results.idle[name]
                    log(f"{name}: RSS {r.before_kib} KiB -> {r.after_kib} KiB with {args.idle_clients} idle clients")
            if args.maint:
                results.stall = maintenance_segment(args, workdir, services)
        except KeyboardInterrupt:
            log("interrupted; stopping everything")
            return 130
        except (RuntimeError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as e:
            log(f"bench failed: {e}")
            return 1
        finally:
            for svc in reversed(services):
                svc.stop()

    text = report(results, args, ["scripts/bench.py", *argv], started, time.monotonic() - t0,
                  (load_start, loadavg()))
    print(text)
    if args.write_doc:
        args.doc.write_text(text + "\n")
        log(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
