#!/usr/bin/env python3
"""Redis's own TCL test suite through Respite, against a committed direct baseline.

`make compat` runs this. It starts a redis-server of its own (debug, module and protected-config
commands enabled) on a free loopback port and, unless --direct, Respite in front of it; then runs
each unit of the suite (scripts/compat-fetch.sh brings the suite that matches the installed
redis-server) in external mode (`--host/--port`, one test client, `--tags -slow`, `--durable`),
one unit at a time with a wall-clock bound, resetting the server between units over a direct
connection. RESP3: the suite's client sends `HELLO 3` right after it connects.

It reports, per protocol: tests passed, failed, not reached (in the baseline but neither passed
nor failed: the unit aborted or timed out), and the regressions against the baseline by name.
Exit status 1 when a test of the baseline regressed and is not on the exclusion list in
docs/compatibility.md, or when a unit aborted or timed out; 0 otherwise.

    scripts/compat.py --respite .build/release/respite            # both protocols, vs baseline
    scripts/compat.py --direct --write-baseline                    # re-make the baseline
    scripts/compat.py --respite BIN --proto 2 --unit unit/multi    # one unit, one protocol
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_DIR = ROOT / "tests" / "compat"
EXCLUSIONS = ROOT / "docs" / "compatibility.md"

# Units that start servers of their own, or test the server process itself, have every test
# tagged external:skip; they are listed anyway so that a new suite version is noticed.
TEST_LINE = re.compile(r"^\[(ok|err|skip|ignore|exception)\]: (.*)$")
OK_ELAPSED = re.compile(r"^(.*) \(\d+ ms\)$")
ERR_WHERE = re.compile(r"^(.*) in tests/\S+\.tcl$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --- processes -----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


class Client:
    """A minimal blocking RESP2 client for the reset between units (direct to redis-server)."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+", b":"):
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")


def pings(port: int, answers: bool = False) -> bool:
    """PING answers PONG (or, with `answers`, anything at all: a busy server is alive)."""
    try:
        c = Client(port, timeout=1.0)
        try:
            r = c.call("PING")
            return r == "PONG" or (answers and isinstance(r, RuntimeError))
        finally:
            c.close()
    except OSError:
        return False


class Managed:
    """A process this script started, on a loopback port: stopped by its PID."""
    port: int
    proc: subprocess.Popen | None = None

    def alive(self) -> bool:
        """Running and answering (an error reply counts: a server busy with a script is alive)."""
        return self.proc is not None and self.proc.poll() is None and pings(self.port, answers=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class Server(Managed):
    """redis-server on a free port, in a private directory, as the suite expects to find it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.initial_config: dict[str, str] = {}

    def start(self) -> None:
        d = self.workdir / f"redis-{self.port}"
        d.mkdir(parents=True, exist_ok=True)
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(d), "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--protected-mode", "no", "--enable-debug-command", "yes",
                "--enable-module-command", "yes", "--enable-protected-configs", "yes",
                "--logfile", str(d / "redis.log")]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: pings(self.port), 10, "redis-server")
        c = Client(self.port)
        try:
            flat = c.call("CONFIG", "GET", "*")
            self.initial_config = dict(zip(flat[::2], flat[1::2]))
        finally:
            c.close()


    def reset(self) -> None:
        """Puts the server back as it started: the state units leave behind is theirs, not Respite's."""
        c = Client(self.port)
        try:
            for cmd in (("CLIENT", "UNPAUSE"), ("SCRIPT", "KILL"), ("FUNCTION", "KILL")):
                c.call(*cmd)
            # A script that has written cannot be killed; the caller restarts the server then.
            wait_until(lambda: c.call("PING") == "PONG", 10, "redis-server to be idle")
            current = c.call("CONFIG", "GET", "*")
            current = dict(zip(current[::2], current[1::2]))
            changed = [(k, v) for k, v in self.initial_config.items() if current.get(k) != v]
            for k, v in changed:
                c.call("CONFIG", "SET", k, v)  # one at a time: some refuse, the rest still apply
            for user in c.call("ACL", "USERS") or []:
                if user != "default":
                    c.call("ACL", "DELUSER", user)
            c.call("ACL", "SETUSER", "default", "reset", "on", "nopass", "~*", "&*", "+@all")
            for cmd in (("FLUSHALL",), ("FUNCTION", "FLUSH"), ("SCRIPT", "FLUSH"),
                        ("CONFIG", "RESETSTAT"), ("SLOWLOG", "RESET"), ("LATENCY", "RESET"),
                        ("DEBUG", "SET-ACTIVE-EXPIRE", "1")):
                c.call(*cmd)
        finally:
            c.close()


class Respite(Managed):
    def __init__(self, binary: str, upstream_port: int, workdir: Path):
        self.binary = binary
        self.upstream_port = upstream_port
        self.port = free_port()
        self.log = workdir / f"respite-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--upstream", f"127.0.0.1:{self.upstream_port}", "--logfile", str(self.log)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(lambda: self.proc.poll() is None and pings(self.port), 15, "respite")



# --- the suite -----------------------------------------------------------------------------

RESP3_PATCH_MARK = "# respite-compat: HELLO 3"


def prepare_suite(src: Path, dest: Path, resp3: bool) -> Path:
    """A private copy of the suite; for RESP3 its client says HELLO 3 on every (re)connect."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(src / "tests", dest / "tests", symlinks=True)
    shutil.copy2(src / "runtest", dest / "runtest")
    if (src / "src").exists():
        shutil.copytree(src / "src", dest / "src", symlinks=True)
    (dest / "tests" / "tmp").mkdir(exist_ok=True)
    # Units that drive the tools (redis-cli, redis-benchmark, the checkers) look for them in src/.
    (dest / "src").mkdir(exist_ok=True)
    for tool in ("redis-server", "redis-cli", "redis-benchmark", "redis-check-aof", "redis-check-rdb"):
        found = shutil.which(tool)
        if found and not (dest / "src" / tool).exists():
            (dest / "src" / tool).symlink_to(found)
    if resp3:
        path = dest / "tests" / "support" / "redis.tcl"
        text = path.read_text()
        hello = (
            f"\n{RESP3_PATCH_MARK}\n"
            "proc ::redis::__respite_hello3 {id fd} {\n"
            "    fconfigure $fd -blocking 1\n"
            "    puts -nonewline $fd \"*2\\r\\n\\$5\\r\\nHELLO\\r\\n\\$1\\r\\n3\\r\\n\"\n"
            "    flush $fd\n"
            "    ::redis::redis_read_reply $id $fd\n"
            "}\n")
        text = text.replace(
            "    interp alias {} ::redis::redisHandle$id {} ::redis::__dispatch__ $id\n}",
            "    ::redis::__respite_hello3 $id $fd\n"
            "    interp alias {} ::redis::redisHandle$id {} ::redis::__dispatch__ $id\n}", 1)
        reconnect = re.search(r"(            set ::redis::fd\(\$id\) \[socket \$host \$port\]\n        \}\n)", text)
        if "__respite_hello3 $id $fd" not in text or reconnect is None:
            raise RuntimeError("the suite's redis.tcl is not the shape the RESP3 patch expects")
        text = text.replace(reconnect.group(1), reconnect.group(1) +
                            "        ::redis::__respite_hello3 $id $::redis::fd($id)\n", 1)
        path.write_text(text + hello)
    return dest


def all_units(suite: Path) -> list[str]:
    text = (suite / "tests" / "test_helper.tcl").read_text()
    body = re.search(r"set ::all_tests \{(.*?)\}", text, re.S).group(1)
    return [u for u in body.split() if u]


TEST_TIMEOUT = 90


def suite_baseport() -> int:
    for _ in range(200):
        base = random.randrange(20000, 55000 - 64)
        try:
            for p in (base - 32, base - 32 + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
    raise RuntimeError("no free port range for the suite's test server")


def run_unit(suite: Path, unit: str, port: int, timeout: float) -> tuple[dict, str]:
    """Runs one unit; returns {'ok': Counter, 'err': Counter, 'aborted': str|None} and the output."""
    argv = ["tclsh", "tests/test_helper.tcl", "--host", "127.0.0.1", "--port", str(port),
            "--single", unit, "--tags", "-slow", "--durable", "--clients", "1",
            # A test that makes no progress for this long ends the unit (the slowest test
            # direct takes about 35 s); the unit as a whole is bounded by `timeout`.
            "--timeout", str(int(TEST_TIMEOUT)),
            # The suite's own test server listens from baseport-32 (and checks port+10000):
            # a free base below 55000, so that runs side by side do not collide.
            "--baseport", str(suite_baseport())]
    proc = subprocess.Popen(argv, cwd=suite, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    aborted = None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        aborted = f"timed out after {timeout:.0f} s"
    text = ANSI.sub("", out.decode(errors="replace"))
    ok, err = Counter(), Counter()
    for line in text.splitlines():
        m = TEST_LINE.match(line)
        if not m:
            continue
        status, data = m.groups()
        if status == "ok":
            mm = OK_ELAPSED.match(data)
            ok[mm.group(1) if mm else data] += 1
        elif status == "err":
            mm = ERR_WHERE.match(data)
            err[mm.group(1) if mm else data] += 1
        elif status == "exception":
            aborted = aborted or "exception: " + data[:200]
    if aborted is None and proc.returncode not in (0, None) and "All tests passed" not in text:
        if not err:
            aborted = f"exited {proc.returncode}"
    if aborted is None and re.search(r"\[TIMEOUT\]|Timed out", text):
        aborted = "the test server's timeout"
    return {"ok": ok, "err": err, "aborted": aborted}, text


# --- baseline and exclusions ----------------------------------------------------------------

def baseline_path(proto: int) -> Path:
    return BASELINE_DIR / f"baseline-resp{proto}.txt"


def write_baseline(proto: int, results: dict[str, dict], units: list[str]) -> None:
    """Rewrites the baseline for the units that ran; the other units' lines are kept."""
    BASELINE_DIR.mkdir(parents=True, exist_ok=True)
    old = read_baseline(proto) if baseline_path(proto).exists() else {}
    lines = [f"# Tests of Redis's own suite that pass against redis-server directly, RESP{proto}.",
             "# Made by: scripts/compat.py --direct --write-baseline. One line per passing test:",
             "# unit<TAB>test name (a name passing twice in a unit is listed twice)."]
    for unit in units:
        passed = results[unit]["ok"] if unit in results else old.get(unit, Counter())
        for name, n in sorted(passed.items()):
            lines += [f"{unit}\t{name}"] * n
    baseline_path(proto).write_text("\n".join(lines) + "\n")


def read_baseline(proto: int) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    for line in baseline_path(proto).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        unit, name = line.split("\t", 1)
        out.setdefault(unit, Counter())[name] += 1
    return out


EXCLUSION_LINE = re.compile(r"^- `(?P<unit>[^`]+)` › `(?P<name>.+?)`(?: \((?P<proto>RESP[23])\))? — ")


def read_exclusions() -> set[tuple[str, str, int]]:
    """Lines `- `unit` › `test name` (RESPn)? — reason` of docs/compatibility.md."""
    out = set()
    if not EXCLUSIONS.exists():
        return out
    for line in EXCLUSIONS.read_text().splitlines():
        m = EXCLUSION_LINE.match(line)
        if m:
            protos = (int(m.group("proto")[-1]),) if m.group("proto") else (2, 3)
            for p in protos:
                out.add((m.group("unit"), m.group("name").replace("\\`", "`"), p))
    return out


# --- one pass --------------------------------------------------------------------------------

def run_pass(args, src: Path, proto: int, units: list[str], workdir: Path) -> dict[str, dict]:
    suite = prepare_suite(src, workdir / f"suite-resp{proto}", proto == 3)
    server = Server(workdir)
    server.start()
    proxy = None
    results: dict[str, dict] = {}
    logs = workdir / f"logs-resp{proto}"
    logs.mkdir(exist_ok=True)
    try:
        if not args.direct:
            proxy = Respite(args.respite, server.port, workdir)
            proxy.start()
        for unit in units:
            if not server.alive():
                print(f"  (redis-server gone before {unit}: restarting it)", flush=True)
                server.stop()
                server = Server(workdir)
                server.start()
                if proxy:
                    proxy.stop()
                    proxy = Respite(args.respite, server.port, workdir)
                    proxy.start()
            try:
                server.reset()
            except (RuntimeError, OSError) as e:
                print(f"  (redis-server could not be reset before {unit} ({e}): restarting it)", flush=True)
                server.stop()
                server = Server(workdir)
                server.start()
                server.reset()
                if proxy:
                    proxy.stop()
                    proxy = Respite(args.respite, server.port, workdir)
                    proxy.start()
            if proxy and not proxy.alive():
                print(f"  (respite not answering before {unit}: restarting it)", flush=True)
                proxy.stop()
                proxy = Respite(args.respite, server.port, workdir)
                proxy.start()
            started = time.monotonic()
            port = proxy.port if proxy else server.port
            r, text = run_unit(suite, unit, port, args.unit_timeout)
            (logs / (unit.replace("/", "_") + ".log")).write_text(text)
            r["seconds"] = time.monotonic() - started
            results[unit] = r
            flag = f"  ABORTED: {r['aborted']}" if r["aborted"] else ""
            print(f"  RESP{proto} {unit:36s} ok {sum(r['ok'].values()):4d}  err {sum(r['err'].values()):3d}"
                  f"  {r['seconds']:6.1f}s{flag}", flush=True)
    finally:
        if proxy:
            proxy.stop()
        server.stop()
    return results


def report(proto: int, results: dict[str, dict], baseline: dict[str, Counter] | None,
           exclusions: set) -> bool:
    passed = sum(sum(r["ok"].values()) for r in results.values())
    failed = sum(sum(r["err"].values()) for r in results.values())
    aborted = {u: r["aborted"] for u, r in results.items() if r["aborted"]}
    print(f"\nRESP{proto}: {passed} passed, {failed} failed, {len(aborted)} units aborted")
    good = not aborted
    if baseline is None:
        return good
    base_total = sum(sum(c.values()) for u, c in baseline.items() if u in results)
    regressions, not_reached, excluded = [], [], []
    for unit, expected in baseline.items():
        if unit not in results:
            continue
        r = results[unit]
        for name, n in expected.items():
            missing = n - min(n, r["ok"].get(name, 0))
            if not missing:
                continue
            if (unit, name, proto) in exclusions:
                excluded.append((unit, name))
            elif r["err"].get(name, 0) > 0:
                regressions.append((unit, name))
            else:
                not_reached.append((unit, name))
    held = base_total - len(regressions) - len(not_reached) - len(excluded)
    pct = 100.0 * held / base_total if base_total else 100.0
    print(f"RESP{proto}: {held} of {base_total} baseline tests pass through ({pct:.2f}%); "
          f"{len(regressions)} failed, {len(not_reached)} not reached, {len(excluded)} excluded")
    for unit, why in aborted.items():
        print(f"  aborted: {unit}: {why}")
    for unit, name in regressions:
        print(f"  regression: {unit} › {name}")
    for unit, name in not_reached:
        print(f"  not reached: {unit} › {name}")
    return good and not regressions and not not_reached


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--respite", default=str(ROOT / ".build" / "release" / "respite"))
    ap.add_argument("--direct", action="store_true", help="run against redis-server itself")
    ap.add_argument("--write-baseline", action="store_true", help="with --direct: rewrite tests/compat/")
    ap.add_argument("--proto", type=int, choices=(2, 3), action="append")
    ap.add_argument("--unit", action="append", help="run only this unit (repeatable)")
    ap.add_argument("--suite", default=str(ROOT / ".build-compat" / "redis-src"))
    ap.add_argument("--unit-timeout", type=float, default=420.0)
    ap.add_argument("--workdir", help="keep logs here (default: a temporary directory)")
    ap.add_argument("--jobs", type=int, default=1, help="run the two protocols' passes side by side")
    args = ap.parse_args()

    src = Path(args.suite)
    if not (src / "tests" / "test_helper.tcl").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "compat-fetch.sh"), str(src)], check=True)
    protos = args.proto or [2, 3]
    units = args.unit or all_units(src)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="respite-compat-"))
    workdir.mkdir(parents=True, exist_ok=True)
    exclusions = read_exclusions()
    good = True
    started = time.monotonic()
    summaries = {}
    for proto in protos:
        print(f"{'direct' if args.direct else 'through Respite'}, RESP{proto}, {len(units)} units "
              f"(logs in {workdir})", flush=True)
    if args.jobs > 1 and len(protos) > 1:
        # Each protocol has its own redis-server (and Respite): the passes share nothing.
        with ThreadPoolExecutor(max_workers=len(protos)) as pool:
            futures = {p: pool.submit(run_pass, args, src, p, units, workdir) for p in protos}
            summaries = {p: f.result() for p, f in futures.items()}
    else:
        for proto in protos:
            summaries[proto] = run_pass(args, src, proto, units, workdir)
    for proto, results in summaries.items():
        if args.direct and args.write_baseline:
            write_baseline(proto, results, all_units(src))
            report(proto, results, None, exclusions)
            print(f"wrote {baseline_path(proto).relative_to(ROOT)}")
        else:
            baseline = read_baseline(proto) if baseline_path(proto).exists() else None
            good = report(proto, results, baseline, exclusions) and good
    print(f"\ncompat: {time.monotonic() - started:.0f} s")
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
