"""Process and protocol helpers for the black-box suite: start redis-server and
Respite on free loopback ports, and talk RESP2/RESP3 over raw sockets."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESPITE_BIN = os.environ.get("RESPITE_BIN", os.path.join(REPO, ".build", "release", "respite"))
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"
DIRECT = os.environ.get("RESPITE_TARGET", "") == "direct"

START_DEADLINE = 10.0
STOP_DEADLINE = 5.0
# How long a stopped process may take before a second SIGTERM (Respite: ends its drain at once).
DRAIN_WAIT = 2.0


def raise_fd_limit() -> None:
    """Raise the soft fd limit to the hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Abort(Exception):
    """Raised inside a polled condition to stop waiting at once."""


def wait_until(cond: Callable[[], object], deadline: float, what: str, interval: float = 0.02):
    """Poll cond() until it returns a truthy value or the deadline (seconds) passes."""
    end = time.monotonic() + deadline
    last_exc = None
    tries = 0
    while True:
        tries += 1
        try:
            value = cond()
            if value:
                return value
        except Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - polled conditions may fail until ready
            last_exc = exc
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {deadline}s ({tries} tries) waiting for {what}; last error: {last_exc!r}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# RESP encoding and a frame reader
# ---------------------------------------------------------------------------

def _b(x) -> bytes:
    if isinstance(x, bytes):
        return x
    if isinstance(x, (bytearray, memoryview)):
        return bytes(x)
    return str(x).encode()


def cmd(*args) -> bytes:
    """Encode one command as a RESP multibulk request."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = _b(a)
        parts.append(b"$%d\r\n" % len(a))
        parts.append(a)
        parts.append(b"\r\n")
    return b"".join(parts)


class Status(str):
    """A RESP simple string (+...)."""


class Error(str):
    """A RESP error (-... or !...)."""


class Push(list):
    """A RESP3 push (>...)."""


class RespSet(list):
    """A RESP3 set (~...)."""


class RespMap(list):
    """A RESP3 map (%...), kept as a list of (key, value) pairs."""

    def keys(self):
        return [k for k, _ in self]

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default


@dataclass
class Verbatim:
    fmt: bytes
    text: bytes


class Incomplete(Exception):
    pass


class ProtocolViolation(Exception):
    pass


def _line(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    return buf[pos:end], end + 2


def parse_frame(buf: bytes, pos: int = 0):
    """Parse one RESP2/RESP3 frame starting at pos; return (value, next_pos).

    Raises Incomplete when buf does not yet hold a whole frame. Attributes (|)
    are parsed and dropped; the following frame is returned.
    """
    if pos >= len(buf):
        raise Incomplete
    t = buf[pos:pos + 1]
    line, nxt = _line(buf, pos + 1)
    if t == b"+":
        return Status(line.decode("utf-8", "replace")), nxt
    if t == b"-":
        return Error(line.decode("utf-8", "replace")), nxt
    if t == b":":
        return int(line), nxt
    if t == b"(":
        return int(line), nxt
    if t == b",":
        s = line.decode()
        return float(s.replace("inf", "inf")), nxt
    if t == b"#":
        if line not in (b"t", b"f"):
            raise ProtocolViolation(f"bad boolean {line!r}")
        return line == b"t", nxt
    if t == b"_":
        if line != b"":
            raise ProtocolViolation(f"bad null {line!r}")
        return None, nxt
    if t in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            if t != b"$":
                raise ProtocolViolation("negative length on non-bulk")
            return None, nxt
        if len(buf) < nxt + n + 2:
            raise Incomplete
        data = buf[nxt:nxt + n]
        if buf[nxt + n:nxt + n + 2] != b"\r\n":
            raise ProtocolViolation("bulk not terminated by CRLF")
        end = nxt + n + 2
        if t == b"$":
            return data, end
        if t == b"!":
            return Error(data.decode("utf-8", "replace")), end
        return Verbatim(data[:3], data[4:]), end
    if t in (b"*", b">", b"~", b"%", b"|"):
        n = int(line)
        if n < 0:
            if t != b"*":
                raise ProtocolViolation("negative length on non-array aggregate")
            return None, nxt
        count = n * 2 if t in (b"%", b"|") else n
        items = []
        p = nxt
        for _ in range(count):
            v, p = parse_frame(buf, p)
            items.append(v)
        if t == b"|":
            return parse_frame(buf, p)
        if t == b"*":
            return items, p
        if t == b">":
            return Push(items), p
        if t == b"~":
            return RespSet(items), p
        return RespMap(list(zip(items[0::2], items[1::2]))), p
    raise ProtocolViolation(f"unknown RESP type byte {t!r} at {pos}: {buf[pos:pos + 40]!r}")


class Conn:
    """A raw RESP connection: send bytes, read exactly one frame at a time."""

    def __init__(self, addr, timeout: float = 10.0):
        self.addr = addr
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.timeout = timeout
        self.buf = b""
        self.pos = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_cmd(self, *args) -> None:
        self.send(cmd(*args))

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no complete frame within {self.timeout}s; buffered {self.buf[self.pos:self.pos + 200]!r}")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError(f"no complete frame within {self.timeout}s; buffered {self.buf[self.pos:self.pos + 200]!r}")
        if not chunk:
            raise EOFError(f"connection closed; buffered {self.buf[self.pos:self.pos + 200]!r}")
        if self.pos:
            self.buf = self.buf[self.pos:]
            self.pos = 0
        self.buf += chunk

    def _next(self, timeout: Optional[float]):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(10_000_000):
            try:
                value, end = parse_frame(self.buf, self.pos)
                raw = self.buf[self.pos:end]
                self.pos = end
                return value, raw
            except Incomplete:
                self._fill(deadline)
        raise AssertionError("unreachable")

    def read_raw(self, timeout: Optional[float] = None) -> bytes:
        """The exact bytes of the next complete frame."""
        return self._next(timeout)[1]

    def read(self, timeout: Optional[float] = None):
        """The next complete frame, parsed."""
        return self._next(timeout)[0]

    def call(self, *args):
        self.send_cmd(*args)
        return self.read()

    def call_raw(self, *args) -> bytes:
        self.send_cmd(*args)
        return self.read_raw()

    def pending(self) -> bytes:
        return self.buf[self.pos:]

    def expect_no_frame(self, wait: float) -> None:
        """Assert nothing arrives within `wait` seconds (used only to prove silence)."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            chunk = None
        finally:
            self.sock.settimeout(self.timeout)
        if chunk is not None:
            raise AssertionError(f"unexpected data: {chunk[:200]!r}" if chunk else "unexpected close")
        assert not self.pending(), f"unexpected buffered data {self.pending()[:200]!r}"

    def wait_closed(self, deadline: float = 5.0) -> bytes:
        """Read until EOF (bounded); return the bytes that came before it."""
        rest = self.pending()
        self.buf, self.pos = b"", 0
        end = time.monotonic() + deadline
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"connection not closed within {deadline}s; got {rest[:200]!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return rest
            if not chunk:
                return rest
            rest += chunk
            if len(rest) > 1 << 20:
                raise AssertionError("too much data while waiting for close")


def hello3(conn: Conn) -> None:
    """Switch a raw connection to RESP3 and check the reply is a map."""
    reply = conn.call("HELLO", "3")
    assert isinstance(reply, RespMap), f"HELLO 3 gave {reply!r}"


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

@dataclass
class Endpoint:
    """Where a client connects: host/port and an optional unix socket path."""
    host: str
    port: int
    unixsocket: Optional[str] = None
    process: Optional["Proc"] = None

    @property
    def addr(self):
        return (self.host, self.port)

    def conn(self, timeout: float = 10.0) -> Conn:
        return Conn(self.addr, timeout)


@dataclass
class Proc:
    """A child process with its stderr/stdout captured to a log file."""
    name: str
    argv: list
    workdir: str
    log_path: str
    popen: Optional[subprocess.Popen] = None
    port: int = 0
    extra: dict = field(default_factory=dict)
    # Runs in the child before exec (e.g. to lower its RLIMIT_NOFILE).
    preexec: Optional[Callable[[], None]] = None
    # Variables added to the child's environment (e.g. NOTIFY_SOCKET).
    env: Optional[dict] = None

    def start(self) -> None:
        raise_fd_limit()
        self.logf = open(self.log_path, "ab")
        env = {**os.environ, **self.env} if self.env else None
        self.popen = subprocess.Popen(self.argv, stdout=self.logf, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, cwd=self.workdir, preexec_fn=self.preexec, env=env)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(STOP_DEADLINE if sig != signal.SIGTERM else DRAIN_WAIT)
            except subprocess.TimeoutExpired:
                # Respite drains clients still holding state (up to shutdown-timeout); a second
                # SIGTERM ends it at once, still through its own exit (sanitizers report there).
                try:
                    if sig == signal.SIGTERM:
                        os.kill(self.popen.pid, signal.SIGTERM)
                        self.popen.wait(STOP_DEADLINE)
                except subprocess.TimeoutExpired:
                    pass
                if self.popen.poll() is None:
                    os.kill(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(STOP_DEADLINE)
        try:
            self.logf.close()
        except Exception:  # noqa: BLE001
            pass

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def ping_ok(addr, password: Optional[str] = None, user: Optional[str] = None) -> bool:
    with Conn(addr, timeout=1.0) as c:
        if password is not None:
            if user:
                c.send_cmd("AUTH", user, password)
            else:
                c.send_cmd("AUTH", password)
            c.read()
        r = c.call("PING")
        return r == "PONG"


def can_connect(addr) -> bool:
    with Conn(addr, timeout=1.0):
        return True


class Procs:
    """Starts processes in a temp dir and stops them all (by PID) at cleanup."""

    def __init__(self, tag: str = "t"):
        self.dir = tempfile.mkdtemp(prefix=f"respite-{tag}-")
        self.procs: list[Proc] = []

    def redis(self, port: Optional[int] = None, args: tuple = (), wait: bool = True,
              password: Optional[str] = None, unixsocket: bool = False) -> Endpoint:
        port = port or free_port()
        sub = os.path.join(self.dir, f"redis-{port}-{len(self.procs)}")
        os.makedirs(sub, exist_ok=True)
        argv = [REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", sub, "--protected-mode", "no"]
        sock = None
        if unixsocket:
            sock = os.path.join(self.dir, f"redis-{port}.sock")
            argv += ["--unixsocket", sock, "--unixsocketperm", "700"]
        if password is not None:
            argv += ["--requirepass", password]
        argv += list(args)
        p = Proc("redis", argv, sub, os.path.join(sub, "redis.log"), port=port)
        p.start()
        self.procs.append(p)
        ep = Endpoint("127.0.0.1", port, sock, p)
        if wait:
            self._wait(p, lambda: ping_ok(ep.addr, password), f"redis-server on {port}")
        return ep

    def respite(self, upstream_port: int, args: tuple = (), wait: str = "ping",
                unixsocket: bool = False, password: Optional[str] = None,
                preexec: Optional[Callable[[], None]] = None, env: Optional[dict] = None) -> Endpoint:
        if not os.path.exists(RESPITE_BIN):
            raise FileNotFoundError(f"respite binary not found at {RESPITE_BIN} (set RESPITE_BIN)")
        port = free_port()
        sub = os.path.join(self.dir, f"respite-{port}")
        os.makedirs(sub, exist_ok=True)
        argv = [RESPITE_BIN, "--port", str(port), "--bind", "127.0.0.1",
                "--upstream", f"127.0.0.1:{upstream_port}"]
        sock = None
        if unixsocket:
            sock = os.path.join(self.dir, f"respite-{port}.sock")
            argv += ["--unixsocket", sock]
        if password is not None:
            argv += ["--requirepass", password]
        argv += list(args)
        p = Proc("respite", argv, sub, os.path.join(sub, "respite.log"), port=port, preexec=preexec, env=env)
        p.start()
        self.procs.append(p)
        ep = Endpoint("127.0.0.1", port, sock, p)
        if wait == "ping":
            self._wait(p, lambda: ping_ok(ep.addr, password), f"PING through respite on {port}")
        elif wait == "connect":
            self._wait(p, lambda: can_connect(ep.addr), f"respite accepting on {port}")
        return ep

    def _wait(self, p: Proc, cond, what: str) -> None:
        def check():
            if not p.alive():
                raise Abort(f"{p.name} exited with {p.popen.returncode}:\n{p.log_tail()}")
            return cond()
        try:
            wait_until(check, START_DEADLINE, what)
        except Exception:
            print(f"--- {p.name} log ({p.log_path}) ---\n{p.log_tail()}")
            raise

    def logs(self) -> str:
        out = []
        for p in self.procs:
            if p.name == "respite":
                out.append(f"--- respite pid {p.popen.pid if p.popen else '?'} argv {' '.join(p.argv)} ---\n{p.log_tail(80)}")
        return "\n".join(out)

    def stop_all(self) -> None:
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Target:
    """What a test talks to: `proxy` (Respite, or redis itself when direct) and
    `redis` (the redis-server behind it, always reachable directly)."""

    def __init__(self, proxy: Endpoint, redis: Endpoint):
        self.proxy = proxy
        self.redis = redis

    @property
    def respite(self) -> Optional[Proc]:
        return None if DIRECT else self.proxy.process


def make_target(procs: Procs, redis_args: tuple = (), respite_args: tuple = (),
                unixsocket: bool = False, password: Optional[str] = None) -> Target:
    """A redis-server plus Respite in front of it; in direct mode the proxy is redis itself.

    `password` is Respite's --requirepass (redis's own requirepass in direct mode).
    """
    if DIRECT:
        r = procs.redis(args=redis_args, unixsocket=unixsocket, password=password)
        return Target(r, r)
    r = procs.redis(args=redis_args)
    p = procs.respite(r.port, args=respite_args, unixsocket=unixsocket, password=password)
    return Target(p, r)
