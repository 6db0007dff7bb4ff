"""The soak's well-behaved clients: a redis-py pool (RESP2 and RESP3, steady and churning) doing
SET/GET/INCR, pipelines and MULTI/EXEC; raw pipeliners of INCRs; a publisher and a subscriber; a
producer and a BLPOP consumer; and respite-load runs. Every acknowledged write is recorded so
the end of the soak can check it on the redis-server that holds the data; every error, and every
reply slower than the stall limit, is recorded with its time."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness import Conn, Push, cmd, hello3

MAXCLIENTS_TEXT = "max number of clients reached"


@dataclass
class Ledger:
    """What the well-behaved clients saw, with times (seconds since the soak started)."""
    t0: float
    stall_ms: float
    errors: list = field(default_factory=list)        # (t, who, text)
    stalls: list = field(default_factory=list)        # (t, who, ms) for replies slower than stall_ms
    refused: list = field(default_factory=list)       # (t, who): refused at maxclients during a burst
    max_ms: float = 0.0
    ops: int = 0

    def __post_init__(self):
        self.lock = threading.Lock()
        self.burst_until = 0.0    # monotonic time until which a maxclients refusal is expected

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def error(self, who: str, text: str, t: float | None = None) -> None:
        """Records an error at `t`, the time the failed operation started (default: now)."""
        with self.lock:
            self.errors.append((self.now() if t is None else t, who, text[:300]))

    def took(self, who: str, seconds: float, ops: int = 1) -> None:
        ms = seconds * 1000
        with self.lock:
            self.ops += ops
            self.max_ms = max(self.max_ms, ms)
            if ms > self.stall_ms:
                self.stalls.append((round(self.now() - seconds, 3), who, round(ms, 1)))

    def burst_expected(self) -> bool:
        return time.monotonic() < self.burst_until


class Ranges:
    """Inclusive ranges of acknowledged sequence numbers, as respite-load reports them."""

    def __init__(self):
        self.ranges: list[list[int]] = []

    def add(self, n: int) -> None:
        if self.ranges and self.ranges[-1][1] == n - 1:
            self.ranges[-1][1] = n
        else:
            self.ranges.append([n, n])

    def count(self) -> int:
        return sum(b - a + 1 for a, b in self.ranges)


class Worker(threading.Thread):
    """A redis-py client doing cycles of SET, GET, INCR, a pipeline and a MULTI/EXEC at `rate`
    cycles per second. Steady workers keep one connection; churning ones connect for two cycles,
    leave, and come back."""

    def __init__(self, name: str, addr, proto: int, churn: bool, rate: float, ledger: Ledger,
                 stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.addr, self.proto, self.churn, self.rate = addr, proto, churn, rate
        self.ledger, self.stop_ev = ledger, stop
        self.prefix = f"soak:{name}"
        self.counter = f"{self.prefix}:counter"
        self.acked = Ranges()
        self.n = 0
        self.incr_acked = self.incr_unknown = self.incr_last = 0
        self.connects = 0

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.addr[0], port=self.addr[1], protocol=self.proto, socket_timeout=10,
                           socket_connect_timeout=10, retry=Retry(NoBackoff(), 0),
                           single_connection_client=True)

    def run(self) -> None:
        r = None
        next_at = time.monotonic()
        for _ in range(100_000_000):
            if self.stop_ev.is_set():
                break
            t_op = self.ledger.now()
            fresh = r is None
            try:
                if r is None:
                    r = self.client()
                    self.connects += 1
                self.cycle(r)
                if self.churn and self.n % 2 == 0:
                    r.close()
                    r = None
            except Exception as e:  # noqa: BLE001 - every failure a client sees is recorded
                text = f"{type(e).__name__}: {e}"
                # Refused at maxclients: Redis's error, or, when the client wrote its first
                # command before reading it, the close that follows it (as against Redis).
                refused = MAXCLIENTS_TEXT in text or (fresh and ("Broken pipe" in text or "reset by peer" in text))
                if refused and self.ledger.burst_expected():
                    self.ledger.refused.append((self.ledger.now(), self.name))
                else:
                    self.ledger.error(self.name, text, t_op)
                if r is not None:
                    r.close()
                r = None
            next_at = max(next_at + 1.0 / self.rate, time.monotonic() - 1.0)
            self.stop_ev.wait(max(0.0, next_at - time.monotonic()))
        if r is not None:
            r.close()

    def _set(self, r, pipe=None):
        n = self.n
        self.n += 1
        key = f"{self.prefix}:{n}"
        (pipe or r).set(key, key)
        return n, key

    def _incr_result(self, v) -> None:
        if isinstance(v, int):
            self.incr_acked += 1
            self.incr_last = max(self.incr_last, v)
        else:
            self.incr_unknown += 1
            self.ledger.error(self.name, f"INCR gave {v!r}")

    def cycle(self, r: redis.Redis) -> None:
        t = time.monotonic()
        n, key = self.n, f"{self.prefix}:{self.n}"
        self.n += 1
        if r.set(key, key) is True:
            self.acked.add(n)
        else:
            self.ledger.error(self.name, f"SET {key} not acknowledged")
        got = r.get(key)
        if got != key.encode():
            self.ledger.error(self.name, f"GET {key} gave {got!r}")
        self.incr_unknown += 1
        v = r.incr(self.counter)
        self.incr_unknown -= 1
        self._incr_result(v)
        for transaction in (False, True):
            pipe = r.pipeline(transaction=transaction)
            sets = [self._set(r, pipe) for _ in range(3 if not transaction else 1)]
            pipe.incr(self.counter)
            self.incr_unknown += 1
            res = pipe.execute()
            self.incr_unknown -= 1
            for (n2, k2), ok in zip(sets, res):
                if ok is True:
                    self.acked.add(n2)
                else:
                    self.ledger.error(self.name, f"pipelined SET {k2} gave {ok!r}")
            self._incr_result(res[-1])
        self.ledger.took(self.name, time.monotonic() - t, 10)

    def record(self) -> dict:
        """The acknowledged writes in respite-load's report shape, for the same checker."""
        return {"key_prefix": "soak", "per_client": [{
            "client": self.name, "set_acked": self.acked.ranges, "incr_key": self.counter,
            "incr_acked": self.incr_acked, "incr_unknown": self.incr_unknown, "incr_last": self.incr_last}]}


class RawLoop(threading.Thread):
    """A raw-socket client with one job per step; reconnects after a failure (which is recorded)."""

    def __init__(self, name: str, addr, proto: int, ledger: Ledger, stop: threading.Event, period: float):
        super().__init__(name=name, daemon=True)
        self.addr, self.proto, self.ledger, self.stop_ev, self.period = addr, proto, ledger, stop, period

    def connect(self) -> Conn:
        c = Conn(self.addr, timeout=10.0)
        if self.proto == 3:
            hello3(c)
        return c

    def run(self) -> None:
        c = None
        for _ in range(100_000_000):
            if self.stop_ev.is_set():
                break
            t_op = self.ledger.now()
            try:
                if c is None:
                    c = self.connect()
                    self.setup(c)
                self.step(c)
            except Exception as e:  # noqa: BLE001
                self.ledger.error(self.name, f"{type(e).__name__}: {e}", t_op)
                if c is not None:
                    c.close()
                c = None
            self.stop_ev.wait(self.period)
        if c is not None:
            c.close()

    def setup(self, c: Conn) -> None:
        pass


class Pipeliner(RawLoop):
    """Batches of 100 pipelined INCRs on one counter: the client a broken shared connection hurts
    first (each lost reply is an outcome-unknown error)."""
    BATCH = 100

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.counter = f"soak:{self.name}:counter"
        self.acked = self.unknown = self.last = 0

    def step(self, c: Conn) -> None:
        t = time.monotonic()
        c.send(cmd("INCR", self.counter) * self.BATCH)
        self.unknown += self.BATCH
        for _ in range(self.BATCH):
            v = c.read()
            self.unknown -= 1
            if not isinstance(v, int):
                raise AssertionError(f"INCR gave {v!r}")
            self.acked += 1
            self.last = max(self.last, v)
        self.ledger.took(self.name, time.monotonic() - t, self.BATCH)

    def record(self) -> dict:
        return {"key_prefix": "", "per_client": [{"client": "", "set_acked": [], "incr_key": self.counter,
                "incr_acked": self.acked, "incr_unknown": self.unknown, "incr_last": self.last}]}


class Publisher(RawLoop):
    """PUBLISH soak:chan <seq>; remembers which messages reached a subscriber (reply >= 1)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seq = 0
        self.delivered: list[int] = []
        self.unreceived = 0

    def step(self, c: Conn) -> None:
        t = time.monotonic()
        self.seq += 1
        v = c.call("PUBLISH", "soak:chan", str(self.seq))
        if not isinstance(v, int):
            raise AssertionError(f"PUBLISH gave {v!r}")
        (self.delivered.append(self.seq) if v >= 1 else None)
        self.unreceived += v < 1
        self.ledger.took(self.name, time.monotonic() - t)


class Subscriber(RawLoop):
    """SUBSCRIBE soak:chan; every frame must be one of its messages, in order, none twice."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.received: set[int] = set()
        self.last = 0

    def setup(self, c: Conn) -> None:
        c.send_cmd("SUBSCRIBE", "soak:chan")
        v = c.read()
        if list(v)[:2] != [b"subscribe", b"soak:chan"]:
            raise AssertionError(f"SUBSCRIBE gave {v!r}")

    def step(self, c: Conn) -> None:
        for _ in range(1000):
            try:
                v = c.read(timeout=0.2)
            except TimeoutError:
                return
            items = list(v) if isinstance(v, (list, Push)) else None
            if not items or items[:2] != [b"message", b"soak:chan"] or len(items) != 3:
                raise AssertionError(f"subscriber got a frame that is not its message: {v!r}"[:300])
            seq = int(items[2])
            if seq <= self.last:
                raise AssertionError(f"message {seq} after {self.last}")
            self.last = seq
            self.received.add(seq)


class Producer(RawLoop):
    """RPUSH soak:queue <seq>: acknowledged items must each reach the consumer or stay queued."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.seq = 0
        self.acked: list[int] = []

    def step(self, c: Conn) -> None:
        t = time.monotonic()
        self.seq += 1
        v = c.call("RPUSH", "soak:queue", str(self.seq))
        if not isinstance(v, int):
            raise AssertionError(f"RPUSH gave {v!r}")
        self.acked.append(self.seq)
        self.ledger.took(self.name, time.monotonic() - t)


class Consumer(RawLoop):
    """BLPOP soak:queue 1 in a loop (a pinned, blocking session); items arrive in order."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.got: list[int] = []

    def step(self, c: Conn) -> None:
        for _ in range(50):
            v = c.call("BLPOP", "soak:queue", "1")
            if v is None:
                return
            seq = int(v[1])
            if self.got and seq <= self.got[-1]:
                raise AssertionError(f"queue item {seq} after {self.got[-1]}")
            self.got.append(seq)


class LoadRuns(threading.Thread):
    """respite-load through Respite every `period` seconds, a fixed number of requests each (so the
    keys to check stay bounded in an hour-long soak), alternating basic RESP2 and advanced
    (cycling clients: churn) RESP3. Holds `gate` while a run lasts (the connection burst waits)."""

    def __init__(self, binary: str, port: int, workdir, requests: int, period: float, ledger: Ledger,
                 stop: threading.Event, gate: threading.Lock):
        super().__init__(name="respite-load", daemon=True)
        self.binary, self.port, self.workdir, self.requests = binary, port, workdir, requests
        self.period, self.ledger, self.stop_ev, self.gate = period, ledger, stop, gate
        self.reports: list[str] = []
        self.runs = 0

    def run(self) -> None:
        plans = [("basic", 2, 1, 4), ("advanced", 3, 4, 4)]
        for i in range(1_000_000):
            if self.stop_ev.wait(0 if i == 0 else self.period) or self.stop_ev.is_set():
                return
            mode, resp, pipeline, clients = plans[i % 2]
            out = self.workdir / f"load-{i}.json"
            argv = [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--mode", mode,
                    "--clients", str(clients), "--pipeline", str(pipeline), "--resp", str(resp),
                    "--requests", str(self.requests), "--timeout-ms", "10000",
                    "--key-prefix", f"soak-load-{i}", "--json", str(out), "--quiet"]
            with self.gate:
                t = self.ledger.now()
                with open(self.workdir / f"load-{i}.out", "wb") as log:
                    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
                    try:
                        p.wait(timeout=120)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(10)
                        self.ledger.error(self.name, f"respite-load run {i} did not end within 120 s")
            self.runs += 1
            if not out.exists():
                self.ledger.error(self.name, f"respite-load run {i} wrote no report (exit {p.returncode})")
                continue
            self.reports.append(str(out))
            self._judge(i, t, out)

    def _judge(self, i: int, t: float, out) -> None:
        import json
        r = json.loads(out.read_text())
        bad = r["failed"] + r["timeouts"] + r["connection_errors"] + r["abandoned"] + r["unexpected_replies"]
        self.ledger.took(self.name, r["stall_us"]["client_max"] / 1e6, r["ok"])
        if bad or not r["consistent"]:
            with self.ledger.lock:
                self.ledger.errors.append((t, f"respite-load-{i}", f"{bad} errors: {r.get('failures')}, "
                                           f"timeouts {r['timeouts']}, connection errors {r['connection_errors']}"))


def start_pool(addr, ledger: Ledger, stop: threading.Event, stop_readers: threading.Event,
               rate: float) -> list[threading.Thread]:
    """The Python clients: 4 steady and 4 churning redis-py workers (half RESP2, half RESP3), two
    pipeliners, a publisher/subscriber pair and a producer/consumer pair."""
    threads: list[threading.Thread] = []
    for i in range(8):
        threads.append(Worker(f"py{i}-{'churn' if i >= 4 else 'steady'}-resp{2 + i % 2}", addr, 2 + i % 2,
                              i >= 4, rate, ledger, stop))
    threads += [Pipeliner("pipe-resp2", addr, 2, ledger, stop, 0.1),
                Pipeliner("pipe-resp3", addr, 3, ledger, stop, 0.1),
                Subscriber("subscriber", addr, 3, ledger, stop_readers, 0.0),
                Publisher("publisher", addr, 2, ledger, stop, 0.02),
                Consumer("consumer", addr, 2, ledger, stop_readers, 0.0),
                Producer("producer", addr, 3, ledger, stop, 0.02)]
    for t in threads:
        t.start()
    return threads
