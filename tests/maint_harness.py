"""Maintenance scenario harness: the simulator (respite-maintsim) in front of real redis-server
processes, Respite in front of the simulator, and a load of maintenance-unaware clients whose
every reply is recorded, so a test can say exactly what the clients saw."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Optional

from harness import RESPITE_BIN, Conn, Proc, Procs, cmd, wait_until

MAINTSIM_BIN = os.environ.get("RESPITE_MAINTSIM_BIN",
                              os.path.join(os.path.dirname(RESPITE_BIN), "respite-maintsim"))
DISTINCT_UNKNOWN = b"outcome is unknown"


class Simulator:
    """A running respite-maintsim: its client port, its fault-injector API, its backend."""

    def __init__(self, procs: Procs):
        if not os.path.exists(MAINTSIM_BIN):
            raise FileNotFoundError(f"respite-maintsim not found at {MAINTSIM_BIN}")
        sub = os.path.join(procs.dir, f"maintsim-{len(procs.procs)}")
        os.makedirs(sub, exist_ok=True)
        self.proc = Proc("maintsim", [MAINTSIM_BIN, "--port", "0", "--api-port", "0", "--workdir", sub],
                         sub, os.path.join(sub, "maintsim.log"))
        self.proc.start()
        procs.procs.append(self.proc)
        line = wait_until(lambda: self._ready_line(), 20.0, "respite-maintsim READY")
        fields = dict(kv.split("=", 1) for kv in line.split()[1:])
        self.port = int(fields["port"])
        self.api = int(fields["api"])

    def _ready_line(self) -> Optional[str]:
        if not self.proc.alive():
            raise AssertionError(f"respite-maintsim exited:\n{self.proc.log_tail()}")
        for line in self.proc.log().splitlines():
            if line.startswith("READY "):
                return line
        return None

    def _http(self, method: str, path: str, body: Optional[bytes] = None) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.api}{path}", data=body, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def status(self) -> dict:
        return self._http("GET", "/status")

    def backend(self) -> tuple[str, int]:
        host, port = self.status()["backend"].rsplit(":", 1)
        return host, int(port)

    def action(self, kind: str, deadline: float = 30.0, query: str = "", body: Optional[bytes] = None,
               **parameters) -> dict:
        """Runs an action and waits (bounded) until it has finished; returns its record."""
        if body is None:
            body = json.dumps({"type": kind, "parameters": parameters}).encode()
            path = "/action" + (f"?{query}" if query else "")
        else:
            path = f"/action?type={kind}" + (f"&{query}" if query else "")
        aid = self._http("POST", path, body)["action_id"]
        rec = wait_until(lambda: self._finished(aid), deadline, f"{kind} action to finish")
        assert rec["status"] == "success", f"{kind} action failed: {rec}"
        return rec

    def _finished(self, aid: str):
        rec = self._http("GET", f"/action/{aid}")
        return rec if rec.get("status") in ("success", "failed") else None


@dataclass
class Outcome:
    """What one client saw."""
    name: str
    errors: list = field(default_factory=list)
    unknown: list = field(default_factory=list)   # the distinct "outcome is unknown" errors
    acked_keys: list = field(default_factory=list)
    acked_incr: int = 0
    max_gap: float = 0.0
    replies: int = 0
    extra: dict = field(default_factory=dict)


class Load:
    """Maintenance-unaware clients doing INCRs and SETs of unique keys through Respite, plus one
    in MULTI/EXEC, one blocked in BLPOP (with a producer), and one subscriber (with a publisher)."""

    def __init__(self, addr, prefix: str):
        self.addr = addr
        self.prefix = prefix
        self.stop = threading.Event()
        self.outcomes: list[Outcome] = []
        self.threads: list[threading.Thread] = []
        self.published: list[int] = []
        self.produced: list[bytes] = []

    def start(self) -> None:
        plan = [("resp2", self._setter, 2), ("resp3", self._setter, 3),
                ("resp2-pipelined", self._pipeliner, 2), ("resp3-pipelined", self._pipeliner, 3),
                ("multi-exec", self._transactor, 2), ("blpop", self._blocker, 2),
                ("producer", self._producer, 2), ("subscriber", self._subscriber, 2),
                ("publisher", self._publisher, 3)]
        for name, fn, proto in plan:
            o = Outcome(name)
            self.outcomes.append(o)
            t = threading.Thread(target=self._guard, args=(fn, o, proto), daemon=True)
            self.threads.append(t)
        for t in self.threads:
            t.start()
        # Every client is up and has been answered before the scenario starts.
        wait_until(lambda: all(o.replies > 0 or o.errors for o in self.outcomes), 10.0, "every client answered")

    def wait_progress(self, replies: int = 20, deadline: float = 15.0) -> None:
        """Waits until every client has had `replies` more replies than now (or has stopped with an
        error, which the scenario's checks then report): each one has run on past whatever the
        scenario just did."""
        start = {o.name: o.replies for o in self.outcomes}
        ran_on = self.outcomes
        try:
            wait_until(lambda: all(o.replies >= start[o.name] + replies or o.errors for o in ran_on),
                       deadline, f"every client to get {replies} more replies")
        except TimeoutError as e:
            behind = {o.name: o.replies - start[o.name] for o in ran_on
                      if o.replies < start[o.name] + replies and not o.errors}
            raise TimeoutError(f"{e}; replies since, of those behind: {behind}") from None

    def finish(self, deadline: float = 15.0) -> list[Outcome]:
        self.stop.set()
        end = time.monotonic() + deadline
        for t in self.threads:
            t.join(max(0.1, end - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), "a client did not stop"
        return self.outcomes

    def outcome(self, name: str) -> Outcome:
        return next(o for o in self.outcomes if o.name == name)

    # -- clients ---------------------------------------------------------------------------

    def _guard(self, fn, o: Outcome, proto: int) -> None:
        try:
            with Conn(self.addr, timeout=20.0) as c:
                if proto == 3:
                    c.call("HELLO", "3")
                fn(c, o)
        except Exception as e:  # noqa: BLE001 - a dropped or stuck connection is an error seen
            o.errors.append(f"{type(e).__name__}: {e}")

    def _reply(self, c: Conn, o: Outcome, last: list) -> bytes:
        raw = c.read_raw()
        now = time.monotonic()
        o.max_gap = max(o.max_gap, now - last[0])
        last[0] = now
        o.replies += 1
        if raw.startswith(b"-") or raw.startswith(b"!"):
            (o.unknown if DISTINCT_UNKNOWN in raw else o.errors).append(raw)
        return raw

    def _setter(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        counter = f"{self.prefix}:{o.name}:n"
        for i in range(10_000_000):
            if self.stop.is_set():
                return
            key = f"{self.prefix}:{o.name}:{i}"
            c.send_cmd("SET", key, "v")
            if self._reply(c, o, last) == b"+OK\r\n":
                o.acked_keys.append(key)
            c.send_cmd("INCR", counter)
            if self._reply(c, o, last).startswith(b":"):
                o.acked_incr += 1

    def _pipeliner(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        counter = f"{self.prefix}:{o.name}:n"
        for i in range(10_000_000):
            if self.stop.is_set():
                return
            keys = [f"{self.prefix}:{o.name}:{i}:{j}" for j in range(10)]
            c.send(b"".join(cmd("SET", k, "v") for k in keys) + cmd("INCR", counter))
            for k in keys:
                if self._reply(c, o, last) == b"+OK\r\n":
                    o.acked_keys.append(k)
            if self._reply(c, o, last).startswith(b":"):
                o.acked_incr += 1

    def _transactor(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        counter = f"{self.prefix}:{o.name}:n"
        for i in range(10_000_000):
            if self.stop.is_set():
                return
            key = f"{self.prefix}:{o.name}:{i}"
            c.send(cmd("MULTI") + cmd("INCR", counter) + cmd("SET", key, "v") + cmd("EXEC"))
            replies = [self._reply(c, o, last) for _ in range(4)]
            if replies[3].startswith(b"*2\r\n:") and replies[3].endswith(b"+OK\r\n"):
                o.acked_incr += 1
                o.acked_keys.append(key)

    def _blocker(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        popped = o.extra.setdefault("popped", [])
        queue = f"{self.prefix}:queue"
        while not self.stop.is_set():
            c.send_cmd("BLPOP", queue, "0.1")
            raw = self._reply(c, o, last)
            if raw.startswith(b"*2\r\n"):
                popped.append(raw.split(b"\r\n")[-2])
        o.max_gap = 0.0  # a blocked client waits by design; its stall is not a latency

    def _producer(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        queue = f"{self.prefix}:queue"
        for i in range(10_000_000):
            if self.stop.is_set():
                return
            value = f"item-{i}"
            c.send_cmd("LPUSH", queue, value)
            if self._reply(c, o, last).startswith(b":"):
                self.produced.append(value.encode())
            time.sleep(0.005)  # pacing only: a few hundred items per second

    def _subscriber(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        got = o.extra.setdefault("received", [])
        c.send_cmd("SUBSCRIBE", f"{self.prefix}:ch")
        self._reply(c, o, last)
        while not self.stop.is_set():
            try:
                raw = c.read_raw(timeout=0.2)
            except (TimeoutError, socket.timeout):
                continue
            o.replies += 1
            if raw.startswith(b"-"):
                o.errors.append(raw)
            elif b"message" in raw:
                got.append(int(raw.split(b"\r\n")[-2]))
        o.max_gap = 0.0

    def _publisher(self, c: Conn, o: Outcome) -> None:
        last = [time.monotonic()]
        for i in range(10_000_000):
            if self.stop.is_set():
                return
            c.send_cmd("PUBLISH", f"{self.prefix}:ch", str(i))
            raw = self._reply(c, o, last)
            if raw.startswith(b":") and raw != b":0\r\n":
                self.published.append(i)
            time.sleep(0.005)


def backend_check(sim: Simulator, load: Load) -> dict:
    """Checks on the simulator's final backend that every acknowledged write is there."""
    return check_writes(sim.backend(), load)


def check_writes(addr, load: Load, auth: Optional[tuple] = None) -> dict:
    """Checks on the server at `addr` that every acknowledged write is there."""
    missing = []
    counters = {}
    with Conn(addr, timeout=20.0) as d:
        if auth:
            d.call("AUTH", *auth)
        for o in load.outcomes:
            keys = o.acked_keys
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                d.send(b"".join(cmd("EXISTS", k) for k in chunk))
                for k in chunk:
                    if d.read_raw() != b":1\r\n":
                        missing.append(k)
            if o.name in ("resp2", "resp3", "resp2-pipelined", "resp3-pipelined", "multi-exec"):
                raw = d.call_raw("GET", f"{load.prefix}:{o.name}:n")
                counters[o.name] = int(raw.split(b"\r\n")[1]) if raw.startswith(b"$") and raw != b"$-1\r\n" else 0
        left = d.call("LRANGE", f"{load.prefix}:queue", "0", "-1")
    return {"missing": missing, "counters": counters, "queue_left": left or []}
