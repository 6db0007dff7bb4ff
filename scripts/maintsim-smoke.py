#!/usr/bin/env python3
"""End-to-end smoke test of respite-maintsim through its CLI and HTTP API.

Starts the simulator (real redis-server backends), then with raw sockets checks: the local
opt-in answer, MOVING on bind while data survives the move, no pushes to RESP2 or to
connections that did not opt in, MIGRATED replay on a late opt-in, raw bytes between frames,
kill, and a failover that keeps the connection's database and name. Stops everything by PID.

Usage: scripts/maintsim-smoke.py [path/to/respite-maintsim]
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/respite-maintsim"


class Conn:
    """A raw RESP connection with a tiny RESP2/RESP3 reader (pushes returned as ('push', [...]))."""

    def __init__(self, host, port, timeout=5.0):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"+",):
            return rest.decode()
        if t == b"-":
            return Exception(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"_":
            return None
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if t in (b"*", b">", b"~"):
            n = int(rest)
            items = [self.read() for _ in range(n)] if n >= 0 else None
            return ("push", items) if t == b">" else items
        if t == b"%":
            n = int(rest)
            return {self.read(): self.read() for _ in range(n)}
        raise ValueError("unexpected %r" % line)

    def call(self, *args):
        """Sends one command; returns (reply, pushes seen before it)."""
        self.send(*args)
        pushes = []
        while True:
            v = self.read()
            if isinstance(v, tuple):
                pushes.append(v[1])
                continue
            return v, pushes

    def closed_within(self, seconds):
        self.s.settimeout(seconds)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def api(port, method, path, body=None, raw=False):
    data = None
    if body is not None:
        data = body if raw else json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def run_action(api_port, typ, params, timeout=20):
    aid = api(api_port, "POST", "/action", {"type": typ, "parameters": params})["action_id"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = api(api_port, "GET", "/action/" + aid)
        if st["status"] in ("success", "failed"):
            return st
        time.sleep(0.05)
    raise AssertionError("action %s did not finish: %s" % (aid, st))


def start_action(api_port, typ, params):
    return api(api_port, "POST", "/action", {"type": typ, "parameters": params})["action_id"]


def wait_action(api_port, aid, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = api(api_port, "GET", "/action/" + aid)
        if st["status"] in ("success", "failed"):
            assert st["status"] == "success", st
            return st
        time.sleep(0.05)
    raise AssertionError("action %s did not finish" % aid)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok  ", what)


def main():
    proc = subprocess.Popen([BIN, "--port", "0", "--api-port", "0", "--seq-start", "100"],
                            stdout=subprocess.PIPE, text=True)
    try:
        ready = proc.stdout.readline().strip()
        check(ready.startswith("READY "), "READY line: " + ready)
        fields = dict(kv.split("=", 1) for kv in ready.split()[1:])
        port, api_port = int(fields["port"]), int(fields["api"])
        backend_pids = [b["pid"] for b in api(api_port, "GET", "/status")["backends"]]

        a = Conn("127.0.0.1", port)
        check(a.call("HELLO", "3")[0]["proto"] == 3, "RESP3 negotiated")
        check(a.call("client", "maint_notifications", "on", "moving-endpoint-type", "external-ip")[0] == "OK",
              "opt-in answered +OK locally")
        b = Conn("127.0.0.1", port)
        check(b.call("CLIENT", "MAINT_NOTIFICATIONS", "ON")[0] == "OK", "RESP2 opt-in answered +OK")
        c = Conn("127.0.0.1", port)
        c.call("HELLO", "3")
        bad = a.call("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "bogus")[0]
        check(isinstance(bad, Exception), "unknown endpoint type refused")
        check(a.call("SET", "before", "1")[0] == "OK", "write before bind")

        aid = start_action(api_port, "bind", {"time": 2, "new_port": True})
        a.s.settimeout(8)
        push = a.read()
        check(isinstance(push, tuple) and push[1][0] == "MOVING" and push[1][1] == 100,
              "MOVING seq 100 pushed: %r" % (push,))
        host, _, nport = push[1][3].rpartition(":")
        d = Conn(host, int(nport))
        d.call("HELLO", "3")
        check(d.call("SET", "after", "2")[0] == "OK", "write on the new endpoint during the window")
        check(d.call("GET", "before")[0] == "1", "data written before is visible at the new endpoint")
        wait_action(api_port, aid)
        check(a.closed_within(3) and b.closed_within(3) and c.closed_within(3),
              "old connections closed after the window (opted in or not)")
        check(d.call("GET", "after")[0] == "2", "moved connection keeps working after the window")
        e = Conn("127.0.0.1", port)
        check(e.call("GET", "before")[0] == "1" and e.call("GET", "after")[0] == "2",
              "both keys on the final backend via the original port")

        st = run_action(api_port, "migrate", {"time": 1, "duration_ms": 200})
        check(st["status"] == "success", "migrate action")
        f = Conn("127.0.0.1", port)
        f.call("HELLO", "3")
        f.send("CLIENT", "MAINT_NOTIFICATIONS", "ON")
        check(f.read() == "OK", "late opt-in +OK")
        rep = f.read()
        check(isinstance(rep, tuple) and rep[1][0] == "MIGRATED", "MIGRATED replayed on late opt-in: %r" % (rep,))

        for i in range(50):
            f.send("SET", "k%d" % i, "x" * 1000)
        res = api(api_port, "POST", "/send-to-all-clients?encoding=raw",
                  b">2\r\n$4\r\nTEST\r\n:7\r\n", raw=True)
        check(len(res["results"]) >= 1, "raw sent to connections")
        replies, pushes = 0, 0
        while replies < 50:
            v = f.read()
            if isinstance(v, tuple):
                pushes += 1
            else:
                replies += 1
        check(pushes == 1, "raw frame landed between whole frames")

        g = Conn("127.0.0.1", port)
        g.call("HELLO", "3")
        g.call("SELECT", "2")
        g.call("CLIENT", "SETNAME", "smoke")
        g.call("CLIENT", "MAINT_NOTIFICATIONS", "ON")  # gets MIGRATED replay
        g.read()
        g.call("SET", "db2key", "v")
        aid = start_action(api_port, "failover", {"time": 1})
        g.s.settimeout(10)
        kinds = []
        while "FAILED_OVER" not in kinds:
            v = g.read()
            if isinstance(v, tuple):
                kinds.append(v[1][0])
        check(kinds == ["FAILING_OVER", "FAILED_OVER"], "FAILING_OVER then FAILED_OVER")
        wait_action(api_port, aid)
        check(g.call("GET", "db2key")[0] == "v", "database kept across the failover")
        check(g.call("CLIENT", "GETNAME")[0] == "smoke", "client name kept across the failover")

        st = run_action(api_port, "kill", {})
        check(g.closed_within(3), "kill drops connections")

        status = api(api_port, "GET", "/status")
        backend_pids += [b["pid"] for b in status["backends"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in set(backend_pids):
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        check(not alive, "backend pid %d stopped" % pid)
    check(proc.returncode == 0, "simulator exited cleanly")


if __name__ == "__main__":
    main()
