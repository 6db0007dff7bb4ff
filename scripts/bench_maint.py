"""The benchmark's maintenance segment: Respite in front of respite-maintsim, respite-load through
it steady and again through a `bind` (MOVING and handoff), with latency, longest stall, errors
and lost writes side by side."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import READY_TIMEOUT_S, ROOT, Service, log, start_respite

# The maintenance segment's target: no client error and a longest stall under this (loopback).
STALL_TARGET_MS = 100.0




def start_maintsim(workdir: Path, binary: Path) -> tuple[Service, int]:
    """Starts respite-maintsim (it spawns its own redis-server); returns it and its API port."""
    sub = workdir / "maintsim"
    sub.mkdir()
    out = workdir / "maintsim.out"
    with open(out, "wb") as o, open(workdir / "maintsim.log", "wb") as e:
        proc = subprocess.Popen([str(binary), "--port", "0", "--api-port", "0", "--workdir", str(sub)],
                                stdin=subprocess.DEVNULL, stdout=o, stderr=e)
    svc = Service("maintsim", 0, proc, workdir / "maintsim.log")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        ready = [line for line in out.read_text().splitlines() if line.startswith("READY ")]
        if ready:
            fields = dict(kv.split("=", 1) for kv in ready[0].split()[1:])
            svc.port = int(fields["port"])
            return svc, int(fields["api"])
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    svc.stop()
    raise RuntimeError(f"respite-maintsim printed no READY line: {svc.tail()}")


def sim_api(api: int, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{api}{path}", data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def wait_action(api: int, action_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = sim_api(api, "GET", f"/action/{action_id}")
        if rec.get("status") in ("success", "failed"):
            return rec
        time.sleep(0.1)
    raise RuntimeError(f"action {action_id} did not finish within {timeout:.0f}s")


@dataclass
class StallRun:
    """One respite-load run of the maintenance segment."""

    name: str
    report: dict
    lost_writes: int
    events: list[str] = field(default_factory=list)  # Respite's maintenance log lines

    @property
    def errors(self) -> int:
        r = self.report
        return r["failed"] + r["timeouts"] + r["connection_errors"] + r["abandoned"] + r["unexpected_replies"]

    @property
    def stall_ms(self) -> float:
        return self.report["stall_us"]["client_max"] / 1000

    def passed(self) -> bool:
        return self.errors == 0 and self.lost_writes == 0 and self.stall_ms < STALL_TARGET_MS


def load_run(args: argparse.Namespace, workdir: Path, name: str, port: int,
             api: int, action: dict | None, respite_log: Path) -> StallRun:
    """Runs respite-load basic through Respite; with `action`, starts it `--maint-at` s in."""
    out = workdir / f"load-{name}.json"
    argv = [str(args.load_bin), "--port", str(port), "--mode", "basic", "--clients", str(args.maint_clients),
            "--duration", str(args.maint_duration), "--key-prefix", f"bench-{name}", "--json", str(out), "--quiet"]
    log_mark = respite_log.stat().st_size
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if action is not None:
            try:
                proc.wait(timeout=args.maint_at)
            except subprocess.TimeoutExpired:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"respite-load ended before the {action['type']}")
            action_id = sim_api(api, "POST", "/action", action)["action_id"]
        _, err = proc.communicate(timeout=args.maint_duration + 30)
        if action is not None:
            rec = wait_action(api, action_id)
            if rec["status"] != "success":
                raise RuntimeError(f"{action['type']} failed: {rec}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace')}")
    report = json.loads(out.read_text())
    backend = sim_api(api, "GET", "/status")["backend"]
    checked = workdir / f"check-{name}.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check-load.py"), "--server", backend,
                           "--json", str(checked), "--quiet", str(out)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"check-load failed: {done.stderr.strip()}")
    with open(respite_log, errors="replace") as f:
        f.seek(log_mark)
        events = [line.split("maintenance: ", 1)[1] for line in f.read().splitlines() if "maintenance: " in line]
    return StallRun(name, report, json.loads(checked.read_text())["lost_writes"], events)


def maintenance_segment(args: argparse.Namespace, workdir: Path, services: list[Service]) -> list[StallRun]:
    sub = workdir / "maint"
    sub.mkdir()
    sim, api = start_maintsim(sub, args.maintsim_bin)
    services.append(sim)
    respite = start_respite(sub, args.respite, sim.port, args.respite_arg)
    services.append(respite)
    respite.wait_ready()
    log(f"maintenance: respite-maintsim {sim.port} (api {api}), Respite {respite.port}")
    runs = []
    bind = {"type": "bind", "parameters": {"time": args.maint_bind_time}}
    for name, action in (("steady", None), ("bind", bind)):
        t = time.monotonic()
        run = load_run(args, sub, name, respite.port, api, action, respite.log)
        runs.append(run)
        r = run.report
        log(f"maintenance {name:<6} {time.monotonic() - t:5.1f}s  ok {r['ok']}  errors {run.errors}  "
            f"lost {run.lost_writes}  p99 {r['latency_us']['p99'] / 1000:.2f} ms  "
            f"max {r['latency_us']['max'] / 1000:.2f} ms  stall {run.stall_ms:.1f} ms")
    respite.stop()
    sim.stop()
    return runs


def stall_table(runs: list[StallRun]) -> list[str]:
    head = ["figure"] + [r.name for r in runs]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]

    def row(label: str, fn) -> None:
        lines.append("| " + " | ".join([label] + [fn(r) for r in runs]) + " |")

    row("requests ok", lambda r: f"{r.report['ok']:,}")
    row("requests/s", lambda r: f"{r.report['ok'] / max(r.report['run_us'] / 1e6, 1e-9):,.0f}")
    row("client errors (failed, timeouts, connection errors, abandoned)", lambda r: str(r.errors))
    row("lost acknowledged writes", lambda r: str(r.lost_writes))
    row("pushes seen by clients", lambda r: str(r.report["pushes"]))
    row("p50 ms", lambda r: f"{r.report['latency_us']['p50'] / 1000:.2f}")
    row("p99 ms", lambda r: f"{r.report['latency_us']['p99'] / 1000:.2f}")
    row("p99.9 ms", lambda r: f"{r.report['latency_us']['p999'] / 1000:.2f}")
    row("max latency ms", lambda r: f"{r.report['latency_us']['max'] / 1000:.2f}")
    row("max stall ms (per client)", lambda r: f"{r.stall_ms:.1f}")
    row("max stall ms (global)", lambda r: f"{r.report['stall_us']['global_max'] / 1000:.1f}")
    row(f"0 errors, 0 lost, stall < {STALL_TARGET_MS:.0f} ms", lambda r: verdict(r.passed()))
    return lines

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
